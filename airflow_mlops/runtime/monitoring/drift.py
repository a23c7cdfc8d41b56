"""Data drift of a window of predictions vs the champion's training data (Evidently), per feature.

Sampling: Evidently picks p-value tests (K-S, chi-square, Z) when the reference has at most
1000 rows, and its chi-square test takes the reference's proportions as exact. Against a window
much bigger than the reference it then reports the reference's own sampling noise as drift
(penguins: 240 reference rows, a window of 5000 rows drawn from the same population -> island
"drifted" in 84% of trials). So the drift tests compare the window with the reference at most
row for row: a window bigger than the reference is sampled down to the reference's size (and
both to ``max_rows``, which also bounds Evidently's cost). Row counts and accuracy always use
the whole window (:mod:`.performance`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_mlops.contract.tasks import CLASSIFICATION, is_classification
from airflow_mlops.runtime.predictions.reader import typed

if TYPE_CHECKING:
    import pandas as pd

#: Drift tests use at most this many rows of the window and of the reference.
MAX_DRIFT_ROWS = 100_000


def drift_sample_size(reference_rows: int, max_rows: int = MAX_DRIFT_ROWS) -> int:
    """How many window rows the drift tests use at most: the reference's size, capped (see the
    module's docstring)."""
    return max(1, min(reference_rows, max_rows))


def drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    features: Mapping[str, str],
    drift_share: float = 0.5,
    label: str | None = None,
    max_rows: int = MAX_DRIFT_ROWS,
    seed: int = 0,
    task: str = CLASSIFICATION,
):
    """Evidently's data drift of each feature, ``current`` (the window) vs ``reference``.

    :param drift_share: what Evidently's own dataset-drift test in the report uses.
    :param label: the label column of ``reference``; when given, the report also shows the drift
        of the predictions vs the training labels (for information: it is not a feature) - as
        categories for classifiers, as numbers for a regression (``task``; a label or prediction
        that is not a number counts as missing there).
    :param max_rows: the drift tests use at most this many rows of either side (random samples).
    :return: ``(snapshot, figures)``: the Evidently snapshot (``None`` when no feature could be
        tested) and ``{"features": {name: {"type", "detected", "stattest", "threshold", "score",
        "note"}}, "drifted_features", "drift_share", "tested_rows" (of the window),
        "reference_rows", "prediction_drift"}``. A feature with no value at all in the window counts
        as drifted (the clients stopped sending it); one with none in the reference is not tested.
    """
    missing = [name for name in features if name not in reference.columns]
    if missing:
        raise ValueError(f"the reference has no column(s) {missing}")
    reference_rows = len(reference)
    reference = typed(_sample(reference, max_rows, seed), features)
    current = _sample(current, drift_sample_size(len(reference), max_rows), seed)
    current = typed(current[[*features, *(["prediction"] if "prediction" in current.columns else [])]], features)
    if label and label in reference.columns and "prediction" in current.columns:
        # What the prediction drift compares: categories (classifiers) or numbers (a regression).
        kind = "categorical" if is_classification(task) else "numeric"
        reference = typed(reference, {label: kind})
        current = typed(current, {"prediction": kind})
    per_feature: dict[str, dict[str, Any]] = {}
    tested = []
    for name, kind in features.items():
        if not reference[name].notna().any():
            per_feature[name] = _untested(kind, False, "no values in the reference: not tested")
        elif not current[name].notna().any():
            per_feature[name] = _untested(kind, True, "no values in the window")
        else:
            tested.append(name)
    with_prediction = (bool(label) and label in reference.columns and "prediction" in current.columns
                       and reference[label].notna().any() and current["prediction"].notna().any())
    snapshot = (_run_drift(reference, current, {n: features[n] for n in tested}, drift_share, label if with_prediction else None,
                           numeric_prediction=not is_classification(task)) if tested else None)
    results = _value_drifts(snapshot) if snapshot is not None else {}
    for name in tested:
        found = results.get(name) or {"detected": False, "stattest": None, "threshold": None, "score": None,
                                      "note": "Evidently returned no result: not tested"}
        per_feature[name] = {"type": features[name], **found}
    judged = [n for n, f in per_feature.items() if not f["note"].endswith("not tested")]
    drifted = [n for n in judged if per_feature[n]["detected"]]
    return snapshot, {
        "features": per_feature,
        "drifted_features": drifted,
        "drift_share": len(drifted) / len(judged) if judged else 0.0,
        "tested_rows": len(current),
        "reference_rows": reference_rows,
        "prediction_drift": results.get("prediction"),
    }


def _sample(frame: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    return frame.sample(n=rows, random_state=seed) if len(frame) > rows else frame


def _untested(kind: str, detected: bool, note: str) -> dict[str, Any]:
    return {"type": kind, "detected": detected, "stattest": None, "threshold": None, "score": None, "note": note}


def _run_drift(reference: pd.DataFrame, current: pd.DataFrame, features: Mapping[str, str], drift_share: float, label: str | None,
               numeric_prediction: bool = False):
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift
    from evidently.presets import DataDriftPreset

    names = list(features)
    numeric = [n for n in names if features[n] == "numeric"]
    categorical = [n for n in names if features[n] != "numeric"]
    ref, cur = reference[names].copy(), current[names].copy()
    metrics: list[Any] = [DataDriftPreset(columns=names, drift_share=drift_share)]
    if label:  # typed by drift_report: strings, or float64 for a regression
        ref["prediction"] = reference[label]
        cur["prediction"] = current["prediction"]
        if numeric_prediction:
            numeric = [*numeric, "prediction"]
        else:
            categorical = [*categorical, "prediction"]
        metrics.append(ValueDrift(column="prediction"))
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    return Report(metrics, include_tests=True).run(
        current_data=Dataset.from_pandas(cur.reset_index(drop=True), data_definition=definition),
        reference_data=Dataset.from_pandas(ref.reset_index(drop=True), data_definition=definition),
    )


def _value_drifts(snapshot) -> dict[str, dict[str, Any]]:
    """``{column: {"detected", "stattest", "threshold", "score", "note"}}`` from a snapshot's
    ``ValueDrift`` metrics (score, method, threshold) and their tests (``FAIL`` = drift)."""
    result = snapshot.dict()
    out: dict[str, dict[str, Any]] = {}
    for metric in result["metrics"]:
        config = metric.get("config") or {}
        if str(config.get("type", "")).endswith(":ValueDrift"):
            out[config["column"]] = {"detected": False, "stattest": config.get("method"), "threshold": config.get("threshold"),
                                     "score": _number(metric.get("value")), "note": ""}
    for test in result["tests"]:
        params = (test.get("metric_config") or {}).get("params") or {}
        column = params.get("column")
        if str(params.get("type", "")).endswith(":ValueDrift") and column in out:
            status = str(getattr(test["status"], "value", test["status"]))
            out[column]["detected"] = status == "FAIL"
            if status not in ("FAIL", "SUCCESS"):
                out[column]["note"] = f"Evidently test status {status}: {test.get('description', '')}"
    return out


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
