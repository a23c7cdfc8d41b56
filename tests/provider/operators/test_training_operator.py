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
