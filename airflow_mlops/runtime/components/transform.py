"""transform: full-pass analyzers on Beam over the training split.

Vocabularies for categorical features and mean/variance for numeric ones, plus the label's
classes, in one JSON artifact (``transform.json``). Training turns it into Keras preprocessing
layers inside the model (``airflow_mlops.runtime.ml.preprocessing``), so serving applies exactly this
transform to raw features.

Inputs: ``examples`` (Examples), ``schema`` (Schema). Parameters: ``features``, ``label``.
Settings: ``beam_pipeline_args``. Output: ``transform`` (Transform).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.contract import ComponentError, ErrorKind, RemoteJob
from airflow_mlops.contract.components import TRANSFORM
from airflow_mlops.contract.params import TransformParams
from airflow_mlops.runtime.components.base import Component, ComponentResult, ExecutionContext, OutputArtifact
from airflow_mlops.runtime.ml.examples import split_uri

# -- analyzers: partial results per chunk, merged, finalised --------------------------------------
# Numeric: (count, mean, M2) merged with Chan et al.'s parallel variance formula, stable for
# any chunking. Categorical: value counts.


def analyze_chunk(columns: dict[str, list], features: dict[str, str], label: str) -> dict[str, Any]:
    """Partial statistics of one chunk of rows (``columns``: column name -> values)."""
    partial: dict[str, Any] = {}
    for name, kind in {**features, label: "categorical"}.items():
        values = columns.get(name, [])
        present = [v for v in values if v is not None and not (isinstance(v, float) and v != v)]
        if kind == "numeric":
            numbers = [float(v) for v in present]
            n = len(numbers)
            mean = sum(numbers) / n if n else 0.0
            m2 = sum((x - mean) ** 2 for x in numbers)
            partial[name] = {"n": n, "mean": mean, "m2": m2, "missing": len(values) - n}
        else:
            partial[name] = {"counts": Counter(str(v) for v in present), "missing": len(values) - len(present)}
    return partial


def merge(partials: list[dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for partial in partials:
        for name, p in partial.items():
            m = merged.get(name)
            if m is None:
                merged[name] = {k: (Counter(v) if k == "counts" else v) for k, v in p.items()}
            elif "counts" in p:
                m["counts"].update(p["counts"])
                m["missing"] += p["missing"]
            else:
                n = m["n"] + p["n"]
                if n:
                    delta = p["mean"] - m["mean"]
                    m["m2"] += p["m2"] + delta * delta * m["n"] * p["n"] / n
                    m["mean"] += delta * p["n"] / n
                m["n"] = n
                m["missing"] += p["missing"]
    return merged


def finalize(merged: dict[str, Any], features: dict[str, str], label: str) -> dict[str, Any]:
    """The transform artifact: per feature what the preprocessing layers need."""
    out: dict[str, Any] = {"features": {}, "label": {}}
    for name, kind in features.items():
        m = merged[name]
        if kind == "numeric":
            if m["n"] == 0:
                raise ComponentError(ErrorKind.DATA, f"transform: numeric feature '{name}' has no values in the training split")
            out["features"][name] = {
                "type": "numeric",
                "mean": m["mean"],
                "variance": m["m2"] / m["n"],
                "count": m["n"],
                "missing": m["missing"],
            }
        else:
            counts: Counter = m["counts"]
            # Most frequent first; ties by value, so the vocabulary is deterministic.
            vocabulary = [v for v, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
            out["features"][name] = {
                "type": "categorical",
                "vocabulary": vocabulary,
                "frequencies": dict(counts),
                "missing": m["missing"],
            }
    classes = sorted(merged[label]["counts"])
    if len(classes) < 2:
        raise ComponentError(ErrorKind.DATA, f"transform: the label '{label}' has {len(classes)} class(es) in the training split; need 2 or more")
    out["label"] = {"name": label, "classes": classes, "frequencies": dict(merged[label]["counts"])}
    return out


class _AnalyzeCombineFn:
    """Beam CombineFn over the per-chunk partials (built lazily so Beam is imported only here)."""

    @staticmethod
    def make():
        import apache_beam as beam

        class AnalyzeCombineFn(beam.CombineFn):
            def create_accumulator(self):
                return {}

            def add_input(self, accumulator, partial):
                return merge([accumulator, partial])

            def merge_accumulators(self, accumulators):
                return merge(list(accumulators))

            def extract_output(self, accumulator):
                return accumulator

        return AnalyzeCombineFn()


def analyze_on_beam(train_uri: str, features: dict[str, str], label: str, beam_args) -> tuple[dict[str, Any], list[RemoteJob]]:
    """The merged analysis of the training split; and the Dataflow job that computed it, if any
    (its result goes through ``--temp_location``, which Dataflow workers can write)."""
    import tempfile
    import uuid

    import apache_beam as beam
    from apache_beam.options.pipeline_options import GoogleCloudOptions

    from airflow_mlops.runtime.ml.beam import is_dataflow, pipeline_options, run

    columns = [*features, label]
    options = pipeline_options(beam_args)
    store = ArtifactStore()
    with tempfile.TemporaryDirectory(prefix="mlops-transform-") as tmp:
        work = tmp
        if is_dataflow(options):
            work = f"{options.view_as(GoogleCloudOptions).temp_location.rstrip('/')}/mlops-transform-{uuid.uuid4().hex}"
        out_prefix = f"{work}/analysis"
        pipeline = beam.Pipeline(options=options)
        _ = (
            pipeline
            | "Read" >> beam.io.ReadFromParquetBatched(train_uri.removeprefix("file://"), columns=columns)
            | "Analyze" >> beam.Map(lambda table: analyze_chunk(table.to_pydict(), features, label))
            | "Merge" >> beam.CombineGlobally(_AnalyzeCombineFn.make())
            | "Serialize" >> beam.Map(lambda m: json.dumps({k: {kk: (dict(vv) if isinstance(vv, Counter) else vv) for kk, vv in v.items()} for k, v in m.items()}))
            | "Write" >> beam.io.WriteToText(out_prefix, shard_name_template="", num_shards=1)
        )
        jobs = run(pipeline)
        if work == tmp:
            with open(out_prefix) as f:
                merged = json.loads(f.read())
        else:
            merged = json.loads(store.read_text(out_prefix))
            store.remove(work)
    for value in merged.values():
        if "counts" in value:
            value["counts"] = Counter(value["counts"])
    return merged, jobs


def run(ctx: ExecutionContext) -> ComponentResult:
    params: TransformParams = ctx.params
    features, label = params.features, params.label
    examples = ctx.spec.inputs["examples"]
    available = set(examples.properties.get("columns", {}))
    missing = [c for c in [*features, label] if available and c not in available]
    if missing:
        raise ComponentError(ErrorKind.DATA, f"transform: column(s) {', '.join(missing)} not in the examples")

    ctx.log.info("analyzing the training split on Beam: %d features", len(features))
    merged, jobs = analyze_on_beam(split_uri(examples, "train"), features, label, ctx.settings.get("beam_pipeline_args"))
    transform = finalize(merged, features, label)
    for name, spec in transform["features"].items():
        if spec["type"] == "numeric":
            ctx.log.info("%s: mean %.4f, variance %.4f, %d missing", name, spec["mean"], spec["variance"], spec["missing"])
        else:
            ctx.log.info("%s: vocabulary %s, %d missing", name, spec["vocabulary"], spec["missing"])
    ctx.log.info("label %s: classes %s", label, transform["label"]["classes"])

    uri = ctx.output_uri("transform", "transform.json")
    ArtifactStore().write_json(uri, transform)
    return ComponentResult(
        outputs={"transform": OutputArtifact(ctx.output_uri("transform"), {"classes": transform["label"]["classes"]})},
        metrics={"features": len(features), "classes": len(transform["label"]["classes"])},
        remote_jobs=jobs,
    )


COMPONENT = Component.implementing(TRANSFORM, run)
