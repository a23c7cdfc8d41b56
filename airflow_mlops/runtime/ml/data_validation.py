"""TensorFlow Data Validation, as validate uses it: statistics on Beam, the schema (inferred,
read, written, with drift thresholds), anomalies against it and drift against a baseline."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from typing import Any

from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.contract import RemoteJob


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


# -- statistics on Beam ---------------------------------------------------------------------------


def _local_or_uri(uri: str) -> str:
    return uri.removeprefix("file://")


def generate_statistics(examples_uris: dict[str, str], output_uris: dict[str, str], beam_args) -> list[RemoteJob]:
    """One Beam pipeline computing TFDV statistics for every split; the Dataflow job it ran as, if any."""
    import apache_beam as beam
    import tensorflow_data_validation as tfdv

    from airflow_mlops.runtime.ml.beam import pipeline_options, record_batches, run

    for uri in output_uris.values():
        if uri.startswith("file://"):
            os.makedirs(os.path.dirname(_local_or_uri(uri)), exist_ok=True)
    pipeline = beam.Pipeline(options=pipeline_options(beam_args))
    for split, source in examples_uris.items():
        _ = (
            pipeline
            | f"Read[{split}]" >> beam.io.ReadFromParquetBatched(_local_or_uri(source))
            | f"ToRecordBatches[{split}]" >> beam.FlatMap(record_batches)
            | f"Statistics[{split}]" >> tfdv.GenerateStatistics(tfdv.StatsOptions())
            | f"Write[{split}]" >> tfdv.WriteStatisticsToBinaryFile(_local_or_uri(output_uris[split]))
        )
    return run(pipeline)


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
