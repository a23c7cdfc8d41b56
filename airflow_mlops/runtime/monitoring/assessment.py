"""One window of predictions, end to end, as the ``monitor`` component does it: drift, accuracy,
the verdict and the HTML report."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_mlops.contract.params import MonitorOptions  # the defaults
from airflow_mlops.runtime.monitoring.drift import MAX_DRIFT_ROWS, drift_report
from airflow_mlops.runtime.monitoring.performance import classification_figures, classification_report
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
    max_rows: int = MAX_DRIFT_ROWS,
    context: Mapping[str, Any] | None = None,
    logger: logging.Logger | None = None,
) -> Assessment:
    """Drift, accuracy, verdict and HTML report of one window of predictions.

    :param current: the window (:func:`~airflow_mlops.runtime.predictions.reader.read_prediction_frame`).
    :param reference: the champion's training data (features, and ``label``).
    :param labels: ``{request_id: label}`` that have arrived.
    :param context: facts for the figures and the report's header (window, champion version, ...).
    """
    logger = logger or log
    figures: dict[str, Any] = {**(context or {}), "rows": len(current), "by_version": _counts(current, "model_version")}
    logger.info("%d predictions in the window %s", len(current), _by_version_text(figures["by_version"]))
    snapshots = []
    if len(current) >= max(min_rows, 1):
        snapshot, drift = drift_report(reference, current, features, drift_share, label=label, max_rows=max_rows)
        figures.update(drift, sampled=drift["tested_rows"] < len(current))
        _log_drift(logger, figures, len(current))
        snapshots.append(("Data drift: the window vs the champion's training data", snapshot))
    else:
        logger.info("fewer than %d predictions: no drift test", min_rows)
    figures.update(classification_figures(current, labels))
    _log_accuracy(logger, figures)
    if figures["labelled"] and len(current) >= max(min_rows, 1):
        snapshots.append(("Accuracy on the labelled predictions", _optional_classification_report(current, labels, logger)))
    result = verdict(figures, drift_share, must_not_drift, min_rows, min_accuracy, min_labels)
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


def _log_accuracy(logger: logging.Logger, figures: Mapping[str, Any]) -> None:
    if figures["labelled"]:
        logger.info("labels: %d predictions labelled, accuracy %.4f", figures["labelled"], figures["accuracy"])
    else:
        logger.info("labels: none of the window's predictions has a label yet")


def _optional_classification_report(current: pd.DataFrame, labels: Mapping[str, str], logger: logging.Logger):
    """The Evidently classification report; a failure of it (a single class, ...) costs the
    report's section, not the verdict, whose figures are computed separately."""
    try:
        return classification_report(current, labels)
    except Exception as exc:  # noqa: BLE001 - an optional section of the report
        logger.warning("no Evidently classification section: %s: %s", type(exc).__name__, exc)
        return None
