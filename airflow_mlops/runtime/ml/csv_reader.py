"""A sound CSV table read by Arrow's multi-threaded C++ reader into the DataFrame pandas' reader
would give, or ``None`` where the two could differ (pandas then reads it).

pandas' single-threaded reader takes most of ingest's time on a large file. Arrow also infers
dates and times, and gives a column of empty fields (or a file with a header only) nulls of no
type, where pandas gives text and float NaN: each of those returns ``None``. What is kept: int64
(a column with missing values becomes float64, as in pandas), float64, bool and text columns (a
column mixing numbers and text is text in both), with pandas' missing-value words (``NA``,
``null``, empty, ...) and NaN (not ``None``) for a missing text value. Rows with another number
of fields than the header, which pandas pads or misreads, make Arrow fail: ``None``.
"""

from __future__ import annotations

import io
from typing import Any


def arrow_frame(data: bytes, text_columns: tuple[str, ...] = ()) -> Any | None:
    """``data`` (a UTF-8 CSV table with a header) as pandas would read it, or ``None``;
    ``text_columns`` are kept as written (an id ``007`` stays ``'007'``)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv
    from pandas._libs.parsers import STR_NA_VALUES

    try:
        table = pacsv.read_csv(
            io.BytesIO(data),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(null_values=sorted(STR_NA_VALUES), strings_can_be_null=True,
                                                 column_types={c: pa.string() for c in text_columns}),
        )
    except (pa.ArrowException, ValueError):
        return None
    kept = (pa.types.is_int64, pa.types.is_float64, pa.types.is_boolean, pa.types.is_string)
    if not all(any(kind(field.type) for kind in kept) for field in table.schema):
        return None
    frame = table.to_pandas()
    for position, column in enumerate(frame.columns):
        nulls = table.column(position).null_count
        if nulls and frame[column].dtype == object:  # pandas' missing text is NaN, Arrow's None
            values = frame[column].to_numpy(copy=True)
            values[table.column(position).is_null().to_numpy()] = np.nan
            frame[column] = values
    return frame
