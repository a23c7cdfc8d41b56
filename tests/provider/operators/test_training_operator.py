"""TrainModelOperator: a module file's text reaches the spec exactly as written, never rendered."""

from __future__ import annotations

from airflow.sdk import DAG

from airflow_mlops.provider.operators import TrainModelOperator

SOURCE = 'LABELS = {"{{ ds }}": 1}  # {% not a tag %}\n\n\ndef build_model(context): ...\n'


def test_the_module_source_is_not_a_template():
    with DAG("t"):
        op = TrainModelOperator(
            task_id="train", pipeline="p", artifact_root="file:///tmp/x",
            component_params={"label": "y", "module": "model.py", "module_source": SOURCE, "epochs": "{{ params.epochs }}"},
        )
    assert "module_source" not in op.component_params
    op.render_template_fields({"params": {"epochs": 3}, "ds": "2026-01-01"})
    params = op.checked_params()
    assert params["module_source"] == SOURCE  # the "{{", the "{%" and the last newline are intact
    assert params["epochs"] == 3 and params["module"] == "model.py"


def tune_record(root: str, fingerprint: str, ended_at: str, values: dict, status: str = "succeeded"):
    from airflow_mlops.artifacts import ArtifactStore
    from airflow_mlops.contract import ArtifactRef, ExecutionRecord, RunInfo, Status, join_uri

    execution = join_uri(root, "p", "tune", fingerprint)
    out = ArtifactRef("hyperparameters", "HyperParameters", join_uri(execution, "out"), "tune", fingerprint,
                      join_uri(execution, "execution.json"), {"values": values})
    record = ExecutionRecord("tune", "p", "c", fingerprint, Status(status), {}, {}, {"hyperparameters": out}, {"trials": 3},
                             ended_at, ended_at, 1.0, "h", "local", RunInfo(dag_id="p_training", run_id=f"run-{fingerprint}"))
    ArtifactStore().write_record(execution, record)


def test_the_switch_off_reuses_the_newest_tuning_result_without_running(tmp_path):
    from airflow_mlops.provider.operators import TuneHyperparametersOperator

    root = f"file://{tmp_path}"
    with DAG("t"):
        op = TuneHyperparametersOperator(task_id="tune", pipeline="p", artifact_root=root, search="{{ params.tune }}",
                                         component_params={"label": "y"})
    assert op.last_result() is None  # nothing tuned yet: it would search
    tune_record(root, "aaa", "2026-11-01T00:00:00+00:00", {"learning_rate": 0.01})
    tune_record(root, "bbb", "2026-11-20T00:00:00+00:00", {"learning_rate": 0.05})
    tune_record(root, "ccc", "2026-11-24T00:00:00+00:00", {"learning_rate": 0.09}, status="failed")
    op.render_template_fields({"params": {"tune": False}})
    assert op.search == "False"
    result = op.execute({})  # no launch: the newest succeeded result is this task's result
    assert result["fingerprint"] == "bbb" and result["reused"] and result["cache_hit"]
    assert result["outputs"]["hyperparameters"]["properties"]["values"] == {"learning_rate": 0.05}
