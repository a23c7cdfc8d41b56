"""The one reader of the prediction log.

- :func:`read_prediction_frame`: a window of the log straight into a DataFrame, one row per
  record, only the columns asked for (the named features, :data:`META_COLUMNS`, optional extra
  fields, optionally the error records). It reads file by file with pyarrow's JSON reader and
  converts to pandas once; the monitor step and canary analysis use it.
- :func:`read_predictions`: the same window as whole records (Python dicts), for callers that
  do not know the features' names (ingest's labelled traffic) or want every field. Reading as
  dicts costs ~2.8 KB of memory per prediction (``benchmarks/monitoring.py``): prefer the frame.
- :func:`prediction_frame`: the frame of records already in memory (and of a log file pyarrow
  cannot type).

Both readers read the same files (:func:`~.partitions.window_files`) and the same records:
``since <= timestamp < until``, ISO strings in the log's format (:func:`~.partitions.utc_iso`).

The ``prediction`` column follows the task (see :mod:`airflow_mlops.runtime.predictions`): a
classifier's predictions are classes (strings), a regression's are numbers and come back as
float64 (:func:`prediction_column`); a window whose records mix both (a log spanning a change of
task) keeps each value as it was logged, in an object column.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.runtime.predictions.partitions import window_files

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

#: Columns of a prediction frame besides the features.
META_COLUMNS = ("request_id", "prediction", "model_version", "timestamp")
#: The column of a prediction frame that holds an arrived label (:mod:`.feedback`).
LABEL_COLUMN = "label"
#: The column that holds an error record's message (``errors=True``).
ERROR_COLUMN = "error"


def read_predictions(
    root: str, since: str | None = None, until: str | None = None, store: ArtifactStore | None = None
) -> list[dict[str, Any]]:
    """The records under ``root`` with ``since <= timestamp < until`` (ISO UTC strings; either
    may be omitted), as dicts. Only the hour partitions that can hold such records are read."""
    store = store or ArtifactStore()
    out: list[dict[str, Any]] = []
    for uri in window_files(root, since, until, store):
        out.extend(_records_in_window(store, uri, since, until))
    return out


def read_prediction_frame(
    root: str,
    features: Mapping[str, str],
    since: str | None = None,
    until: str | None = None,
    store: ArtifactStore | None = None,
    *,
    columns: Mapping[str, str] | None = None,
    errors: bool = False,
) -> pd.DataFrame:
    """What ``prediction_frame(read_predictions(root, since, until), features, columns=columns,
    errors=errors)`` returns, read file by file with pyarrow's JSON reader, keeping only the
    columns needed as Arrow tables and converting them to pandas once. A file pyarrow cannot
    parse with the column types (a number where a string belongs) is read with :mod:`json` instead.

    :param features: ``{name: "numeric" | "categorical"}``: the fields of ``features`` wanted.
    :param columns: other top-level fields wanted, ``{name: "numeric" | "categorical"}`` (e.g.
        ``{"latency_ms": "numeric"}``).
    :param errors: keep the error records (the model failed, nothing was predicted), with their
        message in :data:`ERROR_COLUMN` (missing for answered rows); by default they are skipped.
    """
    import pandas as pd
    import pyarrow as pa

    columns = dict(columns or {})
    _check_names(features, columns)
    store = store or ArtifactStore()
    files = window_files(root, since, until, store)
    tables, frames, error_rows = [], [], 0
    for uri in files:
        part, found = _read_file(store, uri, features, columns, errors, since, until)
        error_rows += found
        if part is not None and len(part):
            (tables if isinstance(part, pa.Table) else frames).append(part)
    if tables:
        tables = _same_prediction_type(tables)
        if len({t.schema.field("prediction").type for t in tables}) == 1:
            table = pa.concat_tables(tables)
            tables.clear()  # the concatenation is the only owner left: converting frees it as it goes
            frames.insert(0, table.to_pandas(self_destruct=True, split_blocks=True))
            del table
        else:  # classes and numbers in one window: each as logged
            frames[:0] = [t.to_pandas() for t in tables]
            tables.clear()
    rows = sum(map(len, frames))
    log.info("read %d prediction-log file(s) under %s: %d predictions, %d error records %s",
             len(files), root, rows - (error_rows if errors else 0), error_rows, "kept" if errors else "skipped")
    if not rows:
        return prediction_frame([], features, columns=columns, errors=errors)
    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    return prediction_column(typed(frame, {**features, **columns}))


def prediction_frame(
    records: Iterable[Mapping[str, Any]],
    features: Mapping[str, str],
    *,
    columns: Mapping[str, str] | None = None,
    errors: bool = False,
) -> pd.DataFrame:
    """The features of logged predictions, one row per prediction, plus :data:`META_COLUMNS`
    (then ``columns`` and, with ``errors``, :data:`ERROR_COLUMN`). Error records (an ``error``
    key: the model failed, nothing was predicted) are skipped unless ``errors``.

    :param records: prediction-log records (:func:`read_predictions`).
    :param features: ``{name: "numeric" | "categorical"}``.
    """
    import pandas as pd

    columns = dict(columns or {})
    _check_names(features, columns)
    rows = [r for r in records if errors or ERROR_COLUMN not in r]
    data: dict[str, list[Any]] = {name: [(r.get("features") or {}).get(name) for r in rows] for name in features}
    top = _top_level(columns, errors)
    data.update({column: [r.get(column) for r in rows] for column in top})
    return prediction_column(typed(pd.DataFrame(data, columns=[*features, *top]), {**features, **columns}))


def typed(frame: pd.DataFrame, features: Mapping[str, str]) -> pd.DataFrame:
    """``frame`` with numeric features as float64 (unparseable -> NaN) and categorical ones as
    strings (missing stays missing), so the reference and the log compare like with like."""
    import pandas as pd

    out = frame.copy()
    for name, kind in features.items():
        column = out[name]
        if kind == "numeric":
            out[name] = pd.to_numeric(column, errors="coerce").astype("float64")
        else:
            out[name] = column.where(column.isna(), column.astype(str)).astype(object)
    return out


def prediction_column(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with a regression's ``prediction`` column (every value present a number) as
    float64; classes (strings), and a mix of both, stay as they are."""
    import numbers

    if "prediction" not in frame.columns or frame["prediction"].dtype != object:
        return frame
    present = frame["prediction"].dropna()
    if len(present) and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in present):
        frame = frame.copy()
        frame["prediction"] = frame["prediction"].astype("float64")
    return frame


def _same_prediction_type(tables: list) -> list:
    """Tables whose ``prediction`` column holds nothing (error records only) cast to the type of
    the others', so a window of regression predictions concatenates."""
    kinds = {t.schema.field("prediction").type for t in tables if t.column("prediction").null_count < t.num_rows}
    if len(kinds) != 1:
        return tables
    (kind,) = kinds
    out = []
    for t in tables:
        if t.schema.field("prediction").type != kind:
            index = t.schema.get_field_index("prediction")
            t = t.set_column(index, "prediction", t.column("prediction").cast(kind))
        out.append(t)
    return out


def _top_level(columns: Mapping[str, str], errors: bool) -> list[str]:
    """The frame's columns taken from the records' top level, in order."""
    return [*META_COLUMNS, *columns, *([ERROR_COLUMN] if errors else [])]


def _check_names(features: Mapping[str, str], columns: Mapping[str, str]) -> None:
    clash = sorted(set(features) & {*META_COLUMNS, LABEL_COLUMN})
    if clash:
        raise ValueError(f"feature names {clash} clash with the prediction log's own columns")
    clash = sorted(set(columns) & {*features, *META_COLUMNS, LABEL_COLUMN, ERROR_COLUMN, "features"})
    if clash:
        raise ValueError(f"extra columns {clash} clash with the features or the prediction frame's own columns")


def _records_in_window(store: ArtifactStore, uri: str, since: str | None, until: str | None) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in store.read_text(uri).splitlines() if line]
    return [r for r in records if (since is None or r["timestamp"] >= since) and (until is None or r["timestamp"] < until)]


def _read_file(
    store: ArtifactStore,
    uri: str,
    features: Mapping[str, str],
    columns: Mapping[str, str],
    errors: bool,
    since: str | None,
    until: str | None,
):
    """(the predictions of one log file in the window as an Arrow table - a DataFrame when
    pyarrow could not parse it, ``None`` when there are none -, the number of error records)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        table = _parse_file(store, uri, features, columns)
    except pa.ArrowInvalid as exc:
        log.warning("%s: %s; reading it record by record", uri, exc)
        records = _records_in_window(store, uri, since, until)
        return prediction_frame(records, features, columns=columns, errors=errors), sum(ERROR_COLUMN in r for r in records)
    table = table.filter(_in_window(table, since, until))
    failed = pc.is_valid(table.column(ERROR_COLUMN))
    error_rows = pc.sum(failed).as_py() or 0
    if not errors:
        table = table.filter(pc.invert(failed))
    if not table.num_rows:
        return None, error_rows
    out = {}
    if features:
        struct = table.column("features").combine_chunks()
        out.update(zip([field.name for field in struct.type], struct.flatten()))  # flatten: a null struct -> null values
    out.update({column: table.column(column).combine_chunks() for column in _top_level(columns, errors)})
    return pa.table(out), error_rows


def _parse_file(store: ArtifactStore, uri: str, features: Mapping[str, str], columns: Mapping[str, str]):
    """One log file as an Arrow table: ``prediction`` as strings (classes) or, when the file's
    predictions are numbers (a regression), as float64.

    :raises pyarrow.ArrowInvalid: neither types the file."""
    import pyarrow as pa

    try:
        with store.open(uri) as f:
            return _parse_jsonl(f, features, columns)
    except pa.ArrowInvalid as exc:
        if "/prediction)" not in str(exc):
            raise
    with store.open(uri) as f:
        return _parse_jsonl(f, features, columns, prediction=pa.float64())


def _parse_jsonl(file, features: Mapping[str, str], columns: Mapping[str, str], prediction=None):
    import pyarrow as pa
    import pyarrow.json as pj

    kinds = {"numeric": pa.float64(), "categorical": pa.string()}
    fields = [(column, prediction if column == "prediction" and prediction is not None else pa.string())
              for column in (*META_COLUMNS, ERROR_COLUMN)]
    fields += [(name, kinds.get(kind, pa.string())) for name, kind in columns.items()]
    if features:
        fields.append(("features", pa.struct([(name, kinds.get(kind, pa.string())) for name, kind in features.items()])))
    options = pj.ParseOptions(explicit_schema=pa.schema(fields), unexpected_field_behavior="ignore")
    return pj.read_json(file, parse_options=options)


def _in_window(table, since: str | None, until: str | None):
    import pyarrow.compute as pc

    timestamp = table.column("timestamp")
    mask = pc.is_valid(timestamp)
    if since:
        mask = pc.and_kleene(mask, pc.greater_equal(timestamp, since))
    if until:
        mask = pc.and_kleene(mask, pc.less(timestamp, until))
    return pc.fill_null(mask, False)
