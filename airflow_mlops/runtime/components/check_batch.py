"""check_batch: the rows of a batch prediction, read and checked against the champion before it
predicts them.

Parameters: :class:`~airflow_mlops.contract.params.BatchCheckParams`. ``source`` is what ingest
reads (a file, directory or prefix, glob, ``gs://``, CSV or Parquet; or ``bigquery://``). Settings: ``registry``,
``beam_pipeline_args``.

Each file is read and kept as the champion will read it (:mod:`airflow_mlops.runtime.ml.batch_input`):
a missing feature or text in a numeric feature stops here, naming the file. Then TFDV statistics
of the batch (on Beam) are validated against the champion's schema (its training run's, without
the label) - missing values beyond the schema's presence limit, unknown categories, values outside
the numeric ranges - and compared with the champion's training statistics: skew above
``skew.stop_above`` (or of a ``must_not_drift`` feature, or any with ``on_drift: fail``) stops the
batch. Nothing is predicted from a batch that fails.

Output ``batch`` (``BatchExamples``): ``batch.parquet`` (the features, the kept columns) with
the champion version it was checked against in its properties, which ``predict_batch`` uses -
a promotion between the two steps does not change the model. ``statistics``: ``batch.stats``;
``anomalies``: ``anomalies.json`` and ``report.html`` (the batch's distributions drawn against
the champion's training data).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from typing import Any

from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.contract import ArtifactRef, ComponentError, ComponentSpec, ErrorKind
from airflow_mlops.contract.components import CHECK_BATCH
from airflow_mlops.contract.params import BatchCheckParams
from airflow_mlops.runtime.components.base import Component, ComponentResult, ExecutionContext, OutputArtifact
from airflow_mlops.runtime.ml import reports
from airflow_mlops.runtime.ml.batch_input import BATCH

_CHAMPION_TAGS = ("version", "schema_uri", "statistics_uri")


def champion(spec: ComponentSpec) -> dict[str, Any]:
    """The champion's version, schema and training statistics (its registry tags)."""
    from airflow_mlops.runtime.ml.model_registry import CHAMPION, Registry

    registry = Registry.from_spec(spec)
    tags = registry.version_tags(registry.client(), CHAMPION)
    if tags is None:
        raise ComponentError(
            ErrorKind.CONFIG, f"batch prediction: no champion to predict with: model {registry.model_name!r} in "
            f"{registry.tracking_uri} has no version with alias {CHAMPION!r} (train and promote one first)")
    missing = [t for t in _CHAMPION_TAGS if not tags.get(t)]
    if missing:
        raise ComponentError(ErrorKind.CONFIG, f"batch prediction: champion version {tags['version']} has no "
                                               f"{', '.join(missing)} tag: it cannot be checked against its training data")
    return tags


def champion_schema_uri(tags: dict[str, Any]) -> str:
    return f"{tags['schema_uri']}/schema.pbtxt"


def external_fingerprint(spec: ComponentSpec) -> str:
    """The input files' content and the champion version: a new file, or a promotion, is a cache miss."""
    from airflow_mlops.runtime.components.ingest import add_source, resolve_source

    digest = hashlib.sha256(f"champion:{champion(spec)['version']}".encode())
    for uri in resolve_source(spec.params["source"]):
        add_source(digest, uri)
    return digest.hexdigest()


def kept_columns(params: BatchCheckParams) -> list[str]:
    """The columns the batch carries besides the features: ``keep_columns`` and the request-id column."""
    keep = list(dict.fromkeys(params.keep_columns))
    if params.request_id_column and params.request_id_column not in keep:
        keep.append(params.request_id_column)
    return [c for c in keep if c not in params.features]


def write_batch(ctx: ExecutionContext, params: BatchCheckParams, uri: str, codes: list[str]) -> tuple[list[str], dict[str, int]]:
    """Every input file, conformed, appended to ``batch.parquet``; the files and the rows of each.
    ``codes``: the categorical features the champion's schema holds as integers."""
    import pyarrow.parquet as pq

    from airflow_mlops.runtime.components.ingest import read_file, resolve_source
    from airflow_mlops.runtime.ml.batch_input import conform
    from airflow_mlops.runtime.ml.examples import ROW_GROUP_ROWS

    files = resolve_source(params.source)
    ctx.log.info("reading %d file(s) from %s", len(files), params.source)
    keep, rows = kept_columns(params), {}
    with ArtifactStore().open(uri, "wb") as sink:
        writer = None
        try:
            for file in files:
                table = conform(read_file(file, params.format, tuple(keep)), file, params.features, keep, codes)
                rows[file] = table.num_rows
                ctx.log.info("%s: %d rows", file, table.num_rows)
                writer = writer or pq.ParquetWriter(sink, table.schema)
                writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
        finally:
            if writer is not None:
                writer.close()
    if not sum(rows.values()):
        raise ComponentError(ErrorKind.DATA, f"batch prediction: no rows in {params.source}: the file(s) have a header "
                                             "but no data", {"source": params.source, "files": files})
    return files, rows


def findings(ctx: ExecutionContext, params: BatchCheckParams, batch: ArtifactRef, tags: dict[str, Any]):
    """The batch's statistics, the champion's training statistics, and what validation found."""
    from airflow_mlops.runtime.components.validate import Findings, range_anomalies
    from airflow_mlops.runtime.ml.batch_input import serving_schema
    from airflow_mlops.runtime.ml.data_validation import (
        drift,
        generate_statistics,
        load_statistics,
        read_schema,
        schema_anomalies,
        with_drift_thresholds,
    )
    from airflow_mlops.runtime.ml.examples import split_uri

    beam_args = ctx.settings.get("beam_pipeline_args")
    stats_uri = ctx.output_uri("statistics", f"{BATCH}.stats")
    ctx.log.info("computing statistics of the batch on Beam (%s)", " ".join(beam_args or []))
    jobs = generate_statistics({BATCH: split_uri(batch, BATCH)}, {BATCH: stats_uri}, beam_args, list(params.features))
    stats = {BATCH: load_statistics(stats_uri)}
    schema_file = champion_schema_uri(tags)
    schema = with_drift_thresholds(serving_schema(read_schema(schema_file), params.features), params.features,
                                   params.skew.jensen_shannon, params.skew.l_infinity)
    anomalies = sorted(schema_anomalies(stats, schema) + range_anomalies(batch, stats, schema), key=lambda a: (a.column, a.short))
    baseline = f"{tags['statistics_uri']}/train.stats"
    baseline_stats = load_statistics(baseline)
    skew = drift(stats[BATCH], baseline_stats, schema)
    for d in skew:
        ctx.log.info("skew %s %s = %.4f (threshold %.4f)%s", d.column, d.measure, d.value, d.threshold,
                     "  SKEWED" if d.value > d.threshold else "")
    return stats[BATCH], baseline_stats, Findings(anomalies, skew, baseline, schema_file), jobs


def enforce(found, params: BatchCheckParams, report_uri: str, log) -> None:
    """Stop the batch on schema anomalies, on skew beyond ``stop_above`` or of a ``must_not_drift``
    feature, and on any skew with ``on_drift: fail``."""
    from airflow_mlops.runtime.ml.data_validation import rejection_message

    policy, details = params.skew, {"report": report_uri, **found.summary()}
    if found.anomalies:
        message = rejection_message(found.anomalies).replace("data validation failed", "the batch does not fit the champion's schema", 1)
        raise ComponentError(ErrorKind.DATA, f"{message}\nNothing was predicted; see {report_uri}", details)
    beyond = [d for d in found.drifts if d.value > policy.stop_above or (d.column in policy.must_not_drift and d.value > d.threshold)]
    if beyond or (found.drifted and policy.on_drift == "fail"):
        what = "; ".join(f"{d.column} {d.measure} {d.value:.3f} > {d.threshold:.3f}" for d in (beyond or found.drifts) if d.value > d.threshold)
        raise ComponentError(
            ErrorKind.DATA,
            f"the batch is skewed against the champion's training data beyond what batch_prediction.skew allows: {what}. "
            f"Nothing was predicted. If the rows are right, raise batch_prediction.skew.stop_above (or on_drift: warn) and "
            f"run again; see {report_uri}", details)
    if found.drifted:
        log.warning("skew in %s (batch_prediction.skew.on_drift: warn, predicting anyway)", ", ".join(found.drifted))


def render_report(found, rows: dict[str, int], version: str, batch_stats, baseline_stats) -> str:
    from airflow_mlops.runtime.components.validate import distributions, feature_summary

    verdict = found.verdict
    verdict_text = {"invalid": "rejected", "drifted": "skewed", "valid": "valid"}[verdict]
    sections = [
        f"<p>Verdict: <span class='{'ok' if verdict == 'valid' else 'bad' if verdict == 'invalid' else 'warn'}'>"
        f"{verdict_text}</span>; checked against champion version {reports.esc(version)}</p>",
        "<h2>Files</h2>" + reports.table(["file", "rows"], sorted(rows.items())),
        "<h2>Schema anomalies</h2>"
        + (reports.table(["column", "anomaly", "description"], [(a.column, a.short, a.description) for a in found.anomalies])
           if found.anomalies else "<p class='ok'>None.</p>"),
        f"<h2>Skew vs the champion's training data</h2><p class='meta'>Baseline: {reports.esc(found.baseline)}</p>"
        + reports.table(["column", "measure", "value", "threshold", "skewed"],
                        [(d.column, d.measure, d.value, d.threshold, "yes" if d.value > d.threshold else "no") for d in found.drifts]),
        "<h2>Distributions: the batch against the champion's training data</h2>" + distributions(batch_stats, baseline_stats, found.drifts),
        "<h2>Feature statistics (batch)</h2>"
        + reports.table(["column", "type", "present", "missing %", "distribution"], feature_summary(batch_stats)),
    ]
    return reports.page("Batch input validation", sections)


def run(ctx: ExecutionContext) -> ComponentResult:
    params: BatchCheckParams = ctx.params
    if not params.source:
        raise ComponentError(ErrorKind.CONFIG, "batch prediction: no source: set batch_prediction.source or give one in the trigger form")
    tags = champion(ctx.spec)
    ctx.log.info("checking against champion version %s", tags["version"])
    from airflow_mlops.runtime.ml.batch_input import int_categories
    from airflow_mlops.runtime.ml.data_validation import read_schema

    batch_uri = ctx.output_uri("batch")
    codes = int_categories(read_schema(champion_schema_uri(tags)), params.features)
    files, rows = write_batch(ctx, params, f"{batch_uri}/{BATCH}.parquet", codes)
    batch = ArtifactRef(name="batch", type="BatchExamples", uri=batch_uri, producer="check_batch", fingerprint="", execution_uri="")
    batch_stats, baseline_stats, found, jobs = findings(ctx, params, batch, tags)

    store = ArtifactStore()
    report_uri = ctx.output_uri("anomalies", "report.html")
    store.write_json(ctx.output_uri("anomalies", "anomalies.json"), {**found.summary(), "champion_version": tags["version"]})
    store.write_text(report_uri, render_report(found, rows, tags["version"], batch_stats, baseline_stats))
    ctx.log.info("batch validation report: %s", report_uri)
    enforce(found, params, report_uri, ctx.log)

    total = sum(rows.values())
    properties = {
        "rows": total, "files": files, "source": params.source, "model_version": tags["version"],
        "features": dict(params.features), "keep_columns": list(dict.fromkeys(params.keep_columns)),
        "request_id_column": params.request_id_column, "skewed_columns": found.drifted, "report": report_uri,
    }
    return ComponentResult(
        outputs={
            "batch": OutputArtifact(batch_uri, properties),
            "statistics": OutputArtifact(ctx.output_uri("statistics"), {"splits": [BATCH]}),
            "anomalies": OutputArtifact(ctx.output_uri("anomalies"), {"verdict": found.verdict, "report": report_uri,
                                                                      "drift": [asdict(d) for d in found.drifts]}),
        },
        metrics={"rows": total, "files": len(files), "skewed_columns": len(found.drifted), "champion_version": tags["version"]},
        remote_jobs=jobs,
    )


COMPONENT = Component.implementing(CHECK_BATCH, run, external_fingerprint=external_fingerprint)
