"""Monitoring and canary analysis of a regression: the error on labelled predictions (MAE, RMSE,
per version), labels that are not numbers, the verdict by max_mae, the canary's MAE check, and
the drift of numeric predictions against a numeric training label - on hand-worked numbers."""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
import pytest

from airflow_mlops.contract.params import CanaryAnalysisParams
from airflow_mlops.runtime.components.canary_analysis import judge, render
from airflow_mlops.runtime.monitoring.assessment import assess
from airflow_mlops.runtime.monitoring.drift import drift_report
from airflow_mlops.runtime.monitoring.performance import classification_figures, regression_figures, version_figures
from airflow_mlops.runtime.monitoring.verdict import verdict
from airflow_mlops.runtime.predictions.feedback import as_number

# -- figures ------------------------------------------------------------------------------------

#: (request_id, model version, logged prediction, label text or None); errors are prediction - label.
ROWS = [
    ("r0", "1", 10.0, "12"),  # -2
    ("r1", "1", "20.5", "20"),  # +0.5: a prediction logged as text still counts
    ("r2", "2", 5.0, " 8 "),  # -3
    ("r3", "2", 7.0, "abc"),  # label not a number: skipped
    ("r4", "1", 1.0, None),  # no label
    ("r5", "2", None, "3"),  # nothing predicted: skipped
    ("r6", "1", 3.0, "nan"),  # label not a (finite) number: skipped
]


def window(rows=ROWS) -> tuple[pd.DataFrame, dict[str, str]]:
    frame = pd.DataFrame({"request_id": [r[0] for r in rows], "model_version": [r[1] for r in rows],
                          "prediction": pd.Series([r[2] for r in rows], dtype=object), "timestamp": "t"})
    return frame, {r[0]: r[3] for r in rows if r[3] is not None}


def test_as_number():
    assert [as_number(v) for v in ("12.5", " 3 ", 7, 2.5, "-1e2")] == [12.5, 3.0, 7.0, 2.5, -100.0]
    assert [as_number(v) for v in ("", "abc", "nan", "inf", None, True, "1,5")] == [None] * 7


def test_regression_figures_on_hand_worked_numbers():
    current, labels = window()
    found = regression_figures(current, labels)
    assert found["labelled"] == 3 and found["skipped_labels"] == 2 and found["skipped_predictions"] == 1
    assert found["skipped_label_examples"] == ["abc", "nan"]
    assert found["mae"] == pytest.approx(5.5 / 3)
    assert found["rmse"] == pytest.approx(math.sqrt((4 + 0.25 + 9) / 3))
    assert found["by_version"]["1"] == {"labelled": 2, "mae": pytest.approx(1.25), "rmse": pytest.approx(math.sqrt(2.125))}
    assert found["by_version"]["2"] == {"labelled": 1, "mae": pytest.approx(3.0), "rmse": pytest.approx(3.0)}


def test_regression_figures_without_usable_labels():
    current, _ = window()
    found = regression_figures(current, {"r0": "twelve", "r9": "1"})
    assert (found["labelled"], found["mae"], found["rmse"], found["skipped_labels"]) == (0, None, None, 1)
    assert found["by_version"] == {}
    empty = regression_figures(current.head(0), {})
    assert (empty["labelled"], empty["mae"], empty["skipped_labels"]) == (0, None, 0)


def test_version_figures_of_a_regression():
    current, labels = window()
    log = current.assign(latency_ms=[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], error=None)
    log = pd.concat([log, pd.DataFrame([{"request_id": "e1", "model_version": "2", "error": "boom", "timestamp": "t"}])],
                    ignore_index=True)
    one = version_figures(log, "1", labels, "regression")
    assert one == {"version": "1", "predictions": 4, "errors": 0, "error_rate": 0.0, "latency_p50_ms": 2.0,
                   "latency_p95_ms": 7.0, "labelled": 2, "mae": pytest.approx(1.25), "rmse": pytest.approx(math.sqrt(2.125)),
                   "skipped_labels": 1}
    two = version_figures(log, "2", labels, "regression")
    assert (two["predictions"], two["errors"], two["error_rate"], two["labelled"], two["mae"], two["skipped_labels"]) == (
        3, 1, 0.25, 1, 3.0, 1)
    assert "accuracy" not in two
    assert "mae" not in version_figures(log, "2", labels)  # classification by default: accuracy as before


# -- the verdict --------------------------------------------------------------------------------


def figures(labelled=25, mae=4.0, rmse=5.0, skipped=0, rows=100) -> dict:
    return {"rows": rows, "features": {"x": {"detected": False, "note": ""}}, "drifted_features": [], "drift_share": 0.0,
            "labelled": labelled, "mae": mae, "rmse": rmse, "skipped_labels": skipped}


SETTINGS = {"drift_share": 0.5, "must_not_drift": [], "min_rows": 30, "min_accuracy": 0.85, "min_labels": 20, "task": "regression"}


@pytest.mark.parametrize(
    "max_mae, overrides, status, reason",
    [
        (None, {}, "ok", "mae not judged: monitoring.max_mae is not set (mae 4 on 25 labelled predictions)"),
        (3.9, {}, "alert", "performance degradation: mae 4 on 25 labelled predictions > 3.9"),
        (4.0, {}, "ok", "mae 4 on 25 labelled predictions <= 4"),
        (1.0, {"labelled": 19}, "ok", "mae not judged: 19 labelled predictions (at least 20 are needed)"),
        (1.0, {"labelled": 0, "mae": None, "rmse": None}, "ok", "mae not judged: 0 labelled predictions (at least 20 are needed)"),
        (3.0, {"skipped": 2}, "alert", "performance degradation: mae 4 on 25 labelled predictions > 3; 2 label(s) that are not numbers skipped"),
        (3.0, {"rows": 10}, "no_traffic", "only 10 predictions in the window: at least 30 are needed to judge drift and the error"),
    ],
)
def test_the_verdict_of_a_regression(max_mae, overrides, status, reason):
    result = verdict(figures(**overrides), **SETTINGS, max_mae=max_mae)
    assert result["status"] == status and result["degradation"] is (status == "alert")
    assert reason in result["reasons"], result["reasons"]
    assert (result["task"], result["accuracy"]) == ("regression", None)
    assert (result["mae"], result["rmse"], result["skipped_labels"]) == (
        overrides.get("mae", 4.0), overrides.get("rmse", 5.0), overrides.get("skipped", 0))


def test_a_classifiers_verdict_keeps_its_keys_and_ignores_max_mae():
    result = verdict({"rows": 100, "labelled": 20, "accuracy": 0.5, "features": {}, "drifted_features": []},
                     0.5, min_accuracy=0.85, min_labels=20, task="classification", max_mae=0.1)
    assert result["status"] == "alert" and result["degradation"] is True and "mae" not in result
    assert set(result) == {"status", "drift", "degradation", "reasons", "rows", "drift_share", "drifted_features", "accuracy",
                           "labelled", "at", "task"}


# -- the canary ---------------------------------------------------------------------------------


def online(version: str, labelled: int, mae: float | None) -> dict:
    return {"version": version, "predictions": 100, "errors": 0, "error_rate": 0.0, "latency_p50_ms": 5.0, "latency_p95_ms": 8.0,
            "labelled": labelled, "mae": mae, "rmse": None if mae is None else mae * 1.5, "skipped_labels": 0}


@pytest.mark.parametrize(
    "champion, challenger, passed, reason",
    [
        ((20, 4.0), (20, 5.0), True, "challenger MAE 5 vs champion 4 on labelled rows (at most +25%: 5)"),
        ((20, 4.0), (20, 5.01), False, "challenger MAE 5.01 vs champion 4 on labelled rows (at most +25%: 5)"),
        ((20, 4.0), (20, 2.0), True, "challenger MAE 2 vs champion 4 on labelled rows (at most +25%: 5)"),
        ((20, 0.0), (20, 0.5), False, "challenger MAE 0.5 vs champion 0 on labelled rows (at most +25%: 0)"),
        ((9, 4.0), (20, 50.0), True, "not used: 20 / 9 labelled predictions (need 10 each)"),
        ((20, 4.0), (0, None), True, "not used: 0 / 20 labelled predictions (need 10 each)"),
    ],
)
def test_the_canary_compares_a_regressions_mae(champion, challenger, passed, reason):
    params = CanaryAnalysisParams(task="regression", max_mae_increase=0.25, min_labels=10)
    checks = judge(online("1", *champion), online("2", *challenger), params)
    assert [c["check"] for c in checks] == ["error_rate", "latency_p95", "mae"]
    assert checks[-1] == {"check": "mae", "passed": passed, "reason": reason}
    assert all(c["passed"] for c in checks[:-1])


def test_the_canary_of_a_classifier_is_unchanged():
    params = CanaryAnalysisParams(task="classification", max_accuracy_drop=0.05, min_labels=10)
    base = {"predictions": 100, "errors": 0, "error_rate": 0.0, "latency_p50_ms": 5.0, "latency_p95_ms": 8.0, "labelled": 20}
    checks = judge({**base, "version": "1", "accuracy": 0.9}, {**base, "version": "2", "accuracy": 0.84}, params)
    assert checks[-1] == {"check": "accuracy", "passed": False,
                          "reason": "challenger 84.00% vs champion 90.00% on labelled rows (at most -5.00%)"}


def test_the_canary_report_of_a_regression_shows_the_error():
    figures = {"champion": online("1", 20, 4.0), "challenger": online("2", 20, 5.0)}
    html = render({"decision": "promote", "reason": "canary passed", "figures": figures, "checks": [], "window": "w"})
    assert "<th>mae</th>" in html and "<th>rmse</th>" in html and "<th>accuracy</th>" not in html
    assert ">7.5000<" in html  # the challenger's RMSE


# -- a window end to end: drift of numeric predictions, the Evidently regression section --------


def regression_data(seed: int, n: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(50.0 + shift, 10.0, n)
    z = rng.normal(0.0, 1.0, n)
    return pd.DataFrame({"x": x, "z": z, "target": 3.0 * x + 2.0 * z + rng.normal(0.0, 5.0, n)})


def served(data: pd.DataFrame, error: float, tag: str = "q") -> tuple[pd.DataFrame, dict[str, str]]:
    """The window as logged (predictions as floats, off by ``error``) and its labels as CSV text."""
    ids = [f"{tag}{i}" for i in range(len(data))]
    frame = data[["x", "z"]].assign(request_id=ids, prediction=(data["target"] + error).to_numpy(), model_version="1", timestamp="t")
    return frame.reset_index(drop=True), {rid: f"{t:.6f}" for rid, t in zip(ids, data["target"])}


def test_drift_compares_numeric_predictions_with_a_numeric_training_label():
    reference = regression_data(1, 300)
    current, _ = served(regression_data(2, 200), 0.0)
    _, found = drift_report(reference, current, {"x": "numeric", "z": "numeric"}, label="target", task="regression")
    prediction = found["prediction_drift"]
    assert prediction["stattest"] and "chi" not in prediction["stattest"].lower(), prediction  # a numeric test
    assert prediction["detected"] is False and found["drifted_features"] == []
    shifted, _ = served(regression_data(3, 200, shift=30.0), 0.0)
    _, drifted = drift_report(reference, shifted, {"x": "numeric", "z": "numeric"}, label="target", task="regression")
    assert drifted["prediction_drift"]["detected"] is True and drifted["drifted_features"] == ["x"]


def test_a_regression_window_is_judged_by_its_error(caplog):
    reference = regression_data(1, 300)
    current, labels = served(regression_data(2, 60), 2.5)
    labels.update({"q0": "n/a", "q1": "12,5"})  # labels that are not numbers
    settings = {"label": "target", "min_rows": 30, "min_labels": 20, "task": "regression", "drift_share": 0.5}
    with caplog.at_level(logging.INFO):
        ok = assess(current, reference, labels, {"x": "numeric", "z": "numeric"}, **settings, max_mae=3.0)
    assert ok.verdict["status"] == "ok", ok.verdict["reasons"]
    assert ok.verdict["labelled"] == 58 and ok.verdict["skipped_labels"] == 2
    assert ok.verdict["mae"] == pytest.approx(2.5) and ok.verdict["rmse"] == pytest.approx(2.5)
    assert ok.figures["labelled_by_version"]["1"]["mae"] == pytest.approx(2.5) and ok.figures["by_version"] == {"1": 60}
    assert "Error on the labelled predictions" in ok.html and "mean absolute error" in ok.html
    assert "2 labelled predictions skipped: their label is not a number (e.g. 'n/a', '12,5')" in caplog.text
    assert "mae 2.5 on 58 labelled predictions <= 3; 2 label(s) that are not numbers skipped" in ok.verdict["reasons"]
    bad = assess(current, reference, labels, {"x": "numeric", "z": "numeric"}, **settings, max_mae=2.0)
    assert bad.verdict["status"] == "alert" and bad.verdict["degradation"] is True and bad.verdict["drift"] is False
    unjudged = assess(current, reference, labels, {"x": "numeric", "z": "numeric"}, **settings)
    assert unjudged.verdict["status"] == "ok" and "mae not judged: monitoring.max_mae is not set" in unjudged.verdict["reasons"][1]


def test_a_failing_evidently_regression_section_costs_only_the_section(monkeypatch, caplog):
    from airflow_mlops.runtime.monitoring import assessment

    def broken(*_):
        raise ValueError("no")

    monkeypatch.setattr(assessment, "regression_report", broken)
    current, labels = served(regression_data(2, 40), 1.0)
    with caplog.at_level(logging.WARNING):
        found = assess(current, regression_data(1, 100), labels, {"x": "numeric", "z": "numeric"}, label="target",
                       task="regression", max_mae=0.5, min_labels=20)
    assert found.verdict["status"] == "alert" and found.verdict["mae"] == pytest.approx(1.0)
    assert "no Evidently regression section: ValueError: no" in caplog.text


def test_a_classifier_window_still_reports_accuracy():
    current, labels = window([("a", "1", "x", "x"), ("b", "1", "y", "x")])
    assert classification_figures(current, labels)["accuracy"] == 0.5
