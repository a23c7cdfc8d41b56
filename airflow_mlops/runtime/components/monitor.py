"""monitor: the predictions served in a window against the champion's training data; drift, performance, a verdict.

Reads the prediction log of ``[window_start, window_end)``
(``<artifact_root>/<pipeline>/predictions``), the labels that have arrived
(``<artifact_root>/<pipeline>/feedback/*.csv``, ``request_id,label``) and, as the reference, the
training split of the registry's champion (its version's ``examples_uri`` tag). Evidently tests
each feature for drift; on the labelled predictions, accuracy is measured for classifiers, MAE
and RMSE for a regression (whose labels that are not numbers are skipped and counted). The
verdict:

- ``no_traffic``: fewer than ``min_rows`` predictions, nothing judged;
- ``alert``: drift (at least ``drift_share`` of the features drifted, or one of
  ``must_not_drift``) or degradation (on at least ``min_labels`` labelled predictions: a
  classifier's accuracy below ``min_accuracy``; a regression's MAE above ``max_mae`` - without
  ``max_mae`` the error is reported, not judged);
- ``ok`` otherwise.

Parameters: ``features`` (``{name: "numeric" | "categorical"}``), ``label``, ``task``,
``window_start``, ``window_end`` (ISO times, UTC unless they say otherwise: the DAG run's data
interval), ``drift_share``, ``must_not_drift``, ``min_rows``, ``min_accuracy``, ``min_labels``,
``max_mae``. Settings: ``registry``. No artifact inputs; always runs.

Output ``monitoring``: ``report.html`` (Evidently), ``metrics.json`` (the figures),
``verdict.json``; its properties are the verdict. A copy of the verdict goes to
``<artifact_root>/<pipeline>/monitoring/verdicts/<window end>.json``, where a sensor can watch.
"""

from __future__ import annotations

from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.contract import ComponentError, ErrorKind
from airflow_mlops.contract.components import MONITOR
from airflow_mlops.contract.params import MonitorParams
from airflow_mlops.runtime.components.base import Component, ComponentResult, ExecutionContext, OutputArtifact


def window(params: MonitorParams) -> tuple[str, str]:
    """``(window_start, window_end)`` in the prediction log's time format."""
    from airflow_mlops.runtime.predictions.partitions import utc_iso

    try:
        start, end = utc_iso(params.window_start), utc_iso(params.window_end)
    except ValueError as exc:
        raise ComponentError(ErrorKind.CONFIG, f"monitor: window_start/window_end must be ISO times: {exc}") from None
    if start >= end:
        raise ComponentError(ErrorKind.CONFIG, f"monitor: the window is empty: window_start {start} is not before window_end {end}")
    return start, end


def checked_features(params: MonitorParams) -> dict[str, str]:
    from airflow_mlops.runtime.predictions.reader import LABEL_COLUMN, META_COLUMNS

    features = dict(params.features)
    if not features:
        raise ComponentError(ErrorKind.CONFIG, "monitor: parameter 'features' ({name: numeric|categorical}) is empty")
    clash = sorted(set(features) & {*META_COLUMNS, LABEL_COLUMN})
    if clash:
        raise ComponentError(ErrorKind.CONFIG, f"monitor: feature names {clash} clash with the prediction log's own columns")
    return features


def load_reference(ctx: ExecutionContext, features: dict[str, str], label: str | None):
    """(champion version, the champion's training split: the features and the label)."""
    from airflow_mlops.contract import ArtifactRef
    from airflow_mlops.runtime.ml.examples import split_uri
    from airflow_mlops.runtime.ml.model_registry import CHAMPION, Registry

    registry = Registry.from_spec(ctx.spec)
    tags = registry.version_tags(registry.client(), CHAMPION)
    if tags is None:
        raise ComponentError(ErrorKind.CONFIG, f"monitor: no champion to compare with: model {registry.model_name!r} "
                                               f"in {registry.tracking_uri} has no version with alias {CHAMPION!r}")
    if not tags.get("examples_uri"):
        raise ComponentError(ErrorKind.CONFIG, f"monitor: champion version {tags['version']} has no examples_uri tag: "
                                               "its training data is unknown")
    examples = ArtifactRef(name="examples", type="Examples", uri=tags["examples_uri"], producer="ingest", fingerprint="", execution_uri="")
    uri = split_uri(examples, "train")
    reference = read_columns(uri, list(features), [label] if label else [])
    ctx.log.info("reference: the training split of champion version %s, %d rows (%s)", tags["version"], len(reference), uri)
    return tags["version"], reference


def read_columns(uri: str, required: list[str], optional: list[str]):
    """The ``required`` columns of a Parquet file, and those of ``optional`` it has."""
    import pyarrow.parquet as pq

    store = ArtifactStore()
    try:
        with store.open(uri) as f:
            present = set(pq.read_schema(f).names)
        missing = [c for c in required if c not in present]
        if missing:
            raise ComponentError(ErrorKind.DATA, f"monitor: the champion's training data {uri} has no column(s) {missing}")
        with store.open(uri) as f:
            return pq.read_table(f, columns=[*required, *(c for c in optional if c in present and c not in required)]).to_pandas()
    except FileNotFoundError:
        raise ComponentError(ErrorKind.DATA, f"monitor: the champion's training data {uri} does not exist") from None


def run(ctx: ExecutionContext) -> ComponentResult:
    from airflow_mlops.contract.layout import feedback_uri, predictions_uri
    from airflow_mlops.runtime.monitoring.assessment import assess
    from airflow_mlops.runtime.monitoring.verdict import verdict_uri
    from airflow_mlops.runtime.predictions.feedback import read_feedback
    from airflow_mlops.runtime.predictions.reader import read_prediction_frame

    params: MonitorParams = ctx.params
    root, pipeline = ctx.spec.artifact_root, ctx.spec.pipeline
    features, label = checked_features(params), params.label
    start, end = window(params)
    ctx.log.info("window %s to %s", start, end)
    version, reference = load_reference(ctx, features, label)
    current = read_prediction_frame(predictions_uri(root, pipeline), features, since=start, until=end)
    labels = read_feedback(feedback_uri(root, pipeline))
    ctx.log.info("%d labels have arrived in %s", len(labels), feedback_uri(root, pipeline))

    assessment = assess(
        current, reference, labels, features,
        label=label if label in reference.columns else None,
        drift_share=params.drift_share,
        must_not_drift=list(params.must_not_drift),
        min_rows=params.min_rows,
        min_accuracy=params.min_accuracy,
        min_labels=params.min_labels,
        task=params.task,
        max_mae=params.max_mae,
        context={"window_start": start, "window_end": end, "champion_version": version},
        logger=ctx.log,
    )
    store = ArtifactStore()
    report_uri = ctx.output_uri("monitoring", "report.html")
    copy_uri = verdict_uri(root, pipeline, end)
    result = {**assessment.verdict, "window_start": start, "window_end": end, "champion_version": version,
              "last_prediction_at": current["timestamp"].max() if len(current) else None,
              "report": report_uri, "verdict_uri": copy_uri}
    store.write_text(report_uri, assessment.html)
    store.write_json(ctx.output_uri("monitoring", "metrics.json"), assessment.figures)
    store.write_json(ctx.output_uri("monitoring", "verdict.json"), result)
    store.write_json(copy_uri, result)
    ctx.log.info("report %s; verdict also at %s", report_uri, copy_uri)
    keys = ("status", "drift", "degradation", "rows", "drift_share", "accuracy", *(("mae", "rmse") if "mae" in result else ()))
    return ComponentResult(
        outputs={"monitoring": OutputArtifact(ctx.output_uri("monitoring"), result)},
        metrics={k: result[k] for k in keys},
    )


COMPONENT = Component.implementing(MONITOR, run)
