"""Evaluation: the blessing rules, and the component's metrics, slices and report."""

from __future__ import annotations

import pytest

from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.runtime.components.evaluate import bless

THRESHOLDS = {"accuracy": {"min": 0.9, "max_drop": 0.02}}


def metrics(accuracy: float, non_finite: int = 0) -> dict:
    return {"accuracy": accuracy, "non_finite_predictions": non_finite}


def test_first_model_is_judged_by_value_thresholds_only():
    blessing = bless(metrics(0.95), None, THRESHOLDS)
    assert blessing["blessed"] and blessing["champion_version"] is None
    change = next(c for c in blessing["checks"] if c["check"] == "accuracy.max_drop")
    assert change["passed"] and "no champion yet" in change["reason"]


def test_below_the_minimum_is_not_blessed():
    blessing = bless(metrics(0.85), None, THRESHOLDS)
    assert not blessing["blessed"]
    assert blessing["reasons"] == ["test accuracy 0.8500 < minimum 0.9000"]


@pytest.mark.parametrize("candidate, blessed", [(0.96, True), (0.95, True), (0.935, True), (0.925, False)])
def test_change_threshold_against_the_champion(candidate, blessed):
    champion = {"version": "3", "accuracy": 0.95}
    blessing = bless(metrics(candidate), champion, THRESHOLDS)
    assert blessing["blessed"] is blessed
    assert blessing["champion_version"] == "3"
    if not blessed:
        assert "vs champion version 3 0.9500: change -0.0250" in blessing["reasons"][0]


def test_nan_predictions_are_never_blessed():
    assert not bless(metrics(0.99, non_finite=2), None, THRESHOLDS)["blessed"]


def test_evaluate_component_reports_metrics_slices_and_blessing(first_run):
    record = first_run["evaluate"]
    assert record.metrics["blessed"] is True and record.metrics["accuracy"] >= 0.9
    assert record.metrics["champion_accuracy"] is None  # the first model: no champion yet
    store = ArtifactStore()
    saved = store.read_json(record.outputs["evaluation"].uri + "/metrics.json")["candidate"]
    assert set(saved["per_class"]) == {"Adelie", "Chinstrap", "Gentoo"}
    assert set(saved["slices"]["island"]) == {"Biscoe", "Dream", "Torgersen"}
    assert sum(s["count"] for s in saved["slices"]["island"].values()) == saved["rows"]
    assert sum(map(sum, saved["confusion_matrix"]["matrix"])) == saved["rows"]
    report = store.read_text(record.outputs["evaluation"].uri + "/report.html")
    assert "blessed" in report and "Slices by island" in report
    assert store.read_json(record.outputs["blessing"].uri + "/blessing.json")["blessed"] is True


def test_evaluate_compares_with_the_champion_once_there_is_one(pipeline, first_run):
    again = pipeline.evaluate(first_run["ingest"].outputs["examples"], first_run["train"].outputs["model"], run_id="r2")
    assert not again.cache_hit  # a new champion exists since the first evaluation
    assert again.metrics["champion_accuracy"] == pytest.approx(first_run["evaluate"].metrics["accuracy"])
    assert again.outputs["blessing"].properties["champion_version"] == "1"


def test_a_model_below_threshold_is_not_blessed_and_not_registered(pipeline, first_run):
    from airflow_mlops.contract import ComponentError, ErrorKind

    strict = pipeline.evaluate(first_run["ingest"].outputs["examples"], first_run["train"].outputs["model"], min_accuracy=1.0001)
    assert strict.metrics["blessed"] is False
    assert "< minimum 1.0001" in strict.outputs["blessing"].properties["reasons"][0]
    with pytest.raises(ComponentError) as err:
        pipeline.register({**first_run, "evaluate": strict})
    assert err.value.kind is ErrorKind.CONFIG and "not blessed" in err.value.message
