"""ComponentOperator: spec, launch, and how the component's outcome becomes the task's outcome.

The runtime is replaced by a small stand-in interpreter that does what a component would do at
the contract boundary (write result.json or error.json, exit with a code); the real component
CLI is exercised by the DAG tests.
"""

from __future__ import annotations

import json
import stat
import sys
from types import SimpleNamespace

import pytest

from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.contract import ArtifactRef, ComponentSpec, ExecutionRecord, Status
from airflow_mlops.provider.compat import AirflowException, AirflowFailException
from airflow_mlops.provider.operators import ComponentOperator, ComponentOutput, IngestDataOperator

REF = ArtifactRef("examples", "Examples", "file:///a/examples", "ingest", "f1", "file:///a/execution.json", {"rows": 3})

STAND_IN = f"""#!{sys.executable}
import json, os, sys
from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.contract import ComponentSpec, join_uri
store = ArtifactStore()
spec_uri = sys.argv[sys.argv.index("--spec") + 1]
spec = ComponentSpec.from_json(store.read_text(spec_uri))
print("component", sys.argv[3], "params", json.dumps(spec.params, sort_keys=True), "cache", spec.cache, flush=True)
print("mlflow user", os.environ.get("MLFLOW_TRACKING_USERNAME"), flush=True)
behaviour = json.loads(os.environ["STAND_IN"])
if "error" in behaviour:
    store.write_json(join_uri(spec.invocation_uri, "error.json"), behaviour["error"])
if "result" in behaviour:
    store.write_text(join_uri(spec.invocation_uri, "result.json"), json.dumps(behaviour["result"]))
sys.exit(behaviour.get("exit", 0))
"""


@pytest.fixture
def stand_in(tmp_path, monkeypatch):
    path = tmp_path / "runtime-python"
    path.write_text(STAND_IN)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)

    def configure(**behaviour) -> str:
        monkeypatch.setenv("STAND_IN", json.dumps(behaviour))
        return str(path)

    return configure


def context(xcoms: dict | None = None) -> dict:
    xcoms = xcoms or {}
    ti = SimpleNamespace(
        dag_id="penguin_training",
        run_id="manual__2026-01-01T00:00:00+00:00",
        task_id="task",
        try_number=1,
        xcom_pull=lambda task_ids: xcoms.get(task_ids),
    )
    return {"ti": ti, "logical_date": "2026-01-01T00:00:00+00:00"}


def record(cache_hit: bool = False) -> dict:
    return ExecutionRecord(
        component="ingest",
        pipeline="penguin",
        code_version="v",
        fingerprint="f1",
        status=Status.SUCCEEDED,
        params={},
        inputs={},
        outputs={"examples": REF},
        metrics={"rows": 3},
        started_at="s",
        ended_at="e",
        duration_seconds=0.5,
        host="h",
        executor="pid 1",
        cache_hit=cache_hit,
    ).to_dict()


def operator(python: str, root: str, **kwargs) -> ComponentOperator:
    defaults = dict(task_id="task", component="ingest", pipeline="penguin", artifact_root=root, runtime_python=python)
    return ComponentOperator(**{**defaults, **kwargs})


def test_success_returns_the_result_and_writes_the_spec(stand_in, artifact_root):
    python = stand_in(result=record(cache_hit=True))
    op = operator(python, artifact_root, component_params={"source": "x.csv"}, cache="False")
    result = op.execute(context())
    assert result["cache_hit"] is True
    assert result["fingerprint"] == "f1"
    assert result["outputs"]["examples"] == REF.to_dict()
    assert result["metrics"] == {"rows": 3}
    assert result["execution_uri"] == f"{artifact_root}/penguin/ingest/f1"
    spec_uri = f"{artifact_root}/penguin/_invocations/penguin_training/manual__2026-01-01T00_00_00_00_00/task/try-1/spec.json"
    spec = ComponentSpec.from_json(ArtifactStore().read_text(spec_uri))
    assert spec.params == {"source": "x.csv"} and spec.cache is False
    assert spec.run.dag_id == "penguin_training" and spec.run.try_number == 1


def test_inputs_come_from_the_upstream_task_xcom(stand_in, artifact_root):
    python = stand_in(result=record())
    op = operator(python, artifact_root, component="validate", inputs={"examples": ComponentOutput("ingest", "examples")})
    op.execute(context({"ingest": {"outputs": {"examples": REF.to_dict()}}}))
    specs = [f for f in ArtifactStore().list_files(artifact_root) if f.endswith("spec.json")]
    assert ComponentSpec.from_json(ArtifactStore().read_text(specs[0])).inputs == {"examples": REF}


def test_missing_upstream_output_fails_without_retry(stand_in, artifact_root):
    op = operator(stand_in(result=record()), artifact_root, inputs={"examples": ComponentOutput("ingest", "examples")})
    with pytest.raises(AirflowFailException, match="task 'ingest' published no output 'examples'"):
        op.execute(context({"ingest": {"outputs": {}}}))


@pytest.mark.parametrize("kind", ["data", "config"])
def test_rejected_input_fails_the_task_without_retry_and_with_the_message(stand_in, artifact_root, kind):
    error = {"component": "ingest", "kind": kind, "message": "file is empty: gs://b/x.csv", "details": {}}
    op = operator(stand_in(error=error, exit=3), artifact_root)
    with pytest.raises(AirflowFailException) as err:
        op.execute(context())
    assert str(err.value) == f"ingest failed ({kind} error): file is empty: gs://b/x.csv"


def test_infrastructure_error_is_retryable(stand_in, artifact_root):
    error = {"component": "ingest", "kind": "infrastructure", "message": "ConnectionError: GCS unreachable", "details": {}}
    with pytest.raises(AirflowException) as err:
        operator(stand_in(error=error, exit=1), artifact_root).execute(context())
    assert not isinstance(err.value, AirflowFailException)
    assert "GCS unreachable" in str(err.value)


def test_crash_without_report_is_retryable(stand_in, artifact_root):
    with pytest.raises(AirflowException) as err:
        operator(stand_in(exit=139), artifact_root).execute(context())
    assert not isinstance(err.value, AirflowFailException)
    assert "crashed with exit code 139" in str(err.value)


def test_timeout_is_retryable_and_says_so(tmp_path, artifact_root):
    python = tmp_path / "slow"
    python.write_text("#!/bin/bash\nsleep 60\n")
    python.chmod(0o755)
    with pytest.raises(AirflowException, match="ran longer than its timeout of 1 s and was killed") as err:
        operator(str(python), artifact_root, component_timeout=1).execute(context())
    assert type(err.value) is AirflowException  # retried: not AirflowFailException (a subclass)


def test_invalid_cache_value_is_a_clear_failure(stand_in, artifact_root):
    with pytest.raises(AirflowFailException, match="cache must be true or false"):
        operator(stand_in(result=record()), artifact_root, cache="maybe").execute(context())


def test_component_output_is_streamed_into_the_task_log(stand_in, artifact_root, capfd):
    op = IngestDataOperator(
        task_id="ingest",
        pipeline="penguin",
        artifact_root=artifact_root,
        runtime_python=stand_in(result=record()),
        source="gs://b/x.csv",
        label="species",
        split={"train": 0.8, "eval": 0.1, "test": 0.1},
    )
    op.execute(context())
    logged = capfd.readouterr().out
    # the spec carries every parameter of the ingest record, defaults filled in
    assert '[ingest] component ingest params {"format": "auto", "include_feedback": false, "label": "species", "source": "gs://b/x.csv"' in logged


def test_template_fields_are_tuples_of_existing_attributes():
    op = IngestDataOperator(task_id="i", pipeline="p", artifact_root="file:///r", source="s", label="l", split={})
    assert isinstance(IngestDataOperator.template_fields, tuple)
    for name in IngestDataOperator.template_fields:
        assert hasattr(op, name)


def blessing_ref(blessed: bool) -> dict:
    reasons = ["all checks passed"] if blessed else ["test accuracy 0.8000 < minimum 0.9000"]
    return ArtifactRef("blessing", "ModelBlessing", "file:///b", "evaluate", "f2", "file:///b/execution.json", {"blessed": blessed, "reasons": reasons}).to_dict()


def register_operator(python: str, root: str):
    from airflow_mlops.provider.operators import RegisterModelOperator

    return RegisterModelOperator(
        task_id="register",
        pipeline="penguin",
        artifact_root=root,
        runtime_python=python,
        model=ComponentOutput("train", "model"),
        blessing=ComponentOutput("evaluate", "blessing"),
        lineage={},
        registry={"tracking_uri": "sqlite:///x.db", "model_name": "penguin"},
    )


def test_register_is_skipped_with_the_reasons_when_not_blessed(stand_in, artifact_root):
    from airflow_mlops.provider.compat import AirflowSkipException

    xcoms = {"train": {"outputs": {"model": REF.to_dict()}}, "evaluate": {"outputs": {"blessing": blessing_ref(False)}}}
    with pytest.raises(AirflowSkipException, match="not blessed, not registered: test accuracy 0.8000 < minimum 0.9000"):
        register_operator(stand_in(result=record()), artifact_root).execute(context(xcoms))
    assert not ArtifactStore().exists(artifact_root)  # skipped before anything was launched


def test_register_runs_when_blessed_with_the_registry_settings(stand_in, artifact_root):
    xcoms = {"train": {"outputs": {"model": REF.to_dict()}}, "evaluate": {"outputs": {"blessing": blessing_ref(True)}}}
    register_operator(stand_in(result=record()), artifact_root).execute(context(xcoms))
    (spec_file,) = [f for f in ArtifactStore().list_files(artifact_root) if f.endswith("spec.json")]
    spec = ComponentSpec.from_json(ArtifactStore().read_text(spec_file))
    assert spec.settings["registry"] == {"tracking_uri": "sqlite:///x.db", "model_name": "penguin"}
    # registry settings are not part of the parameters (nor the fingerprint): only register's own options
    assert set(spec.params) == {"tflite"} and spec.params["tflite"]["enabled"] is False


@pytest.mark.parametrize(
    "conn_uri, expected",
    [
        ("http://mlflow.internal:5000", "http://mlflow.internal:5000"),
        ("https://mlflow.example.com", "https://mlflow.example.com"),
        ('{"conn_type": "generic", "extra": {"tracking_uri": "databricks://profile"}}', "databricks://profile"),
    ],
)
def test_mlflow_connection_gives_the_tracking_uri(stand_in, artifact_root, monkeypatch, conn_uri, expected):
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_DEFAULT", conn_uri)
    op = operator(stand_in(result=record()), artifact_root, mlflow_conn_id="mlflow_default")
    assert op.settings({})["registry"]["tracking_uri"] == expected


def test_mlflow_credentials_reach_the_component_environment_but_not_the_spec(stand_in, artifact_root, monkeypatch, capfd):
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_DEFAULT", "mlflow://alice:s3cret@mlflow.internal:5000/https")
    op = operator(stand_in(result=record()), artifact_root, mlflow_conn_id="mlflow_default")
    op.execute(context())
    assert "mlflow user alice" in capfd.readouterr().out
    spec_text = ArtifactStore().read_text(
        f"{artifact_root}/penguin/_invocations/penguin_training/manual__2026-01-01T00_00_00_00_00/task/try-1/spec.json"
    )
    assert "s3cret" not in spec_text and "https://mlflow.internal:5000" in spec_text


# -- infra validation: a failure is final or retried by its kind, and nothing is rolled out ------

VERSION = ArtifactRef("model_version", "ModelVersion", "models:/penguin/2", "register", "f3", "file:///a/execution.json",
                      {"name": "penguin", "version": "2", "model_uri": "file:///a/model"})
ROLLOUT_XCOMS = {"register": {"outputs": {"model_version": VERSION.to_dict()}}, "ingest": {"outputs": {"examples": REF.to_dict()}}}


def infra_validate_operator(python: str, root: str):
    from airflow_mlops.provider.operators import InfraValidateOperator

    return InfraValidateOperator(
        task_id="infra_validate", pipeline="penguin", artifact_root=root, runtime_python=python,
        model_version=ComponentOutput("register", "model_version"), examples=ComponentOutput("ingest", "examples"),
        features={"bill_length_mm": "numeric"}, task="classification",
    )


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("model", "version 2 does not load in the prediction server: ValueError: bad weights"),
        ("config", "version 2 was trained for another task (regression)"),
    ],
)
def test_an_infra_validation_failure_of_the_model_fails_the_task_without_retry(stand_in, artifact_root, kind, message):
    error = {"component": "infra_validate", "kind": kind, "message": message, "details": {}}
    with pytest.raises(AirflowFailException) as err:
        infra_validate_operator(stand_in(error=error, exit=3), artifact_root).execute(context(ROLLOUT_XCOMS))
    assert str(err.value) == f"infra_validate failed ({kind} error): {message}"


def test_a_prediction_server_that_does_not_come_up_is_retried(stand_in, artifact_root):
    error = {"component": "infra_validate", "kind": "infrastructure", "message": "the server did not come up in 180 s", "details": {}}
    with pytest.raises(AirflowException) as err:
        infra_validate_operator(stand_in(error=error, exit=1), artifact_root).execute(context(ROLLOUT_XCOMS))
    assert type(err.value) is AirflowException  # retried: not AirflowFailException (a subclass)
    assert str(err.value) == "infra_validate failed (infrastructure error): the server did not come up in 180 s"


def test_deploy_without_an_infra_blessing_launches_nothing(stand_in, artifact_root, capfd):
    """A deploy that runs although infra_validate published no blessing (its trigger rule,
    all_success, normally keeps it from running at all) fails before its component starts:
    no spec, no deployment record."""
    from airflow_mlops.provider.operators import DeployModelOperator

    op = DeployModelOperator(
        task_id="deploy", pipeline="penguin", artifact_root=artifact_root, runtime_python=stand_in(result=record()),
        model_version=ComponentOutput("register", "model_version"),
        infra_blessing=ComponentOutput("infra_validate", "infra_blessing"),
    )
    with pytest.raises(AirflowFailException, match="task 'infra_validate' published no output 'infra_blessing'"):
        op.execute(context({**ROLLOUT_XCOMS, "infra_validate": None}))
    assert "[deploy] component" not in capfd.readouterr().out
    assert not ArtifactStore().exists(artifact_root)
