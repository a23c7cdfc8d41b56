"""The tune step (runtime/components/tune.py): a Keras Tuner search whose trials are MLflow child
runs of the pipeline run, whose best values - or the defaults, when no trial beats them - train
uses and records."""

from __future__ import annotations

import json

import pytest
from pipeline_helpers import LABEL

from airflow_mlops.artifacts import ArtifactStore

# The defaults learn almost nothing in 4 epochs (learning rate 1e-5); the searched rates do.
BASE = {"label": LABEL, "hidden_units": [8], "learning_rate": 1e-5, "epochs": 4, "batch_size": 32, "seed": 42}
SEARCH = {
    "search_space": {"learning_rate": {"min": 0.01, "max": 0.1, "sampling": "log"}, "hidden_units": {"values": [[8], [16, 8]]}},
    "max_trials": 3, "algorithm": "random", "early_stopping_patience": 2,
}


@pytest.fixture(scope="module")
def tuned(pipeline, first_run):
    inputs = {"examples": first_run["ingest"].outputs["examples"], "transform": first_run["transform"].outputs["transform"]}
    return pipeline.run("tune", {**BASE, **SEARCH}, inputs, run_id="tune-run"), inputs


def test_the_search_tries_each_trial_and_keeps_the_best_against_the_defaults(tuned):
    record, _ = tuned
    out = record.outputs["hyperparameters"]
    best = ArtifactStore().read_json(f"{out.uri}/best.json")
    scores = [t["score"] for t in best["trials"]]
    assert len(best["trials"]) == record.metrics["trials"] == 3 and all(s is not None for s in scores)
    assert best["objective"] == "val_loss" and best["direction"] == "min"
    assert best["best_score"] == min([*scores, best["default_score"]]) < best["default_score"]
    values = best["values"]
    assert 0.01 <= values["learning_rate"] <= 0.1 and values["hidden_units"] in ([8], [16, 8])
    assert out.properties["values"] == values
    with ArtifactStore().open(f"{out.uri}/trials.png") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_every_trial_and_the_defaults_are_child_runs_of_the_pipeline_run(pipeline, tuned):
    record, _ = tuned
    client = pipeline.registry().client()
    parent = record.outputs["hyperparameters"].properties["mlflow_run_id"]
    experiment = client.get_run(parent).info.experiment_id
    children = client.search_runs([experiment], filter_string=f"tags.`mlflow.parentRunId` = '{parent}'")
    assert sorted(r.info.run_name for r in children) == ["tune 0", "tune 1", "tune 2", "tune defaults"]
    for child in children:
        assert "tune.score" in child.data.metrics and "val_loss" in child.data.metrics
    trial_lrs = sorted(float(r.data.params["learning_rate"]) for r in children if "learning_rate" in r.data.params)
    assert len(trial_lrs) == 3 and all(0.01 <= lr <= 0.1 for lr in trial_lrs)
    metrics = client.get_run(parent).data.metrics
    assert metrics["tune.best_score"] == pytest.approx(record.metrics["best_score"])
    assert client.get_run(parent).data.params["tune.best.learning_rate"] == str(record.outputs["hyperparameters"].properties["values"]["learning_rate"])


def test_an_unchanged_search_is_a_cache_hit(pipeline, tuned):
    record, inputs = tuned
    again = pipeline.run("tune", {**BASE, **SEARCH}, inputs, run_id="tune-run-2")
    assert again.cache_hit and again.fingerprint == record.fingerprint


def test_train_uses_the_tuned_values_and_says_so(pipeline, tuned):
    record, inputs = tuned
    values = record.outputs["hyperparameters"].properties["values"]
    train = pipeline.run("train", BASE, {**inputs, "tuned_hyperparameters": record.outputs["hyperparameters"]}, run_id="tuned-train")
    assert train.outputs["model"].properties["tuned"] == values
    client = pipeline.registry().client()
    logged = client.get_run(train.outputs["model"].properties["mlflow_run_id"]).data.params
    assert float(logged["train.learning_rate"]) == pytest.approx(values["learning_rate"])
    assert json.loads(logged["train.hidden_units"].replace("(", "[").replace(")", "]").replace(",]", "]")) == values["hidden_units"]


def test_an_empty_search_space_is_a_config_error(pipeline, tuned):
    from airflow_mlops.contract import ComponentError, ErrorKind

    _, inputs = tuned
    with pytest.raises(ComponentError) as failure:
        pipeline.run("tune", {**BASE, "max_trials": 1}, inputs, run_id="tune-empty")
    assert failure.value.kind is ErrorKind.CONFIG and "search_space is empty" in str(failure.value)
