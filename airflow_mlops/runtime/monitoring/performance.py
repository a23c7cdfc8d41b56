"""How well the served models did on the predictions whose labels have arrived, per task:
accuracy for classifiers (:func:`classification_figures`, :func:`classification_report`), the
error - MAE, RMSE - for a regression (:func:`regression_figures`, :func:`regression_report`); and
a model version's online figures - errors, latency, the task's online metric - for canary
analysis (:func:`version_figures`).

A regression's labels arrive as text (``request_id,label`` CSV): a label that is not a number
(:func:`~airflow_mlops.runtime.predictions.feedback.as_number`) is skipped and counted in
``skipped_labels``, a logged prediction that is not one in ``skipped_predictions``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_mlops.contract.tasks import CLASSIFICATION, is_classification
from airflow_mlops.runtime.predictions import BATCH_ROLE
from airflow_mlops.runtime.predictions.feedback import as_number, labelled_rows
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


def regression_figures(current: pd.DataFrame, labels: Mapping[str, str]) -> dict[str, Any]:
    """The error of the predictions of ``current`` whose ``request_id`` has a label that is a
    number, overall and per model version.

    :return: ``{"labelled" (predictions with a number for a label and a number predicted), "mae",
        "rmse" (None without any), "skipped_labels", "skipped_predictions",
        "skipped_label_examples" (up to 5 of the label texts that are not numbers), "by_version":
        {version: {"labelled", "mae", "rmse"}}}``.
    """
    rows, skipped = numeric_rows(labelled_rows(current, labels))
    return {
        **_error_figures(rows),
        **skipped,
        "by_version": {str(v): _error_figures(rows[rows["model_version"] == v]) for v in sorted(rows["model_version"].dropna().unique())},
    }


def numeric_rows(rows: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The labelled rows (:func:`~airflow_mlops.runtime.predictions.feedback.labelled_rows`) whose
    label and prediction are both numbers, as float64, and what was skipped: ``{"skipped_labels",
    "skipped_predictions", "skipped_label_examples"}``."""
    import pandas as pd

    truth = pd.Series([as_number(v) for v in rows[LABEL_COLUMN]], index=rows.index, dtype="float64")
    predicted = pd.Series([as_number(v) for v in rows["prediction"]], index=rows.index, dtype="float64")
    bad_label = truth.isna()
    bad_prediction = ~bad_label & predicted.isna()
    usable = ~bad_label & ~bad_prediction
    examples = list(dict.fromkeys(str(v) for v in rows.loc[bad_label, LABEL_COLUMN]))[:5]
    out = rows.loc[usable].assign(**{LABEL_COLUMN: truth[usable], "prediction": predicted[usable]}).reset_index(drop=True)
    return out, {"skipped_labels": int(bad_label.sum()), "skipped_predictions": int(bad_prediction.sum()),
                 "skipped_label_examples": examples}


def _error_figures(rows: pd.DataFrame) -> dict[str, Any]:
    """``{"labelled", "mae", "rmse"}`` of numeric rows (:func:`numeric_rows`)."""
    import math

    error = rows["prediction"] - rows[LABEL_COLUMN]
    n = len(error)
    return {"labelled": n, "mae": float(error.abs().mean()) if n else None,
            "rmse": math.sqrt(float((error**2).mean())) if n else None}


def regression_report(current: pd.DataFrame, labels: Mapping[str, str]):
    """Evidently's RegressionPreset on the predictions whose label and prediction are numbers, or
    ``None`` without any."""
    from evidently import DataDefinition, Dataset, Regression, Report
    from evidently.presets import RegressionPreset

    rows, _ = numeric_rows(labelled_rows(current, labels))
    if rows.empty:
        return None
    definition = DataDefinition(
        numerical_columns=[LABEL_COLUMN, "prediction"],
        regression=[Regression(target=LABEL_COLUMN, prediction="prediction")],
    )
    data = rows[[LABEL_COLUMN, "prediction"]]
    return Report([RegressionPreset()]).run(current_data=Dataset.from_pandas(data, data_definition=definition), reference_data=None)


# -- a model version's online figures (canary analysis) ----------------------------------------

#: The columns :func:`version_figures` needs besides the frame's own: read the log with
#: ``read_prediction_frame(root, {}, since, columns=ONLINE_COLUMNS, errors=True)``.
ONLINE_COLUMNS = {"latency_ms": "numeric", "model_role": "categorical"}


def percentile(values: list[float], q: float) -> float | None:
    """The nearest-rank ``q``-th percentile of ``values`` (``None`` without any)."""
    import math

    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def version_figures(frame: pd.DataFrame, version: str, labels: Mapping[str, str], task: str = CLASSIFICATION) -> dict[str, Any]:
    """Predictions, errors, error rate, p50/p95 latency and, on the rows whose label has
    arrived, the task's online metric, for one model version: ``accuracy`` for classifiers;
    ``mae`` and ``rmse`` for a regression (``labelled`` counts the rows whose label and
    prediction are numbers, ``skipped_labels`` those whose label is not).

    :param frame: the prediction log with its error records and :data:`ONLINE_COLUMNS`
        (:func:`~airflow_mlops.runtime.predictions.reader.read_prediction_frame`).
    """
    rows = frame[frame["model_version"] == version]
    if "model_role" in rows.columns:  # batch predictions have no latency and are not the canary's traffic
        rows = rows[rows["model_role"] != BATCH_ROLE]
    failed = rows[ERROR_COLUMN].notna()
    answered = rows[~failed]
    latencies = [float(v) for v in answered["latency_ms"].fillna(0.0)]
    served, errors = len(answered), int(failed.sum())
    online = {
        "version": version,
        "predictions": served,
        "errors": errors,
        "error_rate": errors / (served + errors) if served + errors else 0.0,
        "latency_p50_ms": percentile(latencies, 50),
        "latency_p95_ms": percentile(latencies, 95),
    }
    if not is_classification(task):
        rows, skipped = numeric_rows(labelled_rows(answered, labels))
        return {**online, **_error_figures(rows), "skipped_labels": skipped["skipped_labels"]}
    truth = answered["request_id"].map(dict(labels))
    known = truth.notna()
    labelled = int(known.sum())
    correct = int((truth[known] == answered["prediction"][known]).sum())
    return {**online, "labelled": labelled, "accuracy": correct / labelled if labelled else None}
