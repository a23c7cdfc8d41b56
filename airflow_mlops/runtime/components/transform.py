"""transform: full-pass analyzers on Beam over the training split.

Vocabularies for categorical features and mean/variance for numeric ones, plus the label's
classes (a regression: the target's mean, variance and range), in one JSON artifact
(``transform.json``). Training turns it into Keras preprocessing
layers inside the model (``airflow_mlops.runtime.ml.preprocessing``), so serving applies exactly this
transform to raw features.

Inputs: ``examples`` (Examples), ``schema`` (Schema). Parameters: ``features``, ``label``,
``task``, ``positive_class``.
Settings: ``beam_pipeline_args``. Output: ``transform`` (Transform).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from typing import Any

from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.contract import ComponentError, ErrorKind, RemoteJob
from airflow_mlops.contract.components import TRANSFORM
from airflow_mlops.contract.params import TransformParams
from airflow_mlops.contract.tasks import BINARY_CLASSIFICATION, CLASSIFICATION, REGRESSION
from airflow_mlops.runtime.components.base import Component, ComponentResult, ExecutionContext, OutputArtifact
from airflow_mlops.runtime.ml.examples import split_uri

# -- analyzers: partial results per chunk, merged, finalised --------------------------------------
# Numeric: (count, mean, M2) merged with Chan et al.'s parallel variance formula, stable for
# any chunking. Categorical: value counts.


def analyze_chunk(columns: Mapping[str, Any], features: dict[str, str], label: str, label_kind: str = "categorical") -> dict[str, Any]:
    """Partial statistics of one chunk of rows (``columns``: column name -> values, a list or an
    Arrow array); the label is analysed as ``label_kind`` (numeric for a regression)."""
    import numpy as np

    partial: dict[str, Any] = {}
    for name, kind in {**features, label: label_kind}.items():
        values = columns.get(name, [])
        if kind == "numeric":
            # infinities count as missing: one would make the mean infinite and the model NaN
            x = _floats(values)
            numbers = x[np.isfinite(x)]
            n = len(numbers)
            mean = float(numbers.mean()) if n else 0.0
            partial[name] = {"n": n, "mean": mean, "m2": float(((numbers - mean) ** 2).sum()), "missing": len(x) - n,
                             "min": float(numbers.min()) if n else None, "max": float(numbers.max()) if n else None}
        else:
            counts = _value_counts(values)
            partial[name] = {"counts": counts, "missing": len(values) - sum(counts.values())}
    return partial


def _floats(values: Any):
    """The values as float64, NaN where missing (or not a number)."""
    import numpy as np
    import pandas as pd

    if hasattr(values, "to_pandas"):  # Arrow
        values = values.to_pandas()
    return pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _value_counts(values: Any) -> Counter:
    """How often each present value occurs, by ``str(value)`` (as the model's inputs see it);
    None and NaN are missing. Arrow arrays are counted in Arrow, then their distinct values named."""
    if hasattr(values, "to_pandas"):
        import pyarrow.compute as pc

        pairs = ((v["values"].as_py(), v["counts"].as_py()) for v in pc.value_counts(values))
    else:
        pairs = ((v, 1) for v in values)
    counts: Counter = Counter()
    for value, count in pairs:
        if value is not None and not (isinstance(value, float) and value != value):
            counts[str(value)] += count
    return counts


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
                m["min"] = min((v for v in (m.get("min"), p.get("min")) if v is not None), default=None)
                m["max"] = max((v for v in (m.get("max"), p.get("max")) if v is not None), default=None)
    return merged


def finalize(merged: dict[str, Any], features: dict[str, str], label: str, task: str = CLASSIFICATION,
             positive_class: str | None = None) -> dict[str, Any]:
    """The transform artifact: per feature what the preprocessing layers need, and the label's
    classes (in the order of the model's outputs) or, for a regression, its statistics."""
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
    out["label"] = label_analysis(merged[label], label, task, positive_class)
    return out


def label_analysis(m: dict[str, Any], label: str, task: str, positive_class: str | None) -> dict[str, Any]:
    """Classification: the classes (binary: negative then positive, the model gives the
    probability of the second); regression: mean, variance, min and max of the target."""
    if task == REGRESSION:
        if m["n"] < 2 or m["m2"] == 0:
            raise ComponentError(ErrorKind.DATA, f"transform: the regression target '{label}' needs at least 2 different values "
                                 f"in the training split (has {m['n']} value(s), variance {m['m2']})")
        return {"name": label, "task": task, "mean": m["mean"], "variance": m["m2"] / m["n"], "min": m["min"],
                "max": m["max"], "count": m["n"], "missing": m["missing"]}
    classes = sorted(m["counts"])
    if len(classes) < 2:
        raise ComponentError(ErrorKind.DATA, f"transform: the label '{label}' has {len(classes)} class(es) in the training split; need 2 or more")
    if task == BINARY_CLASSIFICATION:
        if len(classes) != 2:
            raise ComponentError(ErrorKind.DATA, f"transform: task binary_classification needs exactly 2 classes of '{label}'; "
                                 f"the training split has {len(classes)}: {', '.join(classes[:10])} (use task: classification)")
        positive = positive_class if positive_class is not None else classes[-1]
        if positive not in classes:
            raise ComponentError(ErrorKind.DATA, f"transform: positive_class {positive!r} is not a class of '{label}' "
                                 f"(classes: {', '.join(classes)})")
        classes = [c for c in classes if c != positive] + [positive]
        return {"name": label, "task": task, "classes": classes, "positive_class": positive, "frequencies": dict(m["counts"])}
    return {"name": label, "task": task, "classes": classes, "frequencies": dict(m["counts"])}


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


def analyze_on_beam(
    train_uri: str, features: dict[str, str], label: str, beam_args, label_kind: str = "categorical"
) -> tuple[dict[str, Any], list[RemoteJob]]:
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
            | "Analyze" >> beam.Map(lambda table: analyze_chunk({c: table.column(c) for c in columns}, features, label, label_kind))
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


def check_numeric_target(label: str, dtype: str | None) -> None:
    """A regression's target must be a number column in the examples (ingest records the dtypes)."""
    if dtype is not None and not any(dtype.lower().startswith(kind) for kind in ("int", "uint", "float", "double")):
        raise ComponentError(ErrorKind.DATA, f"transform: task regression needs a numeric target; column '{label}' holds "
                             f"{dtype} values (text?) - check the data, or use task: classification")


def run(ctx: ExecutionContext) -> ComponentResult:
    params: TransformParams = ctx.params
    features, label = params.features, params.label
    examples = ctx.spec.inputs["examples"]
    available = set(examples.properties.get("columns", {}))
    missing = [c for c in [*features, label] if available and c not in available]
    if missing:
        raise ComponentError(ErrorKind.DATA, f"transform: column(s) {', '.join(missing)} not in the examples")

    label_kind = "numeric" if params.task == REGRESSION else "categorical"
    if label_kind == "numeric":
        check_numeric_target(label, examples.properties.get("columns", {}).get(label))
    ctx.log.info("analyzing the training split on Beam: %d features (task %s)", len(features), params.task)
    merged, jobs = analyze_on_beam(split_uri(examples, "train"), features, label, ctx.settings.get("beam_pipeline_args"), label_kind)
    transform = finalize(merged, features, label, params.task, params.positive_class)
    for name, spec in transform["features"].items():
        if spec["type"] == "numeric":
            ctx.log.info("%s: mean %.4f, variance %.4f, %d missing", name, spec["mean"], spec["variance"], spec["missing"])
        else:
            ctx.log.info("%s: vocabulary %s, %d missing", name, spec["vocabulary"], spec["missing"])
    target = transform["label"]
    if "classes" in target:
        ctx.log.info("label %s: classes %s", label, target["classes"])
    else:
        ctx.log.info("target %s: mean %.4f, std %.4f, range %s..%s", label, target["mean"], target["variance"] ** 0.5, target["min"], target["max"])

    uri = ctx.output_uri("transform", "transform.json")
    ArtifactStore().write_json(uri, transform)
    summary = {"classes": target["classes"]} if "classes" in target else {"target_mean": target["mean"]}
    return ComponentResult(
        outputs={"transform": OutputArtifact(ctx.output_uri("transform"), {"task": params.task, **summary})},
        metrics={"features": len(features), **({"classes": len(target["classes"])} if "classes" in target else {})},
        remote_jobs=jobs,
    )


COMPONENT = Component.implementing(TRANSFORM, run)
