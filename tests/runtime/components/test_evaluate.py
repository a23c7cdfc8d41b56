"""Evaluation: the blessing rules, and the component's metrics, slices and report."""

from __future__ import annotations

import pytest
from report_images import images

from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.runtime.components.evaluate import bless
from airflow_mlops.runtime.ml.report_charts import SQUARE, pixels

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
    pictures = images(report)  # the confusion matrix as a heatmap, accuracy per slice as bars (no champion)
    assert set(saved["slices"]) == {"island", "sex"}
    assert pictures == {"Confusion matrix: Adelie, Chinstrap, Gentoo": pixels(SQUARE),
                        "accuracy by island": pixels(), "accuracy by sex": pixels()}
    assert store.read_json(record.outputs["blessing"].uri + "/blessing.json")["blessed"] is True


def test_evaluate_compares_with_the_champion_once_there_is_one(pipeline, first_run):
    examples = first_run["ingest"].outputs["examples"]
    other = pipeline.train(examples, first_run["transform"].outputs["transform"], epochs=12, run_id="r2")
    again = pipeline.evaluate(examples, other.outputs["model"], run_id="r2")
    assert again.metrics["champion_accuracy"] == pytest.approx(first_run["evaluate"].metrics["accuracy"])
    assert again.outputs["blessing"].properties["champion_version"] == "1"
    report = ArtifactStore().read_text(again.outputs["evaluation"].uri + "/report.html")
    assert "accuracy by island: candidate vs champion v1" in images(report)


def test_a_model_below_threshold_is_not_blessed_and_not_registered(pipeline, first_run):
    from airflow_mlops.contract import ComponentError, ErrorKind

    strict = pipeline.evaluate(first_run["ingest"].outputs["examples"], first_run["train"].outputs["model"], min_accuracy=1.0001)
    assert strict.metrics["blessed"] is False
    assert "< minimum 1.0001" in strict.outputs["blessing"].properties["reasons"][0]
    with pytest.raises(ComponentError) as err:
        pipeline.register({**first_run, "evaluate": strict})
    assert err.value.kind is ErrorKind.CONFIG and "not blessed" in err.value.message


def test_the_backtest_rejects_a_model_of_corrupted_but_self_consistent_data(pipeline, first_run, penguins_csv, tmp_path):
    """Two measurements exchanged in every row: the candidate looks perfect on its own test
    split, and the champion does badly there; on the champion's test split the candidate fails."""
    import pandas as pd
    from pipeline_helpers import FEATURES, LABEL

    assert first_run["deploy"].metrics["champion"] == "1"
    frame = pd.read_csv(penguins_csv)
    frame[["bill_length_mm", "flipper_length_mm"]] = frame[["flipper_length_mm", "bill_length_mm"]].to_numpy()
    frame.to_csv(tmp_path / "swapped.csv", index=False)
    examples = pipeline.ingest(str(tmp_path / "swapped.csv"), run_id="swapped").outputs["examples"]
    transform = pipeline.run("transform", {"features": FEATURES, "label": LABEL},
                             {"examples": examples, "schema": first_run["validate"].outputs["schema"]}, run_id="swapped")
    model = pipeline.train(examples, transform.outputs["transform"], epochs=20, run_id="swapped").outputs["model"]
    evaluation = pipeline.evaluate(examples, model, run_id="swapped")
    m = evaluation.metrics
    assert m["accuracy"] >= 0.95 and m["champion_accuracy"] < 0.6, m  # fine on its own split
    blessing = ArtifactStore().read_json(evaluation.outputs["blessing"].uri + "/blessing.json")
    back = next(c for c in blessing["checks"] if c["check"] == "backtest.accuracy.max_drop")
    assert not back["passed"] and not blessing["blessed"]
    assert back["reason"].startswith(f"on the champion's test split ({first_run['ingest'].metrics['rows_test']} rows): test accuracy")
    saved = ArtifactStore().read_json(evaluation.outputs["evaluation"].uri + "/metrics.json")["backtest"]
    assert saved["version"] == "1" and saved["candidate"]["accuracy"] < saved["champion"]["accuracy"] - 0.05
    assert "Backtest: on champion version 1" in ArtifactStore().read_text(evaluation.outputs["evaluation"].uri + "/report.html")


def test_no_backtest_when_the_champion_was_tested_on_the_same_split(pipeline, first_run):
    again = pipeline.evaluate(first_run["ingest"].outputs["examples"], first_run["train"].outputs["model"], run_id="same-split")
    checks = ArtifactStore().read_json(again.outputs["blessing"].uri + "/blessing.json")["checks"]
    assert not [c for c in checks if c["check"].startswith("backtest.")]
    assert ArtifactStore().read_json(again.outputs["evaluation"].uri + "/metrics.json")["backtest"] is None
