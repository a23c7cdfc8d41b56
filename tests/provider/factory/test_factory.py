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


TUNING = """
    training:
      epochs: 12
      tuning:
        enabled: true
        max_trials: 4
        objective: val_accuracy
        search_space:
          learning_rate: {min: 0.001, max: 0.1, sampling: log}
          hidden_units: {values: [[16, 8], [32, 16]]}
          dropout: {values: [0.0, 0.2]}
"""


def test_tuning_adds_a_tune_step_whose_result_feeds_train_and_the_lineage(tmp_path):
    from airflow_mlops.contract.params import TuneParams

    dag = training_dag(config(tmp_path, TUNING))
    tune, train, register = dag.get_task("tune"), dag.get_task("train"), dag.get_task("register")
    assert tune.upstream_task_ids == {"ingest", "transform"} and "tune" in train.upstream_task_ids
    assert train.inputs["tuned_hyperparameters"].task_id == "tune" and register.inputs["tuned_hyperparameters"].task_id == "tune"
    params = TuneParams.from_dict(tune.component_params)
    assert (params.max_trials, params.epochs, params.objective, params.label) == (4, 12, "val_accuracy", "y")
    assert params.search_space["hidden_units"].values == ([16, 8], [32, 16])
    assert params.search_space["learning_rate"].sampling == "log"
    assert (tune.pool, tune.search) == ("gpu", "{{ params.tune }}") and dag.params["tune"] is True


def test_without_tuning_there_is_no_tune_step_and_no_switch(tmp_path):
    dag = training_dag(config(tmp_path))
    assert "tune" not in dag.task_ids and "tuned_hyperparameters" not in dag.get_task("train").inputs
    assert "tune" not in dag.params


@pytest.mark.parametrize("space, problem", [
    ("{learning_rate: {min: 0.1, max: 0.01}}", "training.tuning.search_space.learning_rate: min must be less than max"),
    ("{learning_rate: {min: 0, max: 0.1, sampling: log}}", "sampling log needs min above 0"),
    ("{units: {values: [8, 16], min: 1, max: 2}}", "units: give values or min and max, not both"),
    ("{units: {}}", "units: give values, or min and max"),
    ("{units: {values: [8], sampling: cubic}}", "training.tuning.search_space.units.sampling: must be one of"),
])
def test_a_wrong_search_space_fails_when_the_dag_file_loads_naming_the_field(tmp_path, space, problem):
    with pytest.raises(Exception, match=problem.replace("(", r"\(").replace("[", r"\[")):
        training_dag(config(tmp_path, f"training: {{tuning: {{enabled: true, search_space: {space}}}}}\n"))


def test_the_batch_prediction_dag_checks_then_predicts_with_the_yaml_s_options(tmp_path):
    from airflow.timetables.assets import AssetOrTimeSchedule

    from airflow_mlops.contract.params import BatchCheckParams, BatchPredictParams
    from airflow_mlops.provider.factory import batch_prediction_dag

    dag = batch_prediction_dag(config(tmp_path, """
        batch_prediction:
          source: to_score/{{ ds }}
          keep_columns: [id]
          request_id_column: id
          skew: {on_drift: fail}
          batch_size: 1000
          destination: gs://bucket/scored/{{ ds }}/
          schedule: "@daily"
    """))
    assert dag.dag_id == "p_batch_prediction"
    check, predict = dag.get_task("check_batch"), dag.get_task("predict_batch")
    assert dag.get_task("input").downstream_task_ids == {"check_batch"} and check.downstream_task_ids == {"predict_batch"}
    assert predict.inputs["batch"].task_id == "check_batch"
    checked = BatchCheckParams.from_dict(check.component_params)
    assert checked.source == "{{ ti.xcom_pull(task_ids='input')['source'] }}"
    assert (checked.keep_columns, checked.request_id_column, checked.skew.on_drift) == (("id",), "id", "fail")
    assert checked.features == {"a": "numeric", "b": "categorical"} and checked.label == "y"
    predicted = BatchPredictParams.from_dict(predict.component_params)
    assert (predicted.batch_size, predicted.log_predictions) == (1000, True)
    assert predicted.destination == "{{ ti.xcom_pull(task_ids='input')['destination'] }}"
    assert isinstance(dag.timetable, AssetOrTimeSchedule)
    assert [o.uri for o in predict.outlets] == ["mlops://p/batch_predictions"]
    assert "to_score/{{ ds }}" in dag.doc_md and str(tmp_path) in dag.doc_md


def test_the_batch_prediction_dag_runs_on_its_input_asset_by_default(tmp_path):
    from airflow_mlops.provider.factory import batch_prediction_dag

    dag = batch_prediction_dag(config(tmp_path))
    assert [a.uri for a in dag.timetable.asset_condition.objects] == ["mlops://p/batch_input"]
    assert dag.params["source"] is None and dag.params["cache"] is True


@pytest.mark.parametrize("section, problem", [
    ("{batch_size: 0}", "batch_prediction.batch_size: must be greater than 0"),
    ("{skew: {on_drift: ignore}}", "batch_prediction.skew.on_drift: must be one of"),
    ("{format: xlsx}", "batch_prediction.format: must be one of"),
    ("{sources: x.csv}", "batch_prediction.sources: unknown field"),
])
def test_a_wrong_batch_prediction_option_fails_when_the_dag_file_loads(tmp_path, section, problem):
    from airflow_mlops.contract.config.loader import PipelineConfigError
    from airflow_mlops.provider.factory import batch_prediction_dag

    with pytest.raises(PipelineConfigError) as caught:
        batch_prediction_dag(config(tmp_path, f"batch_prediction: {section}\n"))
    assert problem in str(caught.value)


def test_what_a_batch_run_predicts_form_then_asset_event_then_the_yaml(tmp_path):
    from datetime import UTC, datetime
    from types import SimpleNamespace

    from airflow_mlops.provider.assets import batch_source
    from airflow_mlops.provider.factory import batch_prediction_dag

    task = batch_prediction_dag(config(tmp_path)).get_task("input")
    run = SimpleNamespace(run_after=datetime(2026, 3, 4, 5, tzinfo=UTC))

    def event(source, minute):
        return SimpleNamespace(extra={"source": source} if source else {}, timestamp=datetime(2026, 3, 4, 5, minute, tzinfo=UTC))

    events = {"a": [event("gs://b/old.csv", 1), event("gs://b/new.csv", 2), event(None, 3)]}
    base = {"task": task, "dag_run": run, "params": {"source": None}}
    default = "file:///data/{{ ds }}/"
    assert batch_source({**base, "params": {"source": " /tmp/x.csv "}, "triggering_asset_events": events}, default) == "/tmp/x.csv"
    assert batch_source({**base, "triggering_asset_events": events}, default) == "gs://b/new.csv"
    assert batch_source({**base, "ds": "2026-01-02"}, default) == "file:///data/2026-01-02/"
    assert batch_source(base, default) == "file:///data/2026-03-04/"  # a manual run: no ds, the day it ran
    from airflow_mlops.provider.assets import render_with_ds

    assert render_with_ds(base, "bigquery://p.d.scores?partition={{ ds }}") == "bigquery://p.d.scores?partition=2026-03-04"


REMOTE = """
artifact_root: gs://bucket/mlops
registry: {tracking_uri: "https://mlflow.example"}
runtime: {launcher: kubernetes, image: "europe-docker.pkg.dev/p/r/runtime:1"}
monitoring: {landing: gs://bucket/landing}
validation: {schema: gs://bucket/schema.pbtxt}
"""


def test_on_a_remote_launcher_the_batch_source_must_be_in_a_bucket_and_only_the_batch_dag_says_so(tmp_path):
    from airflow_mlops.contract.config.loader import PipelineConfigError
    from airflow_mlops.provider.assets import batch_source
    from airflow_mlops.provider.compat import AirflowFailException
    from airflow_mlops.provider.factory import batch_prediction_dag

    remote = BASE.replace("data.csv", "gs://bucket/data.csv") + textwrap.dedent(REMOTE)
    path = config(tmp_path)
    path.write_text(remote + "batch_prediction: {source: to_score/}\n")
    with pytest.raises(PipelineConfigError) as caught:
        batch_prediction_dag(path)
    assert "batch_prediction.source: file://" in str(caught.value) and "check_batch on kubernetes cannot read" in str(caught.value)
    assert training_dag(path).dag_id == "p_training"  # the other DAGs of the pipeline still load

    path.write_text(remote)  # no source in the YAML: each run must name one
    dag = batch_prediction_dag(path)
    with pytest.raises(AirflowFailException, match="no source to predict"):
        batch_source({"task": dag.get_task("input"), "params": {"source": None}}, "")
    path.write_text(remote + "batch_prediction: {source: 'gs://bucket/to_score/{{ ds }}/'}\n")
    assert batch_prediction_dag(path).get_task("check_batch").launcher == "kubernetes"
