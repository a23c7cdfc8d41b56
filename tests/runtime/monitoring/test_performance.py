"""A model version's online figures, from the prediction log read as a frame."""

from __future__ import annotations

import math

import pytest

from airflow_mlops.runtime.monitoring.performance import ONLINE_COLUMNS, version_figures
from airflow_mlops.runtime.predictions.reader import read_prediction_frame, read_predictions
from airflow_mlops.runtime.predictions.writer import PredictionLogger


def figures_of_records(records, version, labels):
    """What canary analysis computed from the records before it read the log as a frame."""
    served = errors = labelled = correct = 0
    latencies = []
    for r in records:
        if r.get("model_version") != version:
            continue
        if "error" in r:
            errors += 1
            continue
        served += 1
        latencies.append(float(r.get("latency_ms", 0.0)))
        label = labels.get(r["request_id"])
        if label is not None:
            labelled += 1
            correct += label == r["prediction"]

    def percentile(q):
        ordered = sorted(latencies)
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))] if ordered else None

    total = served + errors
    return {"version": version, "predictions": served, "errors": errors, "error_rate": errors / total if total else 0.0,
            "latency_p50_ms": percentile(50), "latency_p95_ms": percentile(95), "labelled": labelled,
            "accuracy": correct / labelled if labelled else None}


@pytest.mark.parametrize("version", ["1", "2", "3"])
def test_version_figures_of_the_frame_are_those_of_the_records(tmp_path, version):
    root = f"file://{tmp_path}/log"
    records = []
    for i in range(300):
        v = "1" if i % 3 else "2"
        stamp = f"2026-07-01T{10 + i // 100:02d}:{i % 60:02d}:00.000+00:00"
        if i % 17 == 0:
            records.append({"timestamp": stamp, "request_id": f"r{i}", "model_version": v, "model_role": "x", "error": "boom"})
        else:
            record = {"timestamp": stamp, "request_id": f"r{i}", "features": {"a": i}, "prediction": "A" if i % 4 else "B",
                      "model_version": v, "model_role": "x", "batch_rows": 1}
            if i % 11:
                record["latency_ms"] = float(i % 23) + 0.5
            records.append(record)
    logger = PredictionLogger(root, flush_rows=50, flush_seconds=0.05)
    logger.log(records)
    logger.close()
    labels = {f"r{i}": "A" if i % 5 else "B" for i in range(0, 300, 2)}
    since = "2026-07-01T10:30:00.000+00:00"
    frame = read_prediction_frame(root, {}, since=since, columns=ONLINE_COLUMNS, errors=True)
    expected = figures_of_records(read_predictions(root, since=since), version, labels)
    assert version_figures(frame, version, labels) == expected
    assert version == "3" or expected["errors"] and expected["labelled"]


def test_batch_predictions_are_not_the_canary_s_traffic(tmp_path):
    """A batch prediction by the champion (no latency) must not count as its served requests."""
    root = f"file://{tmp_path}/log"
    stamp = "2026-07-01T10:00:00.000+00:00"
    served = [{"timestamp": stamp, "request_id": f"s{i}", "features": {}, "prediction": "A", "model_version": "1",
               "model_role": "champion", "latency_ms": 10.0 + i} for i in range(10)]
    batch = [{"timestamp": stamp, "request_id": f"b{i}", "features": {}, "prediction": "B", "model_version": "1",
              "model_role": "batch"} for i in range(1000)]
    logger = PredictionLogger(root, flush_rows=500, flush_seconds=0.05)
    logger.log(served + batch)
    logger.close()
    frame = read_prediction_frame(root, {}, columns=ONLINE_COLUMNS, errors=True)
    figures = version_figures(frame, "1", {"s1": "A", "b1": "A"})
    assert figures["predictions"] == 10 and figures["latency_p50_ms"] == 14.0
    assert figures["labelled"] == 1 and figures["accuracy"] == 1.0
