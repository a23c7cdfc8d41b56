"""Prediction-log records of penguin rows, written as the prediction server writes them."""

from __future__ import annotations

import pandas as pd
from pipeline_helpers import FEATURES, LABEL

from airflow_mlops.runtime.predictions.writer import PredictionLogger

SPECIES = ("Adelie", "Chinstrap", "Gentoo")


def record(row: pd.Series, request_id: str, timestamp: str, prediction: str | None = None) -> dict:
    """A prediction-log record of one penguin row, as the server writes it; the prediction is the
    true species unless given (the champion is ~98% accurate on these rows anyway)."""
    features = {name: (None if pd.isna(row[name]) else row[name]) for name in FEATURES}
    prediction = prediction or row[LABEL]
    return {"timestamp": timestamp, "request_id": request_id, "features": features, "prediction": prediction,
            "probabilities": {c: float(c == prediction) for c in SPECIES}, "model_version": "1", "model_role": "champion",
            "latency_ms": 3.5, "batch_rows": 1}


def log_records(root: str, records: list[dict]) -> None:
    logger = PredictionLogger(root, flush_rows=25, flush_seconds=0.05)
    logger.log(records)
    logger.close()
    assert logger.written == len(records) and logger.failed_writes == 0
