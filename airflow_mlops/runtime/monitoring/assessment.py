"""One window of predictions, end to end, as the ``monitor`` component does it: drift, the task's
performance on the labelled predictions (accuracy, or a regression's MAE/RMSE), the verdict and
the HTML report."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_mlops.contract.params import MonitorOptions  # the defaults
from airflow_mlops.contract.tasks import CLASSIFICATION, is_classification
from airflow_mlops.runtime.monitoring.drift import MAX_DRIFT_ROWS, drift_report
from airflow_mlops.runtime.monitoring.performance import (
    classification_figures,
    classification_report,
    regression_figures,
    regression_report,
)
from airflow_mlops.runtime.monitoring.report import render_html
from airflow_mlops.runtime.monitoring.verdict import verdict

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Assessment:
    """What :func:`assess` found: ``figures`` for ``metrics.json``, the ``verdict``, the report's ``html``."""

    figures: dict[str, Any]
    verdict: dict[str, Any]
    html: str


def assess(
    current: pd.DataFrame,
    reference: pd.DataFrame,
    labels: Mapping[str, str],
    features: Mapping[str, str],
    *,
    label: str | None = None,
    drift_share: float = MonitorOptions.drift_share,
    must_not_drift: Sequence[str] = (),
    min_rows: int = MonitorOptions.min_rows,
    min_accuracy: float = MonitorOptions.min_accuracy,
    min_labels: int = MonitorOptions.min_labels,
    task: str = CLASSIFICATION,
    max_mae: float | None = MonitorOptions.max_mae,
    max_rows: int = MAX_DRIFT_ROWS,
    context: Mapping[str, Any] | None = None,
    logger: logging.Logger | None = None,
) -> Assessment:
    """Drift, performance (accuracy; a regression: MAE and RMSE), verdict and HTML report of one
    window of predictions.

    :param current: the window (:func:`~airflow_mlops.runtime.predictions.reader.read_prediction_frame`).
    :param reference: the champion's training data (features, and ``label``).
    :param labels: ``{request_id: label}`` that have arrived (text; a regression's that are not
        numbers are skipped and counted).
    :param task: what the model predicts; ``min_accuracy`` judges classifiers, ``max_mae`` a
        regression (see :func:`~.verdict.verdict`).
    :param context: facts for the figures and the report's header (window, champion version, ...).
    """
    logger = logger or log
    figures: dict[str, Any] = {**(context or {}), "task": task, "rows": len(current), "by_version": _counts(current, "model_version")}
    logger.info("%d predictions in the window %s", len(current), _by_version_text(figures["by_version"]))
    snapshots = []
    if len(current) >= max(min_rows, 1):
        snapshot, drift = drift_report(reference, current, features, drift_share, label=label, max_rows=max_rows, task=task)
        figures.update(drift, sampled=drift["tested_rows"] < len(current))
        _log_drift(logger, figures, len(current))
        snapshots.append(("Data drift: the window vs the champion's training data", snapshot))
    else:
        logger.info("fewer than %d predictions: no drift test", min_rows)
    classifier = is_classification(task)
    performance = classification_figures(current, labels) if classifier else regression_figures(current, labels)
    # Per-version figures of the labelled predictions; ``by_version`` stays the predictions' count.
    figures.update({k: v for k, v in performance.items() if k != "by_version"}, labelled_by_version=performance["by_version"])
    _log_performance(logger, figures, classifier)
    if figures["labelled"] and len(current) >= max(min_rows, 1):
        title = "Accuracy on the labelled predictions" if classifier else "Error on the labelled predictions"
        snapshots.append((title, _optional_report(current, labels, classifier, logger)))
    result = verdict(figures, drift_share, must_not_drift, min_rows, min_accuracy, min_labels, task=task, max_mae=max_mae)
    logger.info("verdict: %s - %s", result["status"].upper(), "; ".join(result["reasons"]))
    return Assessment(figures=figures, verdict=result, html=render_html(result, figures, snapshots))


def _counts(frame: pd.DataFrame, column: str) -> dict[str, int]:
    return {str(k): int(v) for k, v in frame[column].value_counts().sort_index().items()} if len(frame) else {}


def _by_version_text(by_version: Mapping[str, int]) -> str:
    return "(" + ", ".join(f"version {v}: {n}" for v, n in by_version.items()) + ")" if by_version else ""


def _log_drift(logger: logging.Logger, figures: Mapping[str, Any], rows: int) -> None:
    if figures["sampled"]:
        logger.info("drift tests on a random sample of %d of the %d rows (the reference has %d rows)",
                    figures["tested_rows"], rows, figures["reference_rows"])
    for name, f in figures["features"].items():
        state = "DRIFT" if f["detected"] else "ok"
        if f["stattest"]:
            logger.info("  %-24s %-5s %s %s (threshold %s)", name, state, f["stattest"], _g(f["score"]), f["threshold"])
        else:
            logger.info("  %-24s %-5s %s", name, state, f["note"])
    prediction = figures.get("prediction_drift")
    if prediction:
        logger.info("  %-24s %-5s %s %s (for information: predictions vs training labels)", "(predictions)",
                    "DRIFT" if prediction["detected"] else "ok", prediction["stattest"], _g(prediction["score"]))
    logger.info("drifted features: %d of %d (%.0f%%)%s", len(figures["drifted_features"]), len(figures["features"]),
                100 * figures["drift_share"], ": " + ", ".join(figures["drifted_features"]) if figures["drifted_features"] else "")


def _g(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _log_performance(logger: logging.Logger, figures: Mapping[str, Any], classifier: bool) -> None:
    if figures.get("skipped_labels"):
        logger.warning("labels: %d labelled predictions skipped: their label is not a number (e.g. %s)",
                       figures["skipped_labels"], ", ".join(repr(t) for t in figures.get("skipped_label_examples") or []))
    if figures.get("skipped_predictions"):
        logger.warning("labels: %d labelled predictions skipped: the logged prediction is not a number", figures["skipped_predictions"])
    if not figures["labelled"]:
        logger.info("labels: none of the window's predictions has a usable label yet")
    elif classifier:
        logger.info("labels: %d predictions labelled, accuracy %.4f", figures["labelled"], figures["accuracy"])
    else:
        logger.info("labels: %d predictions labelled, mae %.4g, rmse %.4g", figures["labelled"], figures["mae"], figures["rmse"])


def _optional_report(current: pd.DataFrame, labels: Mapping[str, str], classifier: bool, logger: logging.Logger):
    """The Evidently classification or regression report; a failure of it (a single class, ...)
    costs the report's section, not the verdict, whose figures are computed separately."""
    kind = "classification" if classifier else "regression"
    try:
        return classification_report(current, labels) if classifier else regression_report(current, labels)
    except Exception as exc:  # noqa: BLE001 - an optional section of the report
        logger.warning("no Evidently %s section: %s: %s", kind, type(exc).__name__, exc)
        return None
