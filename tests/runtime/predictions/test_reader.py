"""The one reader of the prediction log: columnar (pyarrow) and as records, the same window."""

from __future__ import annotations

import json

import pandas as pd
from log_helpers import log_records, record
from pipeline_helpers import FEATURES

from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.runtime.predictions.partitions import utc_iso
from airflow_mlops.runtime.predictions.reader import prediction_frame, read_prediction_frame, read_predictions


def test_the_fast_reader_returns_what_the_record_reader_does(tmp_path, penguins_csv):
    rows = pd.read_csv(penguins_csv).head(120)
    root = f"file://{tmp_path}/log"
    records = [record(row, f"r{i}", f"2026-05-01T{9 + i // 40:02d}:{i % 60:02d}:00.000+00:00") for i, (_, row) in enumerate(rows.iterrows())]
    records.append({"timestamp": "2026-05-01T10:10:00.000+00:00", "request_id": "e", "model_version": "2", "error": "boom"})
    log_records(root, records)
    # A file pyarrow cannot type (a number for a categorical feature) is read record by record.
    odd = {**records[50], "request_id": "odd", "features": {**records[50]["features"], "island": 7}}
    ArtifactStore().write_text(f"{root}/date=2026-05-01/hour=10/part-odd.jsonl", json.dumps(odd) + "\n")
    since, until = utc_iso("2026-05-01T09:30:00Z"), utc_iso("2026-05-01T11:00:00")
    fast = read_prediction_frame(root, FEATURES, since, until)
    slow = prediction_frame(read_predictions(root, since, until), FEATURES)
    key = ["timestamp", "request_id"]
    pd.testing.assert_frame_equal(fast.sort_values(key).reset_index(drop=True), slow.sort_values(key).reset_index(drop=True))
    expected = sum(1 for r in records if since <= r["timestamp"] < until and "error" not in r) + 1  # + odd
    assert len(fast) == expected == 51 and "e" not in set(fast["request_id"])
    assert fast.loc[fast["request_id"] == "odd", "island"].item() == "7"
    assert fast["body_mass_g"].dtype == "float64" and fast["island"].dtype == object
