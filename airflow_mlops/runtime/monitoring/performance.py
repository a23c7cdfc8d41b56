"""How well the served models did: accuracy on the predictions whose labels have arrived
(:func:`classification_figures`, :func:`classification_report`) and a model version's online
figures - errors, latency, accuracy - for canary analysis (:func:`version_figures`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_mlops.runtime.predictions.feedback import labelled_rows
from airflow_mlops.runtime.predictions.reader import ERROR_COLUMN, LABEL_COLUMN

if TYPE_CHECKING:
    import pandas as pd


def classification_figures(current: pd.DataFrame, labels: Mapping[str, str]) -> dict[str, Any]:
    """Accuracy on the predictions of ``current`` whose ``request_id`` has a label, overall, per
    true class (recall) and per model version.

    :return: ``{"labelled", "correct", "accuracy" (None without labels), "per_class",
        "by_version"}``.
    """
    rows = labelled_rows(current, labels)
    correct = rows["prediction"].astype(str) == rows[LABEL_COLUMN].astype(str)

    def accuracy_of(mask) -> dict[str, Any]:
        n = int(mask.sum())
        return {"labelled": n, "accuracy": float(correct[mask].mean()) if n else None}

    return {
        "labelled": len(rows),
        "correct": int(correct.sum()),
        "accuracy": float(correct.mean()) if len(rows) else None,
        "per_class": {str(c): accuracy_of(rows[LABEL_COLUMN] == c) for c in sorted(rows[LABEL_COLUMN].unique())},
        "by_version": {str(v): accuracy_of(rows["model_version"] == v) for v in sorted(rows["model_version"].dropna().unique())},
    }


def classification_report(current: pd.DataFrame, labels: Mapping[str, str]):
    """Evidently's ClassificationPreset on the labelled predictions, or ``None`` without any."""
    from evidently import DataDefinition, Dataset, MulticlassClassification, Report
    from evidently.presets import ClassificationPreset

    rows = labelled_rows(current, labels)
    if rows.empty:
        return None
    data = rows[[LABEL_COLUMN, "prediction"]].astype(str)
    definition = DataDefinition(
        categorical_columns=[LABEL_COLUMN, "prediction"],
        classification=[MulticlassClassification(target=LABEL_COLUMN, prediction_labels="prediction")],
    )
    return Report([ClassificationPreset()]).run(current_data=Dataset.from_pandas(data, data_definition=definition), reference_data=None)


# -- a model version's online figures (canary analysis) ----------------------------------------

#: The columns :func:`version_figures` needs besides the frame's own: read the log with
#: ``read_prediction_frame(root, {}, since, columns=ONLINE_COLUMNS, errors=True)``.
ONLINE_COLUMNS = {"latency_ms": "numeric"}


def percentile(values: list[float], q: float) -> float | None:
    """The nearest-rank ``q``-th percentile of ``values`` (``None`` without any)."""
    import math

    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def version_figures(frame: pd.DataFrame, version: str, labels: Mapping[str, str]) -> dict[str, Any]:
    """Predictions, errors, error rate, p50/p95 latency and, on the rows whose label has
    arrived, accuracy, for one model version.

    :param frame: the prediction log with its error records and :data:`ONLINE_COLUMNS`
        (:func:`~airflow_mlops.runtime.predictions.reader.read_prediction_frame`).
    """
    rows = frame[frame["model_version"] == version]
    failed = rows[ERROR_COLUMN].notna()
    answered = rows[~failed]
    latencies = [float(v) for v in answered["latency_ms"].fillna(0.0)]
    truth = answered["request_id"].map(dict(labels))
    known = truth.notna()
    served, errors, labelled = len(answered), int(failed.sum()), int(known.sum())
    correct = int((truth[known] == answered["prediction"][known]).sum())
    total = served + errors
    return {
        "version": version,
        "predictions": served,
        "errors": errors,
        "error_rate": errors / total if total else 0.0,
        "latency_p50_ms": percentile(latencies, 50),
        "latency_p95_ms": percentile(latencies, 95),
        "labelled": labelled,
        "accuracy": correct / labelled if labelled else None,
    }
