"""Step operators take their component's parameter record, check it after rendering, and pick the
launcher ``runtime.launcher`` names."""

from __future__ import annotations

import pytest

from airflow_mlops.contract.params import TrainParams
from airflow_mlops.provider.compat import AirflowFailException
from airflow_mlops.provider.factory import training_dag
from airflow_mlops.provider.launchers import LAUNCHERS, LocalLauncher, launcher_for
from airflow_mlops.provider.operators import ComponentOutput, TrainModelOperator

BASE = dict(task_id="train", pipeline="penguin", artifact_root="file:///tmp/x")
INPUTS = dict(examples=ComponentOutput("ingest", "examples"), transform=ComponentOutput("transform", "transform"))


def test_parameters_as_keywords_or_as_the_record_are_the_same_spec():
    by_keyword = TrainModelOperator(**BASE, **INPUTS, label="species", epochs=5)
    by_record = TrainModelOperator(**BASE, **INPUTS, component_params=TrainParams(label="species", epochs=5))
    assert by_keyword.checked_params() == by_record.checked_params() == TrainParams(label="species", epochs=5).to_dict()
    assert by_keyword.inputs == INPUTS and by_keyword.component == "train"


def test_a_rendered_template_becomes_its_type_and_a_wrong_value_fails_without_retry():
    op = TrainModelOperator(**BASE, **INPUTS, label="species", epochs="{{ params.epochs }}")
    op.component_params["epochs"] = "12"  # what Airflow renders
    assert op.checked_params()["epochs"] == 12
    op.component_params["epochs"] = "twelve"
    with pytest.raises(AirflowFailException, match=r"train: invalid parameters for train:\n  - epochs: must be an integer \(got 'twelve'\)"):
        op.checked_params()


def test_an_unknown_keyword_is_still_refused_by_airflow():
    with pytest.raises(TypeError, match="epoch"):
        TrainModelOperator(**BASE, **INPUTS, label="species", epoch=5)


def test_the_launcher_named_in_the_config_is_used(tmp_path):
    assert set(LAUNCHERS) == {"local", "kubernetes", "vertex"}
    assert isinstance(launcher_for("local", python="/usr/bin/python3"), LocalLauncher)
    with pytest.raises(ValueError, match="unknown launcher 'k8s': one of kubernetes, local, vertex"):
        launcher_for("k8s")
    dag = training_dag("include/penguin/pipeline.yaml")
    assert {t.launcher for t in dag.tasks if hasattr(t, "launcher")} == {"local"}


def test_an_unknown_launcher_in_the_yaml_is_a_config_error_with_its_path(tmp_path):
    from airflow_mlops.contract.config import PipelineConfigError, load_pipeline_config

    path = tmp_path / "include" / "p" / "pipeline.yaml"
    path.parent.mkdir(parents=True)
    path.write_text("pipeline: p\ndata: {source: x.csv, label: y}\nfeatures: {a: numeric}\nruntime: {launcher: k8s}\n")
    with pytest.raises(PipelineConfigError, match=r"runtime.launcher: must be one of local, kubernetes, vertex \(got 'k8s'\)"):
        load_pipeline_config(path)
