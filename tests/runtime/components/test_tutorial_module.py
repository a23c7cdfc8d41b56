"""The README tutorial's model (its module, as written there) trains on the wine data and is
blessed by the tutorial's thresholds."""

from __future__ import annotations

import yaml
from pipeline_helpers import SPLIT, Pipeline


def test_the_tutorial_module_trains_and_is_blessed(tmp_path, readme_tutorial):
    files = readme_tutorial
    config = yaml.safe_load(files["config"].read_text())
    features, label = config["features"], config["data"]["label"]
    pipeline = Pipeline(root=f"file://{tmp_path}/artifacts", tracking_uri=f"sqlite:///{tmp_path}/mlflow.db",
                        schema_uri=f"file://{tmp_path}/schema.pbtxt", model_name="wine")
    examples = pipeline.run("ingest", {"source": config["data"]["source"], "label": label, "split": SPLIT}).outputs["examples"]
    schema = pipeline.run("validate", {"features": features, "label": label, "schema_uri": pipeline.schema_uri},
                          {"examples": examples}).outputs["schema"]
    transform = pipeline.run("transform", {"features": features, "label": label}, {"examples": examples, "schema": schema})
    training = config["training"]
    model = pipeline.run("train", {"label": label, "module": training["module"], "module_source": files["module"].read_text(),
                                   "epochs": training["epochs"], "hyperparameters": training["hyperparameters"]},
                         {"examples": examples, "transform": transform.outputs["transform"]}).outputs["model"]
    evaluation = pipeline.run("evaluate", {"label": label, "thresholds": config["evaluation"]["thresholds"]},
                              {"examples": examples, "model": model})
    assert evaluation.metrics["blessed"] is True, evaluation.outputs["blessing"].properties["reasons"]
    assert set(transform.outputs["transform"].properties["classes"]) == {"0", "1", "2"}
