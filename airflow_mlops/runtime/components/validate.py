"""validate: TFDV statistics on Beam, the curated schema, anomalies, and drift vs the champion.

Inputs: ``examples`` (Examples). Parameters: ``features`` (name -> numeric|categorical),
``label``, ``schema_uri`` (the curated schema; inferred and written there when absent),
``max_missing_fraction`` (used when inferring), ``drift`` (``jensen_shannon``, ``l_infinity``,
``on_drift``: warn|fail). Settings: ``beam_pipeline_args``, ``registry``.

Outputs: ``statistics`` (``<split>.stats`` + ``statistics.html``), ``schema`` (the schema used,
with drift thresholds), ``anomalies`` (``anomalies.json``, ``anomalies.txt``, ``report.html``).

Schema anomalies reject the data (a ``data`` error naming each column and problem): nothing
downstream runs and no model is trained. Drift is recorded, and rejects the data when
``on_drift`` is ``fail``.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import asdict, dataclass
from typing import Any

from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.contract.components import VALIDATE
from airflow_mlops.contract.params import ValidateParams
from airflow_mlops.runtime.components.base import Component, ComponentResult, ExecutionContext, OutputArtifact
from airflow_mlops.contract import ComponentError, ComponentSpec, ErrorKind
from airflow_mlops.runtime.ml import reports
from airflow_mlops.runtime.ml.examples import split_uri

TRAIN = "train"


@dataclass(frozen=True)
class Anomaly:
    column: str
    splits: tuple[str, ...]
    short: str
    description: str
    kinds: tuple[str, ...]

    def line(self) -> str:
        where = ", ".join(self.splits)
        return f"column '{self.column}' ({where}): {self.short} - {self.description}"


@dataclass(frozen=True)
class Drift:
    column: str
    measure: str
    value: float
    threshold: float


# -- fingerprint ----------------------------------------------------------------------------------


def external_fingerprint(spec: ComponentSpec) -> str:
    """The curated schema's content and the drift baseline (the champion's training data)."""
    store = ArtifactStore()
    schema_uri = spec.params["schema_uri"]
    schema = hashlib.sha256(store.read_text(schema_uri).encode()).hexdigest() if store.exists(schema_uri) else "absent"
    return f"schema:{schema};baseline:{_baseline_key(spec)}"


def _baseline_key(spec: ComponentSpec) -> str:
    from airflow_mlops.runtime.ml.model_registry import CHAMPION, Registry

    registry = Registry.from_spec(spec)
    champion = registry.version_tags(registry.client(), CHAMPION)
    current = spec.inputs["examples"].properties.get("content_fingerprint")
    if champion is None or champion.get("examples_content_fingerprint") == current:
        return "none"  # no champion yet, or it was trained on exactly this data: nothing can drift
    return champion.get("statistics_uri", "none")


# -- statistics on Beam ---------------------------------------------------------------------------


def _local_or_uri(uri: str) -> str:
    return uri.removeprefix("file://")


def generate_statistics(examples_uris: dict[str, str], output_uris: dict[str, str], beam_args) -> None:
    """One Beam pipeline computing TFDV statistics for every split."""
    import apache_beam as beam
    import tensorflow_data_validation as tfdv

    from airflow_mlops.runtime.ml.beam import pipeline_options, record_batches

    for uri in output_uris.values():
        if uri.startswith("file://"):
            os.makedirs(os.path.dirname(_local_or_uri(uri)), exist_ok=True)
    with beam.Pipeline(options=pipeline_options(beam_args)) as pipeline:
        for split, source in examples_uris.items():
            _ = (
                pipeline
                | f"Read[{split}]" >> beam.io.ReadFromParquetBatched(_local_or_uri(source))
                | f"ToRecordBatches[{split}]" >> beam.FlatMap(record_batches)
                | f"Statistics[{split}]" >> tfdv.GenerateStatistics(tfdv.StatsOptions())
                | f"Write[{split}]" >> tfdv.WriteStatisticsToBinaryFile(_local_or_uri(output_uris[split]))
            )


def load_statistics(uri: str):
    import tensorflow_data_validation as tfdv

    if uri.startswith("file://"):
        return tfdv.load_stats_binary(_local_or_uri(uri))
    with tempfile.TemporaryDirectory() as tmp:
        local = os.path.join(tmp, "s.stats")
        with ArtifactStore().open(uri) as src, open(local, "wb") as dst:
            dst.write(src.read())
        return tfdv.load_stats_binary(local)


# -- schema ---------------------------------------------------------------------------------------


def infer_schema(train_stats, label: str, max_missing_fraction: float):
    """TFDV's inferred schema, with presence limits: a feature may be missing in at most
    ``max_missing_fraction`` of the rows, the label never."""
    import tensorflow_data_validation as tfdv

    schema = tfdv.infer_schema(train_stats, infer_feature_shape=False)
    for feature in schema.feature:
        feature.presence.min_fraction = 1.0 if feature.name == label else 1.0 - max_missing_fraction
    return schema


def with_drift_thresholds(schema, features: dict[str, str], js: float, linf: float):
    """A copy of ``schema`` where every configured feature has a drift comparator; thresholds
    already in the curated schema win."""
    import tensorflow_data_validation as tfdv
    from tensorflow_metadata.proto.v0 import schema_pb2

    schema = schema_pb2.Schema.FromString(schema.SerializeToString())
    names = {f.name for f in schema.feature}
    for name, kind in features.items():
        if name not in names:
            continue
        comparator = tfdv.get_feature(schema, name).drift_comparator
        if kind == "numeric" and not comparator.HasField("jensen_shannon_divergence"):
            comparator.jensen_shannon_divergence.threshold = js
        elif kind == "categorical" and not comparator.HasField("infinity_norm"):
            comparator.infinity_norm.threshold = linf
    return schema


def write_schema(schema, uri: str) -> None:
    from google.protobuf import text_format

    header = (
        "# Curated data schema (TensorFlow Data Validation). Inferred by airflow-mlops from the\n"
        "# training split; review it, adjust domains and presence limits, and commit it.\n"
    )
    ArtifactStore().write_text(uri, header + text_format.MessageToString(schema))


def read_schema(uri: str):
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    return text_format.Parse(ArtifactStore().read_text(uri), schema_pb2.Schema())


# -- anomalies and drift --------------------------------------------------------------------------


def schema_anomalies(stats_by_split: dict[str, Any], schema) -> list[Anomaly]:
    """Anomalies of every split against the schema, one entry per column and problem."""
    import tensorflow_data_validation as tfdv
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    found: dict[tuple[str, str], dict[str, Any]] = {}
    for split, stats in stats_by_split.items():
        for column, info in tfdv.validate_statistics(stats, schema).anomaly_info.items():
            entry = found.setdefault(
                (column, info.short_description),
                {"splits": [], "description": info.description, "kinds": sorted({anomalies_pb2.AnomalyInfo.Type.Name(r.type) for r in info.reason})},
            )
            entry["splits"].append(split)
    return [
        Anomaly(column, tuple(v["splits"]), short, v["description"], tuple(v["kinds"]))
        for (column, short), v in sorted(found.items())
    ]


def drift(train_stats, baseline_stats, schema) -> list[Drift]:
    """Measured drift of every compared feature (above threshold or not)."""
    import tensorflow_data_validation as tfdv
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    result = tfdv.validate_statistics(train_stats, schema, previous_statistics=baseline_stats)
    measures = []
    for info in result.drift_skew_info:
        column = ".".join(info.path.step)
        for m in info.drift_measurements:
            name = anomalies_pb2.DriftSkewInfo.Measurement.Type.Name(m.type).lower()
            measures.append(Drift(column, name, float(m.value), float(m.threshold)))
    return sorted(measures, key=lambda d: d.column)


def rejection_message(anomalies: list[Anomaly]) -> str:
    count = len(anomalies)
    lines = "\n".join(f"  - {a.line()}" for a in anomalies)
    return f"data validation failed: {count} anomal{'y' if count == 1 else 'ies'}:\n{lines}"


# -- report ---------------------------------------------------------------------------------------


def feature_summary(stats) -> list[tuple]:
    """One row per column of a split's statistics: type, present, missing %, and numeric
    mean/std/min/max or categorical unique count and top values."""
    rows = []
    dataset = stats.datasets[0]
    for feature in dataset.features:
        name = ".".join(feature.path.step) or feature.name
        if feature.HasField("num_stats"):
            n = feature.num_stats
            common = n.common_stats
            detail = f"mean {n.mean:.4g}, std {n.std_dev:.4g}, min {n.min:.4g}, max {n.max:.4g}"
        else:
            t = feature.string_stats
            common = t.common_stats
            top = ", ".join(f"{v.value} ({int(v.frequency)})" for v in t.top_values[:5])
            detail = f"{t.unique} unique; top: {top}"
        total = common.num_non_missing + common.num_missing
        missing = 100.0 * common.num_missing / total if total else 0.0
        rows.append((name, type(feature).Type.Name(feature.type), int(common.num_non_missing), round(missing, 2), detail))
    return rows


def render_report(
    anomalies: list[Anomaly],
    drifts: list[Drift],
    verdict: str,
    counts: dict[str, int],
    schema_note: str,
    baseline: str,
    train_stats,
) -> str:
    sections = [
        f"<p>Verdict: <span class='{'ok' if verdict == 'valid' else 'bad' if verdict == 'invalid' else 'warn'}'>{reports.esc(verdict)}</span></p>",
        "<h2>Rows</h2>" + reports.table(["split", "rows"], sorted(counts.items())),
        "<h2>Schema anomalies</h2>"
        + (
            reports.table(["column", "splits", "anomaly", "description"], [(a.column, ", ".join(a.splits), a.short, a.description) for a in anomalies])
            if anomalies
            else "<p class='ok'>None.</p>"
        ),
        f"<h2>Drift vs the champion's training data</h2><p class='meta'>Baseline: {reports.esc(baseline)}</p>"
        + (
            reports.table(
                ["column", "measure", "value", "threshold", "drifted"],
                [(d.column, d.measure, d.value, d.threshold, "yes" if d.value > d.threshold else "no") for d in drifts],
            )
            if drifts
            else "<p>No comparison (no champion yet, or it was trained on this very data).</p>"
        ),
        "<h2>Feature statistics (train)</h2>"
        + reports.table(["column", "type", "present", "missing %", "distribution"], feature_summary(train_stats)),
        f"<h2>Schema</h2><p>{reports.esc(schema_note)}</p>",
        "<p>Interactive statistics (TFDV Facets, needs internet access for its viewer): "
        "<a href='../statistics/statistics.html'>statistics.html</a></p>",
    ]
    return reports.page("Data validation", sections)


# -- the component --------------------------------------------------------------------------------


def run(ctx: ExecutionContext) -> ComponentResult:
    import tensorflow_data_validation as tfdv

    store = ArtifactStore()
    params: ValidateParams = ctx.params
    examples = ctx.spec.inputs["examples"]
    splits = sorted(examples.properties["splits"])
    stats_uris = {s: ctx.output_uri("statistics", f"{s}.stats") for s in splits}

    ctx.log.info("computing statistics of %s on Beam (%s)", ", ".join(splits), " ".join(ctx.settings.get("beam_pipeline_args") or []))
    generate_statistics({s: split_uri(examples, s) for s in splits}, stats_uris, ctx.settings.get("beam_pipeline_args"))
    stats = {s: load_statistics(stats_uris[s]) for s in splits}

    schema_uri = params.schema_uri
    if store.exists(schema_uri):
        schema = read_schema(schema_uri)
        schema_note = f"curated schema {schema_uri}"
    else:
        schema = infer_schema(stats[TRAIN], params.label, params.max_missing_fraction)
        write_schema(schema, schema_uri)
        schema_note = f"no schema at {schema_uri}: inferred from the training split and written there; review and commit it"
        ctx.log.warning(schema_note)
    drift_cfg = params.drift
    schema = with_drift_thresholds(schema, params.features, drift_cfg.jensen_shannon, drift_cfg.l_infinity)
    write_schema(schema, ctx.output_uri("schema", "schema.pbtxt"))

    anomalies = schema_anomalies(stats, schema)
    baseline = _baseline_key(ctx.spec)
    drifts = drift(stats[TRAIN], load_statistics(f"{baseline}/{TRAIN}.stats"), schema) if baseline != "none" else []
    drifted = sorted({d.column for d in drifts if d.value > d.threshold})
    for d in drifts:
        ctx.log.info("drift %s %s = %.4f (threshold %.4f)%s", d.column, d.measure, d.value, d.threshold, "  DRIFTED" if d.value > d.threshold else "")

    if anomalies:
        verdict = "invalid"
    elif drifted:
        verdict = "drifted"
    else:
        verdict = "valid"
    counts = {s: int(examples.properties["splits"][s]) for s in splits}

    store.write_text(
        ctx.output_uri("statistics", "statistics.html"),
        tfdv.utils.display_util.get_statistics_html(
            lhs_statistics=stats[TRAIN], rhs_statistics=stats.get("eval"), lhs_name="train", rhs_name="eval"
        ),
    )
    report_uri = ctx.output_uri("anomalies", "report.html")
    summary = {
        "verdict": verdict,
        "anomalies": [asdict(a) for a in anomalies],
        "drift": [asdict(d) for d in drifts],
        "drifted_columns": drifted,
        "baseline_statistics": baseline,
        "schema": schema_uri,
    }
    store.write_json(ctx.output_uri("anomalies", "anomalies.json"), summary)
    store.write_text(
        ctx.output_uri("anomalies", "anomalies.txt"),
        (rejection_message(anomalies) if anomalies else "no schema anomalies") + "\n"
        + (f"drifted columns: {', '.join(drifted)}\n" if drifted else "no drift above thresholds\n"),
    )
    store.write_text(report_uri, render_report(anomalies, drifts, verdict, counts, schema_note, baseline, stats[TRAIN]))
    ctx.log.info("validation report: %s", report_uri)

    if anomalies:
        raise ComponentError(ErrorKind.DATA, rejection_message(anomalies), {"report": report_uri, **summary})
    if drifted and drift_cfg.on_drift == "fail":
        raise ComponentError(
            ErrorKind.DATA,
            f"data drift vs the champion's training data in {', '.join(drifted)} (on_drift: fail); see {report_uri}",
            {"report": report_uri, **summary},
        )
    if drifted:
        ctx.log.warning("data drift in %s (on_drift: warn, going on)", ", ".join(drifted))

    metrics = {"anomalies": len(anomalies), "drifted_columns": len(drifted), "verdict": verdict}
    return ComponentResult(
        outputs={
            "statistics": OutputArtifact(ctx.output_uri("statistics"), {"splits": splits}),
            "schema": OutputArtifact(ctx.output_uri("schema"), {"curated": schema_uri}),
            "anomalies": OutputArtifact(
                ctx.output_uri("anomalies"), {"verdict": verdict, "drifted_columns": drifted, "report": report_uri}
            ),
        },
        metrics=metrics,
    )


COMPONENT = Component.implementing(VALIDATE, run, external_fingerprint=external_fingerprint)
