"""Monitoring a served model: the logged predictions of a window against the champion's training data.

- :func:`read_prediction_frame` reads a window of the prediction log straight into a DataFrame
  (:func:`prediction_frame` does the same from records already in memory);
- :func:`drift_report` runs Evidently's data drift per feature;
- :func:`classification_figures` measures accuracy on the predictions whose labels have arrived
  (:func:`classification_report`: the same as an Evidently report);
- :func:`verdict` turns the figures into ``ok``, ``alert`` or ``no_traffic``;
- :func:`assess` does all of it for one window, as the ``monitor`` component does.

Sampling: Evidently picks p-value tests (K-S, chi-square, Z) when the reference has at most
1000 rows, and its chi-square test takes the reference's proportions as exact. Against a window
much bigger than the reference it then reports the reference's own sampling noise as drift
(penguins: 240 reference rows, a window of 5000 rows drawn from the same population -> island
"drifted" in 84% of trials). So the drift tests compare the window with the reference at most
row for row: a window bigger than the reference is sampled down to the reference's size (and
both to ``max_rows``, which also bounds Evidently's cost). Row counts and accuracy always use
the whole window.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.contract import join_uri
from airflow_mlops.contract.layout import verdicts_uri

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

#: Columns of a prediction frame besides the features.
META_COLUMNS = ("request_id", "prediction", "model_version", "timestamp")
#: The Evidently column that holds the label of a labelled prediction.
LABEL_COLUMN = "label"
#: Drift tests use at most this many rows of the window and of the reference.
MAX_DRIFT_ROWS = 100_000
NO_TRAFFIC, OK, ALERT = "no_traffic", "ok", "alert"


# -- where things are ------------------------------------------------------------------------


def utc_iso(value: str | datetime) -> str:
    """An ISO time (``Z``, an offset, or naive meaning UTC) in the prediction log's own format,
    ``2026-01-01T10:00:00.000+00:00``, so that string comparison is time comparison.

    :raises ValueError: not an ISO time.
    """
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")


def safe_name(timestamp: str | datetime) -> str:
    """A file name for a time: ``2026-01-01T11-00-00Z`` (``.123`` before the ``Z`` for milliseconds)."""
    moment = datetime.fromisoformat(utc_iso(timestamp))
    millis = f".{moment.microsecond // 1000:03d}" if moment.microsecond else ""
    return moment.strftime("%Y-%m-%dT%H-%M-%S") + millis + "Z"


def verdict_uri(artifact_root: str, pipeline: str, window_end: str | datetime) -> str:
    """The copy of a window's verdict under :func:`verdicts_uri`."""
    return join_uri(verdicts_uri(artifact_root, pipeline), f"{safe_name(window_end)}.json")


# -- the window's predictions ----------------------------------------------------------------


def typed(frame: pd.DataFrame, features: Mapping[str, str]) -> pd.DataFrame:
    """``frame`` with numeric features as float64 (unparseable -> NaN) and categorical ones as
    strings (missing stays missing), so the reference and the log compare like with like."""
    import pandas as pd

    out = frame.copy()
    for name, kind in features.items():
        column = out[name]
        if kind == "numeric":
            out[name] = pd.to_numeric(column, errors="coerce").astype("float64")
        else:
            out[name] = column.where(column.isna(), column.astype(str)).astype(object)
    return out


def prediction_frame(records: Iterable[Mapping[str, Any]], features: Mapping[str, str]) -> pd.DataFrame:
    """The features of logged predictions, one row per prediction, plus :data:`META_COLUMNS`.
    Error records (an ``error`` key: the model failed, nothing was predicted) are skipped.

    :param records: prediction-log records (:func:`~airflow_mlops.runtime.serving.prediction_log.read_predictions`).
    :param features: ``{name: "numeric" | "categorical"}``.
    """
    import pandas as pd

    _check_names(features)
    rows = [r for r in records if "error" not in r]
    data: dict[str, list[Any]] = {name: [(r.get("features") or {}).get(name) for r in rows] for name in features}
    data.update({column: [r.get(column) for r in rows] for column in META_COLUMNS})
    return typed(pd.DataFrame(data, columns=[*features, *META_COLUMNS]), features)


def read_prediction_frame(
    root: str,
    features: Mapping[str, str],
    since: str | None = None,
    until: str | None = None,
    store: ArtifactStore | None = None,
) -> pd.DataFrame:
    """What ``prediction_frame(read_predictions(root, since, until), features)`` returns, read
    file by file with pyarrow's JSON reader, keeping only the columns needed as Arrow tables and
    converting them to pandas once.

    Reading the log as Python dicts first costs ~2.8 KB of memory per prediction (2.8 GB for a
    window of a million, ``benchmarks/monitoring.py``). The same partitions and records are
    read (``since <= timestamp < until``, ISO strings in the log's format: :func:`utc_iso`). A
    file pyarrow cannot parse with the feature types (a number where a string belongs) is read
    with :mod:`json` instead.
    """
    import pandas as pd
    import pyarrow as pa

    from airflow_mlops.runtime.serving.prediction_log import partition

    _check_names(features)
    store = store or ArtifactStore()
    files = _window_files(store, root, partition(since) if since else None, partition(until) if until else None)
    tables, frames, errors = [], [], 0
    for uri in files:
        part, skipped = _read_file(store, uri, features, since, until)
        errors += skipped
        if part is not None and len(part):
            (tables if isinstance(part, pa.Table) else frames).append(part)
    if tables:
        table = pa.concat_tables(tables)
        tables.clear()  # the concatenation is the only owner left: converting frees it as it goes
        frames.insert(0, table.to_pandas(self_destruct=True, split_blocks=True))
        del table
    rows = sum(map(len, frames))
    log.info("read %d prediction-log file(s) under %s: %d predictions, %d error records skipped", len(files), root, rows, errors)
    if not rows:
        return prediction_frame([], features)
    return typed(frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True), features)


def _check_names(features: Mapping[str, str]) -> None:
    clash = sorted(set(features) & {*META_COLUMNS, LABEL_COLUMN})
    if clash:
        raise ValueError(f"feature names {clash} clash with the prediction log's own columns")


def _window_files(store: ArtifactStore, root: str, low: str | None, high: str | None) -> list[str]:
    """The ``.jsonl`` files in the hour partitions from ``low`` to ``high`` (as ``read_predictions``)."""
    if not store.exists(root):
        return []
    out = []
    for uri in store.list_files(root):
        part = "/".join(uri.rsplit("/", 3)[1:3])
        if uri.endswith(".jsonl") and not ((low and part < low) or (high and part > high)):
            out.append(uri)
    return out


def _read_file(store: ArtifactStore, uri: str, features: Mapping[str, str], since: str | None, until: str | None):
    """(the predictions of one log file in the window as an Arrow table - a DataFrame when
    pyarrow could not parse it, ``None`` when there are none -, the number of error records skipped)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        with store.open(uri) as f:
            table = _parse_jsonl(f, features)
    except pa.ArrowInvalid as exc:
        log.warning("%s: %s; reading it record by record", uri, exc)
        return _read_file_slowly(store, uri, features, since, until)
    table = table.filter(_in_window(table, since, until))
    failed = pc.is_valid(table.column("error"))
    errors = pc.sum(failed).as_py() or 0
    table = table.filter(pc.invert(failed))
    if not table.num_rows:
        return None, errors
    struct = table.column("features").combine_chunks()
    columns = dict(zip([field.name for field in struct.type], struct.flatten()))  # flatten: a null struct -> null values
    columns.update({column: table.column(column).combine_chunks() for column in META_COLUMNS})
    return pa.table(columns), errors


def _parse_jsonl(file, features: Mapping[str, str]):
    import pyarrow as pa
    import pyarrow.json as pj

    kinds = {"numeric": pa.float64(), "categorical": pa.string()}
    schema = pa.schema(
        [(column, pa.string()) for column in (*META_COLUMNS, "error")]
        + [("features", pa.struct([(name, kinds.get(kind, pa.string())) for name, kind in features.items()]))]
    )
    options = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
    return pj.read_json(file, parse_options=options)


def _in_window(table, since: str | None, until: str | None):
    import pyarrow.compute as pc

    timestamp = table.column("timestamp")
    mask = pc.is_valid(timestamp)
    if since:
        mask = pc.and_kleene(mask, pc.greater_equal(timestamp, since))
    if until:
        mask = pc.and_kleene(mask, pc.less(timestamp, until))
    return pc.fill_null(mask, False)


def _read_file_slowly(store: ArtifactStore, uri: str, features: Mapping[str, str], since: str | None, until: str | None):
    import json

    records = [json.loads(line) for line in store.read_text(uri).splitlines() if line]
    records = [r for r in records if (since is None or r["timestamp"] >= since) and (until is None or r["timestamp"] < until)]
    return prediction_frame(records, features), sum("error" in r for r in records)


# -- drift -----------------------------------------------------------------------------------


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
):
    """Evidently's data drift of each feature, ``current`` (the window) vs ``reference``.

    :param drift_share: what Evidently's own dataset-drift test in the report uses.
    :param label: the label column of ``reference``; when given, the report also shows the drift
        of the predictions vs the training labels (for information: it is not a feature).
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
    snapshot = _run_drift(reference, current, {n: features[n] for n in tested}, drift_share, label if with_prediction else None) if tested else None
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


def _run_drift(reference: pd.DataFrame, current: pd.DataFrame, features: Mapping[str, str], drift_share: float, label: str | None):
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift
    from evidently.presets import DataDriftPreset

    names = list(features)
    numeric = [n for n in names if features[n] == "numeric"]
    categorical = [n for n in names if features[n] != "numeric"]
    ref, cur = reference[names].copy(), current[names].copy()
    metrics: list[Any] = [DataDriftPreset(columns=names, drift_share=drift_share)]
    if label:
        ref["prediction"] = reference[label].where(reference[label].isna(), reference[label].astype(str))
        cur["prediction"] = current["prediction"]
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


# -- labelled predictions --------------------------------------------------------------------


def labelled_rows(current: pd.DataFrame, labels: Mapping[str, str]) -> pd.DataFrame:
    """The predictions whose label has arrived, with the label in :data:`LABEL_COLUMN`."""
    truth = current["request_id"].map(dict(labels)) if len(current) else current["request_id"]
    known = truth.notna()
    return current.loc[known, ["request_id", "prediction", "model_version"]].assign(**{LABEL_COLUMN: truth[known]}).reset_index(drop=True)


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


# -- the verdict -----------------------------------------------------------------------------


def verdict(
    figures: Mapping[str, Any],
    drift_share: float,
    must_not_drift: Sequence[str] = (),
    min_rows: int = 30,
    min_accuracy: float = 0.85,
    min_labels: int = 20,
) -> dict[str, Any]:
    """The window's verdict.

    :param figures: ``rows`` (predictions in the window), and from :func:`drift_report` and
        :func:`classification_figures`: ``drift_share`` (the share measured), ``drifted_features``,
        ``features``, ``accuracy``, ``labelled``. Without the drift figures (too few rows)
        nothing about drift is judged.
    :param drift_share: drift when at least this share of the features drifted (and one did) ...
    :param must_not_drift: ... or any of these did.
    :param min_rows: fewer predictions: ``no_traffic``, nothing judged.
    :param min_accuracy: degradation when accuracy is below this ...
    :param min_labels: ... on at least this many labelled predictions.
    :return: ``{"status": "no_traffic" | "ok" | "alert", "drift", "degradation", "reasons",
        "rows", "drift_share", "drifted_features", "accuracy", "labelled", "at"}``.
    """
    rows, labelled, accuracy = int(figures.get("rows", 0)), int(figures.get("labelled") or 0), figures.get("accuracy")
    drifted = list(figures.get("drifted_features") or [])
    base = {"rows": rows, "drift_share": figures.get("drift_share"), "drifted_features": drifted,
            "accuracy": accuracy, "labelled": labelled, "at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    if rows < max(min_rows, 1):
        reason = f"only {rows} predictions in the window: at least {min_rows} are needed to judge drift and accuracy"
        return {"status": NO_TRAFFIC, "drift": False, "degradation": False, "reasons": [reason], **base}
    checks = [_drift_check(figures, drift_share, must_not_drift), _accuracy_check(accuracy, labelled, min_accuracy, min_labels)]
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


# -- one window, end to end ------------------------------------------------------------------


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
    drift_share: float = 0.5,
    must_not_drift: Sequence[str] = (),
    min_rows: int = 30,
    min_accuracy: float = 0.85,
    min_labels: int = 20,
    max_rows: int = MAX_DRIFT_ROWS,
    context: Mapping[str, Any] | None = None,
    logger: logging.Logger | None = None,
) -> Assessment:
    """Drift, accuracy, verdict and HTML report of one window of predictions.

    :param current: the window (:func:`read_prediction_frame`).
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


# -- the report ------------------------------------------------------------------------------


def render_html(result: Mapping[str, Any], figures: Mapping[str, Any], snapshots: Sequence[tuple[str, Any]]) -> str:
    """Evidently's HTML of the snapshots below a header with the verdict; without any snapshot
    (too few predictions) a small page of its own."""
    snapshots = [(title, s) for title, s in snapshots if s is not None]
    if not snapshots:
        return _plain_page(result, figures)
    from evidently.core.metric_types import render_widgets
    from evidently.legacy.renderers.html_widgets import CounterData, counter, group_widget, header_text

    header = [
        counter(title=f"Monitoring verdict: {result['status'].upper()}", counters=[
            CounterData("predictions in the window", str(result["rows"])),
            CounterData("drifted features", ", ".join(result["drifted_features"]) or "none"),
            CounterData("accuracy", "-" if result["accuracy"] is None else f"{result['accuracy']:.2%} ({result['labelled']} labelled)"),
        ]),
        *[header_text(label=reason) for reason in result["reasons"]],
        header_text(label=_window_text(figures)),
    ]
    body = []
    for title, snapshot in snapshots:
        # What Snapshot.get_html_str renders, for several snapshots on one page (Evidently 0.7).
        body.append(group_widget(title=title, widgets=list(snapshot._widgets)))
        body.extend(snapshot._tests_widgets)
    return render_widgets([*header, *body])


def _window_text(figures: Mapping[str, Any]) -> str:
    text = f"window {figures.get('window_start', '?')} to {figures.get('window_end', '?')}"
    if figures.get("champion_version"):
        text += f"; reference: the training split of champion version {figures['champion_version']} ({figures.get('reference_rows', '?')} rows)"
    if figures.get("sampled"):
        text += f"; drift tested on a random sample of {figures['tested_rows']} of {figures['rows']} rows"
    return text


def _plain_page(result: Mapping[str, Any], figures: Mapping[str, Any]) -> str:
    from airflow_mlops.runtime.ml import reports

    sections = [
        f"<p>Verdict: <span class='warn'>{reports.esc(result['status'])}</span></p>",
        "<ul>" + "".join(f"<li>{reports.esc(r)}</li>" for r in result["reasons"]) + "</ul>",
        "<h2>Predictions by model version</h2>"
        + reports.table(["version", "predictions"], sorted((figures.get("by_version") or {}).items())),
    ]
    return reports.page("Model monitoring", sections, meta=_window_text(figures))
