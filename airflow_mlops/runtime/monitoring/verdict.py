"""The verdict on a window: ``ok``, ``alert`` (drift or degradation) or ``no_traffic``, and where
a copy of it goes for sensors to watch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from airflow_mlops.contract import join_uri
from airflow_mlops.contract.layout import verdicts_uri
from airflow_mlops.contract.params import MonitorOptions  # the defaults
from airflow_mlops.contract.tasks import CLASSIFICATION, is_classification
from airflow_mlops.runtime.predictions.partitions import utc_iso

NO_TRAFFIC, OK, ALERT = "no_traffic", "ok", "alert"


def safe_name(timestamp: str | datetime) -> str:
    """A file name for a time: ``2026-01-01T11-00-00Z`` (``.123`` before the ``Z`` for milliseconds)."""
    moment = datetime.fromisoformat(utc_iso(timestamp))
    millis = f".{moment.microsecond // 1000:03d}" if moment.microsecond else ""
    return moment.strftime("%Y-%m-%dT%H-%M-%S") + millis + "Z"


def verdict_uri(artifact_root: str, pipeline: str, window_end: str | datetime) -> str:
    """The copy of a window's verdict under :func:`verdicts_uri`."""
    return join_uri(verdicts_uri(artifact_root, pipeline), f"{safe_name(window_end)}.json")


def verdict(
    figures: Mapping[str, Any],
    drift_share: float,
    must_not_drift: Sequence[str] = (),
    min_rows: int = MonitorOptions.min_rows,
    min_accuracy: float = MonitorOptions.min_accuracy,
    min_labels: int = MonitorOptions.min_labels,
    *,
    task: str = CLASSIFICATION,
    max_mae: float | None = MonitorOptions.max_mae,
) -> dict[str, Any]:
    """The window's verdict.

    :param figures: ``rows`` (predictions in the window), and from :func:`drift_report` and
        :func:`classification_figures` / :func:`regression_figures`: ``drift_share`` (the share
        measured), ``drifted_features``, ``features``, ``accuracy`` or ``mae`` / ``rmse`` /
        ``skipped_labels``, ``labelled``. Without the drift figures (too few rows) nothing about
        drift is judged.
    :param drift_share: drift when at least this share of the features drifted (and one did) ...
    :param must_not_drift: ... or any of these did.
    :param min_rows: fewer predictions: ``no_traffic``, nothing judged.
    :param min_accuracy: classifiers: degradation when accuracy is below this ...
    :param min_labels: ... on at least this many labelled predictions (a regression: whose label
        is a number).
    :param task: ``classification``, ``binary_classification`` or ``regression``.
    :param max_mae: a regression: degradation when the MAE is above this (on at least
        ``min_labels`` labelled predictions); ``None``: the error is reported, not judged.
    :return: ``{"status": "no_traffic" | "ok" | "alert", "drift", "degradation", "reasons",
        "rows", "drift_share", "drifted_features", "accuracy", "labelled", "at", "task"}``, and
        for a regression ``"mae", "rmse", "skipped_labels"`` (``accuracy`` is ``None``).
    """
    rows, labelled, accuracy = int(figures.get("rows", 0)), int(figures.get("labelled") or 0), figures.get("accuracy")
    drifted = list(figures.get("drifted_features") or [])
    base = {"rows": rows, "drift_share": figures.get("drift_share"), "drifted_features": drifted,
            "accuracy": accuracy, "labelled": labelled, "at": datetime.now(UTC).isoformat(timespec="seconds"), "task": task}
    classifier = is_classification(task)
    if not classifier:
        base.update(mae=figures.get("mae"), rmse=figures.get("rmse"), skipped_labels=int(figures.get("skipped_labels") or 0))
    if rows < max(min_rows, 1):
        metric = "accuracy" if classifier else "the error"
        reason = f"only {rows} predictions in the window: at least {min_rows} are needed to judge drift and {metric}"
        return {"status": NO_TRAFFIC, "drift": False, "degradation": False, "reasons": [reason], **base}
    performance = (_accuracy_check(accuracy, labelled, min_accuracy, min_labels) if classifier
                   else _mae_check(base["mae"], labelled, max_mae, min_labels, base["skipped_labels"]))
    checks = [_drift_check(figures, drift_share, must_not_drift), performance]
    drift, degradation = not checks[0][0], not checks[1][0]
    failed = [reason for passed, reason in checks if not passed]
    return {"status": ALERT if failed else OK, "drift": drift, "degradation": degradation,
            "reasons": failed or [reason for _, reason in checks], **base}


def _drift_check(figures: Mapping[str, Any], drift_share: float, must_not_drift: Sequence[str]) -> tuple[bool, str]:
    """(no drift, why)."""
    per_feature = figures.get("features") or {}
    drifted = list(figures.get("drifted_features") or [])
    share = float(figures.get("drift_share") or 0.0)
    judged = sum(1 for f in per_feature.values() if not str(f.get("note", "")).endswith("not tested"))
    named = f": {', '.join(drifted)}" if drifted else ""
    counted = f"{len(drifted)} of {judged} features drifted ({share:.0%}"
    critical = [name for name in must_not_drift if name in drifted]
    if critical:
        return False, f"data drift: must-not-drift feature(s) {', '.join(critical)} drifted; {counted}){named}"
    if drifted and share >= drift_share:
        return False, f"data drift: {counted} >= {drift_share:.0%}){named}"
    return True, f"no data drift: {counted} < {drift_share:.0%}){named}"


def _accuracy_check(accuracy: float | None, labelled: int, min_accuracy: float, min_labels: int) -> tuple[bool, str]:
    """(no degradation, why)."""
    if accuracy is None or labelled < min_labels:
        return True, f"accuracy not judged: {labelled} labelled predictions (at least {min_labels} are needed)"
    if accuracy < min_accuracy:
        return False, f"performance degradation: accuracy {accuracy:.1%} on {labelled} labelled predictions < {min_accuracy:.1%}"
    return True, f"accuracy {accuracy:.1%} on {labelled} labelled predictions >= {min_accuracy:.1%}"


def _mae_check(mae: float | None, labelled: int, max_mae: float | None, min_labels: int, skipped: int) -> tuple[bool, str]:
    """(no degradation, why), for a regression."""
    skipped_text = f"; {skipped} label(s) that are not numbers skipped" if skipped else ""
    measured = f"mae {mae:.4g} on {labelled} labelled predictions" if mae is not None else f"{labelled} labelled predictions"
    if max_mae is None:
        return True, f"mae not judged: monitoring.max_mae is not set ({measured}{skipped_text})"
    if mae is None or labelled < min_labels:
        return True, f"mae not judged: {labelled} labelled predictions (at least {min_labels} are needed){skipped_text}"
    if mae > max_mae:
        return False, f"performance degradation: {measured} > {max_mae:.4g}{skipped_text}"
    return True, f"{measured} <= {max_mae:.4g}{skipped_text}"
