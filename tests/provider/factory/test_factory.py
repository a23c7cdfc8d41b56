"""The DAG factory builds each step from the typed config: parameters, launcher, pools, machine
settings, connections (the shipped DAG files are tested in tests/dags)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from airflow_mlops.contract.params import TrainParams, ValidateParams
from airflow_mlops.provider.factory import monitoring_dag, training_dag

BASE = """
pipeline: p
data: {source: data.csv, label: y}
features: {a: numeric, b: categorical}
"""


def config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "include" / "p" / "pipeline.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(BASE + textwrap.dedent(extra))
    return path


def test_steps_get_their_records_from_the_config_sections(tmp_path):
    dag = training_dag(config(tmp_path, """
        training: {hidden_units: [4], batch_size: 8, gpus: 2}
        validation: {drift: {on_drift: fail}, beam_pipeline_args: [--runner=DataflowRunner, --project=x]}
    """))
    train = dag.get_task("train")
    rendered = {**train.component_params, "epochs": "30", "learning_rate": "0.01"}  # the trigger form's values
    params = TrainParams.from_dict(rendered, coerce=True)
    assert (params.hidden_units, params.batch_size, params.label) == ((4,), 8, "y")
    assert train.component_params["epochs"] == "{{ params.epochs }}" and dag.params["epochs"] == 30
    assert (train.pool, train.pool_slots) == ("gpu", 2)
    validate = dag.get_task("validate")
    assert ValidateParams.from_dict(validate.component_params).drift.on_drift == "fail"
    assert validate.component_settings["beam_pipeline_args"] == ["--runner=DataflowRunner", "--project=x"]
    assert dag.get_task("transform").component_settings["beam_pipeline_args"] == ["--runner=DataflowRunner", "--project=x"]


def test_machine_settings_win_over_the_yaml_and_connections_reach_every_step(tmp_path, monkeypatch):
    monkeypatch.setenv("MLOPS_ARTIFACT_ROOT", "gs://bucket/mlops")
    dag = training_dag(config(tmp_path, "registry: {mlflow_conn_id: mlflow_prod}\n"))
    steps = [t for t in dag.tasks if hasattr(t, "component_params")]
    assert {t.artifact_root for t in steps} == {"gs://bucket/mlops"}
    assert {t.mlflow_conn_id for t in steps} == {"mlflow_prod"}
    assert {t.launcher for t in steps} == {"local"}


def test_the_monitoring_window_comes_from_the_yaml(tmp_path):
    dag = monitoring_dag(config(tmp_path, "monitoring: {schedule: '@daily', window_minutes: 1440}\n"))
    assert dag.params["window_minutes"] == 1440
    assert dag.get_task("monitor").component_params["features"] == {"a": "numeric", "b": "categorical"}


def test_a_wrong_value_fails_when_the_dag_file_loads(tmp_path):
    from airflow_mlops.contract.config import PipelineConfigError

    with pytest.raises(PipelineConfigError, match=r"training.epochs: must be greater than 0 \(got 0\)"):
        training_dag(config(tmp_path, "training: {epochs: 0}\n"))
