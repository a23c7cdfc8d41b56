"""validate: TFDV statistics on Beam, the curated schema, anomalies, and drift vs the champion.

Inputs: ``examples`` (Examples). Parameters: :class:`ValidateParams`
(airflow_mlops/contract/params.py). Settings: ``beam_pipeline_args``, ``registry``.

Outputs: ``statistics`` (``<split>.stats`` + ``statistics.html``), ``schema`` (the schema used,
with drift thresholds), ``anomalies`` (``anomalies.json``, ``anomalies.txt``, ``report.html``).

Schema anomalies reject the data (a ``data`` error naming each column and problem): nothing
downstream runs and no model is trained. Values outside a numeric range of the schema are one
such anomaly, with the rows outside per split and a few of the values, read from the split's
Parquet file. Drift is recorded, and rejects the data when
``on_drift`` is ``fail``. The TFDV work itself is in :mod:`airflow_mlops.runtime.ml.data_validation`.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any

from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.contract import ComponentError, ComponentSpec, ErrorKind, RemoteJob
from airflow_mlops.contract.components import VALIDATE
from airflow_mlops.contract.params import DriftThresholds, ValidateParams
from airflow_mlops.runtime.components.base import Component, ComponentResult, ExecutionContext, OutputArtifact
from airflow_mlops.runtime.ml import reports
from airflow_mlops.runtime.ml.data_validation import (
    Anomaly,
    Drift,
    OutOfRange,
    drift,
    generate_statistics,
    infer_schema,
    load_statistics,
    not_numbers,
    numeric_columns,
    outside_range,
    range_anomaly,
    range_violations,
    read_schema,
    rejection_message,
    schema_anomalies,
    schema_ranges,
    with_drift_thresholds,
    with_text_examples,
    write_schema,
)
from airflow_mlops.runtime.ml.examples import split_uri

TRAIN = "train"


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


# -- the steps ------------------------------------------------------------------------------------


def dataset_problems(params: ValidateParams, examples) -> list[str]:
    """What is wrong with the data as a whole, found before any statistics are computed: a split
    with too few rows, too many exact copies of rows, a label with a single value in the
    training split."""
    splits = {s: int(n) for s, n in examples.properties["splits"].items()}
    source = examples.properties.get("source", "the data")
    source = source if isinstance(source, str) else ", ".join(source)
    problems = []
    if min(splits.values()) < params.min_split_rows:
        counts = ", ".join(f"{s} {n}" for s, n in sorted(splits.items()))
        problems.append(
            f"too few rows in {source}: {sum(splits.values())} rows split into {counts}; every split needs at least "
            f"{params.min_split_rows} (validation.min_split_rows) to train on and to judge a model: add data")
    rows, copies = sum(splits.values()), examples.properties.get("duplicate_rows")
    if copies is not None and rows and copies / rows > params.max_duplicate_fraction:
        problems.append(
            f"duplicate rows in {source}: {copies} of {rows} rows ({copies / rows:.0%}) are exact copies of another row, more than "
            f"validation.max_duplicate_fraction {params.max_duplicate_fraction:g} allows; the same data was probably "
            "appended more than once: remove the copies (or raise the limit if repeated rows are real)")
    if splits.get(TRAIN):
        problems += single_valued_label(examples, params.label)
    return problems


def single_valued_label(examples, label: str) -> list[str]:
    """The label takes one value in the whole training split: there is nothing to learn."""
    import pyarrow.parquet as pq

    with ArtifactStore().open(split_uri(examples, TRAIN)) as f:
        if label not in pq.read_schema(f).names:
            return []  # the schema check names a missing label column
        f.seek(0)
        values = pq.read_table(f, columns=[label]).column(label).to_pandas().dropna()
    distinct = values.unique()
    if len(distinct) != 1:
        return []
    return [f"column '{label}' (the label) has a single value in the training split ({distinct[0]}, {len(values)} rows): "
            "a model cannot learn anything from it; the data is probably filtered to one class or the label column "
            "was overwritten"]


def reject_dataset(params: ValidateParams, examples) -> None:
    problems = dataset_problems(params, examples)
    if problems:
        count = len(problems)
        raise ComponentError(
            ErrorKind.DATA,
            f"data validation failed: {count} problem{'' if count == 1 else 's'}:\n" + "\n".join(f"  - {p}" for p in problems),
            {"verdict": "invalid", "problems": problems},
        )


def compute_statistics(ctx: ExecutionContext, examples, splits: list[str]) -> tuple[dict[str, Any], list[RemoteJob]]:
    """Statistics of every split, computed on Beam into the ``statistics`` output and read back;
    and the Dataflow job that computed them, if any."""
    beam_args = ctx.settings.get("beam_pipeline_args")
    stats_uris = {s: ctx.output_uri("statistics", f"{s}.stats") for s in splits}
    ctx.log.info("computing statistics of %s on Beam (%s)", ", ".join(splits), " ".join(beam_args or []))
    jobs = generate_statistics({s: split_uri(examples, s) for s in splits}, stats_uris, beam_args)
    return {s: load_statistics(stats_uris[s]) for s in splits}, jobs


def curated_or_inferred_schema(params: ValidateParams, train_stats, log) -> tuple[Any, str]:
    """The curated schema, or one inferred from the training split and written in its place;
    and a note saying which."""
    schema_uri = params.schema_uri
    if ArtifactStore().exists(schema_uri):
        return read_schema(schema_uri), f"curated schema {schema_uri}"
    schema = infer_schema(train_stats, params.label, params.max_missing_fraction, params.range_margin, params.features)
    write_schema(schema, schema_uri)
    schema_note = f"no schema at {schema_uri}: inferred from the training split and written there; review and commit it"
    log.warning(schema_note)
    return schema, schema_note


def range_anomalies(examples, stats: dict[str, Any], schema) -> list[Anomaly]:
    """Values outside the schema's numeric ranges: the statistics say which splits and columns
    to look at; only those columns of those splits are read, to count the rows and take examples."""
    import pyarrow.parquet as pq

    ranges = schema_ranges(schema)
    found: dict[str, dict[str, OutOfRange]] = {}
    for split, columns in sorted(range_violations(stats, schema).items()):
        with ArtifactStore().open(split_uri(examples, split)) as f:
            table = pq.read_table(f, columns=columns)
        for column in columns:
            low, high, _ = ranges[column]
            found.setdefault(column, {})[split] = outside_range(table.column(column).to_pandas(), low, high)
    return [range_anomaly(column, ranges[column], by_split) for column, by_split in sorted(found.items())
            if any(o.rows for o in by_split.values())]


def text_in_numeric_columns(examples, anomalies: list[Anomaly], schema) -> list[Anomaly]:
    """Wrong-type anomalies of numeric columns, with the rows that hold text and a few of the
    texts (read from the split files): what a data scientist must look for in the data."""
    import pyarrow.parquet as pq

    numeric = numeric_columns(schema)
    out = []
    for anomaly in anomalies:
        if "UNEXPECTED_DATA_TYPE" in anomaly.kinds and anomaly.column in numeric:
            found = {}
            for split in anomaly.splits:
                with ArtifactStore().open(split_uri(examples, split)) as f:
                    found[split] = not_numbers(pq.read_table(f, columns=[anomaly.column]).column(anomaly.column).to_pandas())
            anomaly = with_text_examples(anomaly, found)
        out.append(anomaly)
    return out


def drift_vs_champion(spec: ComponentSpec, train_stats, schema, log) -> tuple[str, Any, list[Drift]]:
    """The baseline statistics' URI (``"none"``: nothing to compare with), the baseline's
    training statistics (``None`` then) and the drift measured against them (logged)."""
    baseline = _baseline_key(spec)
    baseline_stats = load_statistics(f"{baseline}/{TRAIN}.stats") if baseline != "none" else None
    drifts = drift(train_stats, baseline_stats, schema) if baseline_stats is not None else []
    for d in drifts:
        log.info("drift %s %s = %.4f (threshold %.4f)%s", d.column, d.measure, d.value, d.threshold, "  DRIFTED" if d.value > d.threshold else "")
    return baseline, baseline_stats, drifts


@dataclass(frozen=True)
class Findings:
    """What validation found, and the verdict that follows: invalid, drifted or valid."""

    anomalies: list[Anomaly]
    drifts: list[Drift]
    baseline: str
    schema_uri: str

    @property
    def drifted(self) -> list[str]:
        return sorted({d.column for d in self.drifts if d.value > d.threshold})

    @property
    def verdict(self) -> str:
        if self.anomalies:
            return "invalid"
        return "drifted" if self.drifted else "valid"

    def summary(self) -> dict[str, Any]:
        """``anomalies.json``, also the details of a rejection."""
        return {
            "verdict": self.verdict,
            "anomalies": [asdict(a) for a in self.anomalies],
            "drift": [asdict(d) for d in self.drifts],
            "drifted_columns": self.drifted,
            "baseline_statistics": self.baseline,
            "schema": self.schema_uri,
        }

    def text(self) -> str:
        """``anomalies.txt``."""
        return (
            (rejection_message(self.anomalies) if self.anomalies else "no schema anomalies") + "\n"
            + (f"drifted columns: {', '.join(self.drifted)}\n" if self.drifted else "no drift above thresholds\n")
        )


def write_reports(ctx: ExecutionContext, findings: Findings, stats: dict[str, Any], counts: dict[str, int], schema_note: str,
                  baseline_stats=None) -> str:
    """The TFDV statistics viewer, ``anomalies.json``/``.txt`` and the HTML report (with the
    distributions against ``baseline_stats``, the champion's training statistics); its URI."""
    import tensorflow_data_validation as tfdv

    store = ArtifactStore()
    store.write_text(
        ctx.output_uri("statistics", "statistics.html"),
        tfdv.utils.display_util.get_statistics_html(
            lhs_statistics=stats[TRAIN], rhs_statistics=stats.get("eval"), lhs_name="train", rhs_name="eval"
        ),
    )
    report_uri = ctx.output_uri("anomalies", "report.html")
    store.write_json(ctx.output_uri("anomalies", "anomalies.json"), findings.summary())
    store.write_text(ctx.output_uri("anomalies", "anomalies.txt"), findings.text())
    store.write_text(report_uri, render_report(findings, counts, schema_note, stats[TRAIN], baseline_stats))
    ctx.log.info("validation report: %s", report_uri)
    return report_uri


def enforce_verdict(findings: Findings, policy: DriftThresholds, report_uri: str, log) -> None:
    """Reject the data on schema anomalies; on drift beyond the hard limit (``stop_above``) or
    of a ``must_not_drift`` feature; and on any drift when ``on_drift`` is ``fail``."""
    drifted, on_drift = findings.drifted, policy.on_drift
    if findings.anomalies:
        raise ComponentError(ErrorKind.DATA, rejection_message(findings.anomalies), {"report": report_uri, **findings.summary()})
    beyond = [d for d in findings.drifts if d.value > policy.stop_above
              or (d.column in policy.must_not_drift and d.value > d.threshold)]
    if beyond:
        what = "; ".join(
            f"{d.column} {d.measure} {d.value:.3f} > "
            + (f"{d.threshold:.3f} (must_not_drift)" if d.column in policy.must_not_drift and d.value <= policy.stop_above
               else f"{policy.stop_above:.3f} (stop_above)")
            for d in beyond)
        raise ComponentError(
            ErrorKind.DATA,
            f"data drift vs the champion's training data beyond what validation.drift allows: {what}. Nothing is "
            f"trained. If the data is right and the world changed, raise validation.drift.stop_above (or take the "
            f"feature out of must_not_drift) and run again; see {report_uri}",
            {"report": report_uri, **findings.summary()},
        )
    if drifted and on_drift == "fail":
        raise ComponentError(
            ErrorKind.DATA,
            f"data drift vs the champion's training data in {', '.join(drifted)} (on_drift: fail); see {report_uri}",
            {"report": report_uri, **findings.summary()},
        )
    if drifted:
        log.warning("data drift in %s (on_drift: warn, going on)", ", ".join(drifted))


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


def distribution_title(column: str, drifts: list[Drift], compared: bool) -> str:
    """A distribution picture's title: the column with its drift figures against the threshold."""
    measured = [d for d in drifts if d.column == column]
    if measured:
        return f"{column}: " + "; ".join(
            f"{d.measure} {d.value:.3f} {'>' if d.value > d.threshold else '<='} {d.threshold:.3f}"
            + (" DRIFTED" if d.value > d.threshold else "") for d in measured)
    return f"{column}: no drift threshold" if compared else f"{column} (no baseline)"


def distributions(train_stats, baseline_stats, drifts: list[Drift]) -> str:
    """Every column of the new training split drawn against the baseline's (``None``: alone)."""
    from airflow_mlops.runtime.ml import report_charts

    theirs = {_name(f): f for f in baseline_stats.datasets[0].features} if baseline_stats is not None else {}
    pictures = [
        report_charts.feature_distribution(
            _name(f), f, theirs.get(_name(f)), distribution_title(_name(f), drifts, baseline_stats is not None))
        for f in train_stats.datasets[0].features
    ]
    return "<div class='charts'>" + "".join(pictures) + "</div>"


def _name(feature) -> str:
    return ".".join(feature.path.step) or feature.name


def render_report(findings: Findings, counts: dict[str, int], schema_note: str, train_stats, baseline_stats=None) -> str:
    anomalies, drifts, verdict = findings.anomalies, findings.drifts, findings.verdict
    sections = [
        f"<p>Verdict: <span class='{'ok' if verdict == 'valid' else 'bad' if verdict == 'invalid' else 'warn'}'>{reports.esc(verdict)}</span></p>",
        "<h2>Rows</h2>" + reports.table(["split", "rows"], sorted(counts.items())),
        "<h2>Schema anomalies</h2>"
        + (
            reports.table(["column", "splits", "anomaly", "description"], [(a.column, ", ".join(a.splits), a.short, a.description) for a in anomalies])
            if anomalies
            else "<p class='ok'>None.</p>"
        ),
        f"<h2>Drift vs the champion's training data</h2><p class='meta'>Baseline: {reports.esc(findings.baseline)}</p>"
        + (
            reports.table(
                ["column", "measure", "value", "threshold", "drifted"],
                [(d.column, d.measure, d.value, d.threshold, "yes" if d.value > d.threshold else "no") for d in drifts],
            )
            if drifts
            else "<p>No comparison (no champion yet, or it was trained on this very data).</p>"
        ),
        "<h2>Distributions: the new training split against the champion's</h2>"
        + ("" if baseline_stats is not None else "<p class='meta'>No champion's training data to compare with: the new data alone.</p>")
        + distributions(train_stats, baseline_stats, drifts),
        "<h2>Feature statistics (train)</h2>"
        + reports.table(["column", "type", "present", "missing %", "distribution"], feature_summary(train_stats)),
        f"<h2>Schema</h2><p>{reports.esc(schema_note)}</p>",
        "<p>Interactive statistics (TFDV Facets, needs internet access for its viewer): "
        "<a href='../statistics/statistics.html'>statistics.html</a></p>",
    ]
    return reports.page("Data validation", sections)


# -- the component --------------------------------------------------------------------------------


def run(ctx: ExecutionContext) -> ComponentResult:
    params: ValidateParams = ctx.params
    examples = ctx.spec.inputs["examples"]
    splits = sorted(examples.properties["splits"])
    reject_dataset(params, examples)

    stats, jobs = compute_statistics(ctx, examples, splits)
    schema, schema_note = curated_or_inferred_schema(params, stats[TRAIN], ctx.log)
    schema = with_drift_thresholds(schema, params.features, params.drift.jensen_shannon, params.drift.l_infinity)
    write_schema(schema, ctx.output_uri("schema", "schema.pbtxt"))
    anomalies = text_in_numeric_columns(examples, schema_anomalies(stats, schema), schema)
    anomalies = sorted(anomalies + range_anomalies(examples, stats, schema), key=lambda a: (a.column, a.short))
    baseline, baseline_stats, drifts = drift_vs_champion(ctx.spec, stats[TRAIN], schema, ctx.log)
    findings = Findings(anomalies, drifts, baseline, params.schema_uri)

    counts = {s: int(examples.properties["splits"][s]) for s in splits}
    report_uri = write_reports(ctx, findings, stats, counts, schema_note, baseline_stats)
    enforce_verdict(findings, params.drift, report_uri, ctx.log)
    return validation_result(ctx, splits, findings, report_uri, jobs)


def validation_result(
    ctx: ExecutionContext, splits: list[str], findings: Findings, report_uri: str, jobs: list[RemoteJob]
) -> ComponentResult:
    anomalies_props = {"verdict": findings.verdict, "drifted_columns": findings.drifted, "report": report_uri}
    return ComponentResult(
        outputs={
            "statistics": OutputArtifact(ctx.output_uri("statistics"), {"splits": splits}),
            "schema": OutputArtifact(ctx.output_uri("schema"), {"curated": findings.schema_uri}),
            "anomalies": OutputArtifact(ctx.output_uri("anomalies"), anomalies_props),
        },
        metrics={"anomalies": len(findings.anomalies), "drifted_columns": len(findings.drifted), "verdict": findings.verdict},
        remote_jobs=jobs,
    )


COMPONENT = Component.implementing(VALIDATE, run, external_fingerprint=external_fingerprint)
