"""TensorFlow Data Validation, as validate uses it: statistics on Beam, the schema (inferred,
read, written, with drift thresholds and value ranges), anomalies against it and drift against a
baseline."""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass
from typing import Any, NamedTuple

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


def generate_statistics(
    examples_uris: dict[str, str], output_uris: dict[str, str], beam_args, columns: list[str] | None = None
) -> list[RemoteJob]:
    """One Beam pipeline computing TFDV statistics for every split (of ``columns`` only, when
    given); the Dataflow job it ran as, if any."""
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
            | f"Statistics[{split}]" >> tfdv.GenerateStatistics(tfdv.StatsOptions(feature_allowlist=columns))
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


def infer_schema(train_stats, label: str, max_missing_fraction: float, range_margin: float, features: dict[str, str] | None = None):
    """TFDV's inferred schema, with presence limits: a feature may be missing in at most
    ``max_missing_fraction`` of the rows, the label never; and value ranges (``float_domain`` or
    ``int_domain``) for the numeric features and a numeric label: the training split's min..max
    widened by ``range_margin`` of its width on each side, not below 0 where the data has no
    negative values (see :func:`inferred_range`). ``features`` (name -> numeric | categorical)
    says which columns are numeric features; without it, every numeric column gets a range.
    A number that codes a category gets none (its codes have no order), nor does a column that
    is neither a feature nor the label (a ``year`` column would reject next year's data)."""
    import tensorflow_data_validation as tfdv

    schema = tfdv.infer_schema(train_stats, infer_feature_shape=False)
    ranged = None if features is None else {label} | {name for name, kind in features.items() if kind == "numeric"}
    numbers = {_column(f): f.num_stats for f in train_stats.datasets[0].features if f.HasField("num_stats")}
    for feature in schema.feature:
        feature.presence.min_fraction = 1.0 if feature.name == label else 1.0 - max_missing_fraction
        if feature.name in numbers and (ranged is None or feature.name in ranged):
            bounds = inferred_range(numbers[feature.name].min, numbers[feature.name].max, range_margin)
            if bounds is not None:
                _set_range(feature, *bounds)
    return schema


def inferred_range(low: float, high: float, margin: float) -> tuple[float, float] | None:
    """``low..high`` widened by ``margin`` of its width on each side (of ``max(|high|, 1)`` when
    every value is the same), clamped at 0 when ``low`` is not negative: a measurement that is
    never negative (a mass, a length, a count) must not become so; ``None`` for infinities."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return None
    width = high - low if high > low else max(abs(high), 1.0)
    lower, upper = low - margin * width, high + margin * width
    if low >= 0:
        lower = max(lower, 0.0)
    return lower, upper


def _readable_bounds(lower: float, upper: float) -> tuple[float, float]:
    """``lower..upper`` rounded outwards to three significant digits of its width (73.35 -> 73.4
    for a width of 55), then as the schema's 32-bit floats store them, never inside the unrounded
    bounds (a bound that rounded inwards could reject the very values it was inferred from)."""
    import numpy as np

    digits = 2 - math.floor(math.log10(upper - lower)) if upper > lower else 6
    step = 10.0**-digits
    rounded = (round(math.floor(lower / step) * step, max(digits, 0)), round(math.ceil(upper / step) * step, max(digits, 0)))
    low, high = np.float32(min(rounded[0], lower)), np.float32(max(rounded[1], upper))
    if low > lower:
        low = np.nextafter(low, np.float32(-np.inf))
    if high < upper:
        high = np.nextafter(high, np.float32(np.inf))
    return float(low), float(high)


def _set_range(feature, lower: float, upper: float) -> None:
    """A FLOAT feature's ``float_domain`` (readable numbers, see :func:`_readable_bounds`) or an
    INT feature's ``int_domain`` (whole numbers, rounded outwards); a feature with another domain
    (TFDV's ``bool_domain`` for 0/1) keeps it."""
    from tensorflow_metadata.proto.v0 import schema_pb2

    domain = feature.WhichOneof("domain_info")
    if feature.type == schema_pb2.FLOAT and domain in (None, "float_domain"):
        feature.float_domain.min, feature.float_domain.max = _readable_bounds(lower, upper)
    elif feature.type == schema_pb2.INT and domain in (None, "int_domain"):
        feature.int_domain.min = math.floor(lower)
        feature.int_domain.max = math.ceil(upper)


class Range(NamedTuple):
    low: float
    high: float
    integer: bool  # an int_domain

    def text(self) -> str:
        return f"{self.low:g}..{self.high:g}"


def schema_ranges(schema) -> dict[str, Range]:
    """Column -> the range of every ``float_domain`` or ``int_domain`` with a bound (an absent
    bound is an infinity)."""
    ranges = {}
    for feature in schema.feature:
        kind = feature.WhichOneof("domain_info")
        if kind not in ("float_domain", "int_domain"):
            continue
        domain = getattr(feature, kind)
        if domain.HasField("min") or domain.HasField("max"):
            ranges[feature.name] = Range(
                float(domain.min) if domain.HasField("min") else -math.inf,
                float(domain.max) if domain.HasField("max") else math.inf,
                kind == "int_domain",
            )
    return ranges


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
        "# training split; review it, adjust domains, value ranges and presence limits, and commit it.\n"
    )
    ArtifactStore().write_text(uri, header + text_format.MessageToString(schema))


def read_schema(uri: str):
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    return text_format.Parse(ArtifactStore().read_text(uri), schema_pb2.Schema())


# -- anomalies and drift --------------------------------------------------------------------------

# TFDV's out-of-range reasons: it knows only the statistics' min and max, so validate reports
# these itself, with row counts and examples read from the data (range_violations, range_anomaly).
RANGE_KINDS = frozenset({"FLOAT_TYPE_SMALL_FLOAT", "FLOAT_TYPE_BIG_FLOAT", "INT_TYPE_SMALL_INT", "INT_TYPE_BIG_INT"})
OUT_OF_RANGE = "Out-of-range values"
# With a range in the schema TFDV repeats a wrong data type as "Invalid values" of the domain;
# the type anomaly says it already.
DOMAIN_TYPE_KINDS = frozenset({
    "FLOAT_TYPE_STRING_NOT_FLOAT", "FLOAT_TYPE_NON_STRING", "FLOAT_TYPE_NOT_FLOAT", "FLOAT_TYPE_UNKNOWN_TYPE_NUMBER",
    "INT_TYPE_NOT_INT_STRING", "INT_TYPE_INT_EXPECTED",
})


def _column(feature_stats) -> str:
    return ".".join(feature_stats.path.step) or feature_stats.name


def schema_anomalies(stats_by_split: dict[str, Any], schema) -> list[Anomaly]:
    """Anomalies of every split against the schema, one entry per column and problem; values
    outside a range are left out (see :func:`range_violations`), and so is a domain's repetition
    of a wrong data type."""
    import tensorflow_data_validation as tfdv
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    def kind(reason) -> str:
        return anomalies_pb2.AnomalyInfo.Type.Name(reason.type)

    found: dict[tuple[str, str], dict[str, Any]] = {}
    for split, stats in stats_by_split.items():
        for column, info in tfdv.validate_statistics(stats, schema).anomaly_info.items():
            wrong_type = any(kind(r) == "UNEXPECTED_DATA_TYPE" for r in info.reason)
            reasons = [r for r in info.reason if kind(r) not in RANGE_KINDS and not (wrong_type and kind(r) in DOMAIN_TYPE_KINDS)]
            if not reasons:
                continue
            if len(reasons) == len(info.reason):
                short, description = info.short_description, info.description
            elif len(reasons) == 1:
                short, description = reasons[0].short_description, reasons[0].description
            else:
                short, description = "Multiple errors", " ".join(r.description for r in reasons)
            entry = found.setdefault(
                (column, short),
                {"splits": [], "description": description, "kinds": sorted({kind(r) for r in reasons})},
            )
            entry["splits"].append(split)
    return [
        Anomaly(column, tuple(v["splits"]), short, v["description"], tuple(v["kinds"]))
        for (column, short), v in sorted(found.items())
    ]


def range_violations(stats_by_split: dict[str, Any], schema) -> dict[str, list[str]]:
    """Split -> the columns whose statistics' min or max is outside the schema's range (the
    check TFDV makes; the rows themselves are counted by :func:`outside_range`)."""
    ranges = schema_ranges(schema)
    found: dict[str, list[str]] = {}
    for split, stats in stats_by_split.items():
        for feature in stats.datasets[0].features:
            column = _column(feature)
            if column in ranges and feature.HasField("num_stats"):
                low, high, _ = ranges[column]
                if feature.num_stats.min < low or feature.num_stats.max > high:
                    found.setdefault(split, []).append(column)
    return found


@dataclass(frozen=True)
class OutOfRange:
    """A split's values outside a range: how many below, how many above, and the first few
    distinct ones."""

    below: int
    above: int
    examples: tuple[float, ...]

    @property
    def rows(self) -> int:
        return self.below + self.above


def outside_range(values, low: float, high: float, examples: int = 3) -> OutOfRange:
    """The values (a pandas Series) outside ``low..high``; missing values are not counted."""
    import pandas as pd

    numbers = pd.to_numeric(values, errors="coerce").astype("float64")
    below, above = numbers < low, numbers > high
    outside = numbers[below | above]
    return OutOfRange(int(below.sum()), int(above.sum()), tuple(dict.fromkeys(outside.tolist()))[:examples])


def range_anomaly(column: str, bounds: Range, by_split: dict[str, OutOfRange]) -> Anomaly:
    """One column's values outside its range in every split, as one anomaly: e.g. ``column
    'body_mass_g' (eval, train): Out-of-range values - 15 rows outside the schema's range
    2000..10000 (eval 3, train 12), e.g. 12000, -4200, 1e+09``."""
    splits = sorted(s for s, found in by_split.items() if found.rows)
    rows = sum(by_split[s].rows for s in splits)
    per_split = f" ({', '.join(f'{s} {by_split[s].rows}' for s in splits)})" if len(splits) > 1 else ""
    examples = tuple(dict.fromkeys(v for s in splits for v in by_split[s].examples))[:3]
    description = (
        f"{rows} row{'' if rows == 1 else 's'} outside the schema's range {bounds.text()}{per_split}, "
        f"e.g. {', '.join(f'{v:g}' for v in examples)}"
    )
    prefix = "INT_TYPE_{}_INT" if bounds.integer else "FLOAT_TYPE_{}_FLOAT"
    kinds = ([prefix.format("BIG")] if any(by_split[s].above for s in splits) else []) + (
        [prefix.format("SMALL")] if any(by_split[s].below for s in splits) else [])
    return Anomaly(column, tuple(splits), OUT_OF_RANGE, description, tuple(kinds))


def not_numbers(values, examples: int = 3) -> tuple[int, tuple[str, ...]]:
    """How many of the values (a pandas Series) are text that is not a number, and the first
    few distinct ones; missing values are not counted."""
    import pandas as pd

    present = values.dropna()
    text = present[pd.to_numeric(present, errors="coerce").isna()].astype(str)
    return int(len(text)), tuple(dict.fromkeys(text.tolist()))[:examples]


def with_text_examples(anomaly: Anomaly, by_split: dict[str, tuple[int, tuple[str, ...]]]) -> Anomaly:
    """A wrong-type anomaly of a numeric column with the rows holding text and a few of the texts:
    ``... but got STRING; 115 rows hold text that is not a number, e.g. '-', 'n/a'``."""
    rows = sum(count for count, _ in by_split.values())
    if not rows:
        return anomaly
    texts = tuple(dict.fromkeys(t for _, found in by_split.values() for t in found))[:3]
    description = (f"{anomaly.description}; {rows} row{'' if rows == 1 else 's'} hold text that is not a number, "
                   f"e.g. {', '.join(repr(t) for t in texts)}")
    return Anomaly(anomaly.column, anomaly.splits, anomaly.short, description, anomaly.kinds)


def numeric_columns(schema) -> set[str]:
    """The schema's FLOAT and INT columns."""
    from tensorflow_metadata.proto.v0 import schema_pb2

    return {f.name for f in schema.feature if f.type in (schema_pb2.FLOAT, schema_pb2.INT)}


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
