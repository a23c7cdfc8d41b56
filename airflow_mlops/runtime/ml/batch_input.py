"""The rows of a batch prediction as the champion reads them: one Parquet file of the features
(numbers as float64, categories as text) and the columns kept for the output, checked file by
file; and the champion's schema as it applies to rows without a label."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_mlops.contract import ComponentError, ErrorKind

#: the name of a batch's only "split": ``<batch>/batch.parquet``, ``<statistics>/batch.stats``
BATCH = "batch"


def _data_error(message: str, **details: Any) -> ComponentError:
    return ComponentError(ErrorKind.DATA, message, details)


def missing_columns_problem(uri: str, columns: Sequence[str], needed: Sequence[str], what: str) -> str | None:
    from airflow_mlops.runtime.ml.csv_checks import looks_headerless

    missing = [c for c in needed if c not in columns]
    if not missing:
        return None
    hint = ("; the first line looks like data, not column names: the file needs a header line"
            if looks_headerless(list(columns)) else "")
    return f"{uri} has no column(s) {', '.join(missing)} ({what}); its columns are: {', '.join(columns)}{hint}"


def categorical_text(column):
    """A categorical column as Arrow strings: ``str`` of each value, the way transform names the
    categories; an integer code read as float because of missing values stays ``'1'``, not ``'1.0'``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_floating(column.type):
        values = column.drop_null()
        finite = pc.is_finite(values)
        if len(values) and pc.all(finite).as_py() and pc.all(pc.equal(values, pc.floor(values))).as_py():
            column = column.cast(pa.int64())
    if pa.types.is_boolean(column.type):  # str(True), as pandas' astype(str) gives
        return pc.if_else(column, "True", "False")
    return column.cast(pa.string())


def conform(frame, uri: str, features: Mapping[str, str], keep: Sequence[str], int_categories: Sequence[str] = ()):
    """The columns of one input file that the batch keeps, as an Arrow table of a fixed schema:
    every feature (numbers float64, categories text; ``int_categories``, categories the
    champion's schema holds as integer codes, int64 when every value is one) then the kept
    columns (as text).

    :raises ComponentError: a missing feature or kept column, or text in a numeric feature (with
        the rows and a few of the values)."""
    import pandas as pd
    import pyarrow as pa

    from airflow_mlops.runtime.ml.data_validation import not_numbers

    columns = [str(c) for c in frame.columns]
    problem = (missing_columns_problem(uri, columns, list(features), "features the model needs")
               or missing_columns_problem(uri, columns, list(keep), "batch_prediction.keep_columns"))
    if problem:
        raise _data_error(problem, file=uri, columns=columns)
    arrays, names = [], []
    for name, kind in features.items():
        values = frame[name]
        if kind == "numeric":
            count, examples = not_numbers(values)
            if count:
                raise _data_error(
                    f"{uri}: numeric feature {name} holds text that is not a number in {count} row"
                    f"{'' if count == 1 else 's'}, e.g. {', '.join(repr(e) for e in examples)}; fix or blank them",
                    file=uri, column=name, rows=count, examples=list(examples))
            # NaN (a blank cell) becomes null, as ingest stores it
            arrays.append(pa.array(pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64"), pa.float64(), from_pandas=True))
        elif name in int_categories and (codes := integer_codes(values)) is not None:
            arrays.append(codes)
        else:
            arrays.append(text_column(values))
        names.append(name)
    for name in keep:
        if name not in features:
            arrays.append(text_column(frame[name]))
            names.append(name)
    return pa.Table.from_arrays(arrays, names=names)


def integer_codes(values):
    """A column of whole numbers (missing allowed) as Arrow int64, else ``None``."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    numbers = pd.to_numeric(values, errors="coerce")
    present = values.notna().to_numpy()
    if numbers[present].isna().any() or not np.all(np.mod(numbers[present].to_numpy(dtype="float64"), 1) == 0):
        return None
    return pa.array(numbers.astype("Int64"), pa.int64(), from_pandas=True)


def int_categories(schema, features: Mapping[str, str]) -> list[str]:
    """The categorical features the schema types INT (integer codes)."""
    from tensorflow_metadata.proto.v0 import schema_pb2

    return [f.name for f in schema.feature if features.get(f.name) == "categorical" and f.type == schema_pb2.INT]


def text_column(values):
    """A pandas column as Arrow text (:func:`categorical_text`); a column mixing types, each value's ``str``."""
    import pandas as pd
    import pyarrow as pa

    try:
        return categorical_text(pa.array(values, from_pandas=True))
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if pd.isna(v) else str(v) for v in values], pa.string())


def serving_schema(schema, features: Mapping[str, str]):
    """The champion's schema for rows without a label: only the features; an INT numeric feature
    becomes FLOAT with the same range (a batch's numbers are read as float64, as served rows are)."""
    from tensorflow_metadata.proto.v0 import schema_pb2

    out = schema_pb2.Schema()
    out.CopyFrom(schema)
    del out.feature[:]
    for feature in schema.feature:
        if feature.name not in features:
            continue
        kept = out.feature.add()
        kept.CopyFrom(feature)
        if features[feature.name] == "numeric" and kept.type == schema_pb2.INT:
            kept.type = schema_pb2.FLOAT
            if kept.HasField("int_domain"):
                low = kept.int_domain.min if kept.int_domain.HasField("min") else None
                high = kept.int_domain.max if kept.int_domain.HasField("max") else None
                kept.ClearField("int_domain")
                kept.float_domain.SetInParent()
                if low is not None:
                    kept.float_domain.min = float(low)
                if high is not None:
                    kept.float_domain.max = float(high)
    return out
