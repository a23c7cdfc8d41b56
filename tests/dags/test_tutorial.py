"""The README tutorial's config and DAG file, as written there: the config loads and the DAG
parses (its module is trained by tests/runtime/components/test_tutorial_module.py)."""

from __future__ import annotations

from test_dags import dag_bag

from airflow_mlops.contract.config import load_pipeline_config


def test_the_tutorial_config_and_dag_file_load(readme_tutorial):
    files = readme_tutorial
    config = load_pipeline_config(files["config"])
    assert (config.name, config.task, config.label, len(config.features)) == ("wine", "classification", "target", 13)
    assert config.training_module_source() == files["module"].read_text()
    bag = dag_bag(files["dag"].parent)
    assert bag.import_errors == {} and list(bag.dag_ids) == ["wine_training"]
    train = bag.dags["wine_training"].get_task("train")
    assert train.component_params["module"] == "model.py" and train.module_source == files["module"].read_text()
