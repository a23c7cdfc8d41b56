"""The prediction log per task: a regression's predictions are numbers, written and read back as
numbers by both readers; classes stay strings; a window mixing both keeps each as logged."""

from __future__ import annotations

import json

import pandas as pd

from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.runtime.predictions.reader import prediction_frame, read_prediction_frame, read_predictions
from airflow_mlops.runtime.predictions.writer import PredictionLogger

FEATURES = {"bmi": "numeric", "group": "categorical"}


def regression_record(i: int, prediction, hour: int = 10) -> dict:
    return {"timestamp": f"2026-05-01T{hour:02d}:{i % 60:02d}:00.000+00:00", "request_id": f"r{hour}-{i}",
            "features": {"bmi": 0.01 * i, "group": "high" if i % 2 else "low"}, "prediction": prediction,
            "model_version": "1", "model_role": "champion", "latency_ms": 2.0, "batch_rows": 1}


def write(root: str, records: list[dict]) -> None:
    logger = PredictionLogger(root, flush_rows=10, flush_seconds=0.05)
    logger.log(records)
    logger.close()
    assert logger.written == len(records) and logger.failed_writes == 0


def test_regression_predictions_are_numbers_in_both_readers(tmp_path):
    root = f"file://{tmp_path}/log"
    records = [regression_record(i, 100.0 + i * 1.5) for i in range(30)]
    records[3]["prediction"] = 152  # a whole number is still a number
    records.append({"timestamp": "2026-05-01T10:59:00.000+00:00", "request_id": "e", "model_version": "1",
                    "model_role": "challenger", "error": "boom"})
    write(root, records)
    raw = read_predictions(root)
    assert all(isinstance(r["prediction"], (int, float)) for r in raw if "error" not in r)
    assert all("probabilities" not in r for r in raw)

    fast = read_prediction_frame(root, FEATURES)
    slow = prediction_frame(raw, FEATURES)
    assert fast["prediction"].dtype == "float64" and slow["prediction"].dtype == "float64"
    key = ["request_id"]
    pd.testing.assert_frame_equal(fast.sort_values(key).reset_index(drop=True), slow.sort_values(key).reset_index(drop=True))
    assert fast.set_index("request_id").loc["r10-3", "prediction"] == 152.0
    assert fast.set_index("request_id").loc["r10-4", "prediction"] == 106.0
    # with the error records (no prediction) kept, and a file holding only an error record
    ArtifactStore().write_text(f"{root}/date=2026-05-01/hour=11/part-err.jsonl", json.dumps(
        {"timestamp": "2026-05-01T11:00:00.000+00:00", "request_id": "e2", "model_version": "1", "error": "boom"}) + "\n")
    with_errors = read_prediction_frame(root, FEATURES, errors=True)
    assert with_errors["prediction"].dtype == "float64" and with_errors["prediction"].isna().sum() == 2 and len(with_errors) == 32


def test_a_non_finite_prediction_is_logged_as_null_without_losing_the_batch(tmp_path):
    root = f"file://{tmp_path}/log"
    write(root, [regression_record(0, 1.0), regression_record(1, float("nan")), regression_record(2, float("inf"))])
    assert [r["prediction"] for r in sorted(read_predictions(root), key=lambda r: r["request_id"])] == [1.0, None, None]


def test_classes_stay_strings_and_a_mixed_window_keeps_each_as_logged(tmp_path):
    root = f"file://{tmp_path}/log"
    classes = [{**regression_record(i, "1" if i % 2 else "0", hour=9), "probabilities": {"0": 0.5, "1": 0.5}} for i in range(5)]
    write(root, classes)
    frame = read_prediction_frame(root, FEATURES)
    assert frame["prediction"].dtype == object and set(frame["prediction"]) == {"0", "1"}  # numeric-looking classes too

    write(root, [regression_record(i, 10.0 + i) for i in range(5)])  # the task changed at 10:00
    mixed = read_prediction_frame(root, FEATURES).sort_values("timestamp")
    assert mixed["prediction"].tolist() == ["0", "1", "0", "1", "0", 10.0, 11.0, 12.0, 13.0, 14.0]
    slow = prediction_frame(read_predictions(root), FEATURES).sort_values("timestamp")
    assert slow["prediction"].tolist() == mixed["prediction"].tolist()
