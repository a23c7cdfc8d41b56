"""Prediction-log records of many rows at once, built as Arrow string columns.

A batch prediction logs every row; building a dict per row and encoding it costs about ten times
the prediction itself. Here each field is encoded for the whole window with Arrow compute (numbers
formatted, text escaped) and the pieces are joined into one JSON line per row. The lines are the
records :class:`~airflow_mlops.runtime.predictions.writer.PredictionLogger` would write: the same
fields, non-finite numbers and missing values as ``null``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

#: text JSON must escape besides quote and backslash: control characters
_CONTROL = r"[\x00-\x1f]"


def _arrow(values) -> Any:
    import pyarrow as pa

    return values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(values, from_pandas=True)


def json_numbers(values) -> Any:
    """Numbers (anything Arrow casts to float64) as JSON text; missing and non-finite: ``null``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    numbers = _arrow(values).cast(pa.float64())
    text = numbers.cast(pa.string())
    return pc.if_else(pc.fill_null(pc.is_finite(numbers), False), text, "null")


def json_texts(values) -> Any:
    """Text as JSON strings, quoted and escaped; missing: ``null``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = _arrow(values).cast(pa.string())
    if pc.any(pc.match_substring_regex(text, _CONTROL)).as_py():
        encoded = pa.array([None if v is None else json.dumps(v) for v in text.to_pylist()], pa.string())
    else:
        escaped = pc.replace_substring(pc.replace_substring(text, "\\", "\\\\"), '"', '\\"')
        encoded = pc.binary_join_element_wise('"', escaped, '"', "")
    return pc.fill_null(encoded, "null")


def json_object(fields: Mapping[str, Any], end: str = "") -> Any:
    """One JSON object per row from ``{key: JSON-encoded column}``, each followed by ``end``."""
    import pyarrow.compute as pc

    pieces: list[Any] = []
    for i, (key, column) in enumerate(fields.items()):
        pieces += [("{" if i == 0 else ",") + json.dumps(key) + ":", column]
    pieces.append("}" + end)
    return pc.binary_join_element_wise(*pieces, "")


def _concatenated(lines) -> str:
    """The strings of an Arrow string array one after the other: its value buffer, no Python loop."""
    import numpy as np

    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[lines.offset: lines.offset + len(lines) + 1]
    return lines.buffers()[2].to_pybytes()[offsets[0]: offsets[-1]].decode()


def record_lines(
    *, timestamp: str, request_ids: Sequence[str] | Any, features: Mapping[str, tuple[str, Any]], prediction: Any,
    probabilities: Mapping[str, Any] | None, fields: Mapping[str, str],
) -> str:
    """The records as JSON lines, in the server's field order.

    :param features: ``{name: ("numeric" | "categorical", column)}``.
    :param prediction: the predicted classes (text) or values (numbers, a regression).
    :param probabilities: ``{class: column}`` for a classifier, else ``None``.
    :param fields: constant fields appended to every record (``model_version``, ``model_role``).
    """
    import pyarrow as pa

    kind = _arrow(prediction).type
    numeric_prediction = pa.types.is_floating(kind) or pa.types.is_integer(kind)
    record: dict[str, Any] = {
        "timestamp": json.dumps(timestamp),
        "request_id": json_texts(request_ids),
        "features": json_object({name: json_numbers(col) if kind == "numeric" else json_texts(col)
                                 for name, (kind, col) in features.items()}),
        "prediction": json_numbers(prediction) if numeric_prediction else json_texts(prediction),
    }
    if probabilities is not None:
        record["probabilities"] = json_object({c: json_numbers(col) for c, col in probabilities.items()})
    record.update({key: json.dumps(value) for key, value in fields.items()})
    lines = json_object(record, end="\n")
    return _concatenated(lines) if len(lines) else ""
