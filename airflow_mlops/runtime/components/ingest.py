"""ingest: read CSV or Parquet from a local path, ``gs://`` or a package, or the DataFrame a Python
function returns, snapshot it as Parquet and split it deterministically into train/eval/test.

Parameters: :class:`~airflow_mlops.contract.params.IngestParams`. ``source`` is a file, a
directory or prefix (every ``.csv``/``.parquet`` under it), a glob, ``package://<package>/<path>``
for data shipped inside an installed package, ``python://<module.path>:<function>[?key=value&...]``
for the data a function importable in the runtime environment returns, ``bigquery://`` for a
BigQuery table, one day of it or a query (:mod:`airflow_mlops.runtime.ml.bigquery_source`), or a list of these (e.g. the
original data and the landing prefix where new batches arrive), where an entry without files yet is
skipped as long as some entry has files. ``split_key`` columns decide a row's split, so the same row
always lands in the same split whatever else is in the file.

A ``python://`` source's function is called with the query's keyword arguments, each value read
as YAML (``as_frame=true`` is ``True``, ``n=3`` is ``3``), and must return a pandas DataFrame or
an object whose ``.frame`` is one (a scikit-learn Bunch from ``load_*(as_frame=True)``), e.g.
``python://sklearn.datasets:load_diabetes?as_frame=true&scaled=false``. It is called once for the
cache fingerprint (a hash of the frame's content) and once to read, so it should be deterministic.

Output ``examples`` (type ``Examples``): ``<split>.parquet`` per split.
"""

from __future__ import annotations

import hashlib
import io
from typing import Any

from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.contract import ComponentError, ComponentSpec, ErrorKind
from airflow_mlops.contract.components import INGEST
from airflow_mlops.contract.params import IngestParams
from airflow_mlops.contract.tasks import REGRESSION
from airflow_mlops.runtime.components.base import Component, ComponentResult, ExecutionContext, OutputArtifact
from airflow_mlops.runtime.ml.csv_checks import head_problem, looks_headerless, table_problem
from airflow_mlops.runtime.ml.csv_reader import arrow_frame
from airflow_mlops.runtime.ml.examples import ROW_GROUP_ROWS

DATA_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
HASH_BUCKETS = 10_000
PYTHON_SCHEME = "python://"
BIGQUERY_SCHEME = "bigquery://"
PYTHON_SYNTAX = "python://<module.path>:<function>[?key=value&...]"


def _data_error(message: str, **details: Any) -> ComponentError:
    return ComponentError(ErrorKind.DATA, message, details)


def resolve_source(source: str | list[str] | tuple[str, ...]) -> list[str]:
    """The data files that ``source`` names, as URIs, sorted; a data error if there are none."""
    if isinstance(source, str):
        return _resolve_one(source)
    files: list[str] = []
    for entry in source:
        try:
            files += _resolve_one(entry)
        except ComponentError as exc:
            if exc.kind is not ErrorKind.DATA:  # e.g. a package that is not installed
                raise
    if not files:
        raise _data_error(f"no .csv or .parquet files in any of {', '.join(source)}", source=source)
    return sorted(set(files))


def _resolve_one(source: str) -> list[str]:
    import fsspec

    if source.startswith("package://"):
        return [_package_file(source)]
    if source.startswith(PYTHON_SCHEME):
        python_function(source)  # a config error now, before any file is read
        return [source]
    if source.startswith(BIGQUERY_SCHEME):
        from airflow_mlops.runtime.ml.bigquery_source import parse

        parse(source)  # a config error now, before BigQuery is asked
        return [source]
    fs, path = fsspec.core.url_to_fs(source)
    if any(ch in path for ch in "*?["):
        paths = fs.glob(path)
    elif fs.isdir(path):
        paths = [p for p in fs.find(path) if _suffix(p) in DATA_SUFFIXES]
    elif fs.exists(path):
        paths = [path]
    else:
        raise _data_error(f"source not found: {source}", source=source)
    if not paths:
        raise _data_error(f"no .csv or .parquet files under {source}", source=source)
    return sorted(fs.unstrip_protocol(p) for p in paths)


def _package_file(source: str) -> str:
    from importlib import resources

    package, _, relative = source.removeprefix("package://").partition("/")
    try:
        path = resources.files(package).joinpath(relative)
    except ModuleNotFoundError:
        raise ComponentError(
            ErrorKind.CONFIG, f"source {source}: package {package!r} is not installed in the runtime environment"
        ) from None
    if not path.is_file():
        raise _data_error(f"source not found: {source} (no {relative} in package {package})", source=source)
    return "file://" + str(path)


def _config_error(source: str, problem: str) -> ComponentError:
    return ComponentError(ErrorKind.CONFIG, f"source {source}: {problem}", {"source": source})


def parse_python_source(source: str) -> tuple[str, str, dict[str, Any]]:
    """``(module, function, keyword arguments)`` of a ``python://`` source, each query value read as YAML."""
    from urllib.parse import parse_qsl

    import yaml

    target, _, query = source.removeprefix(PYTHON_SCHEME).partition("?")
    module, colon, function = target.partition(":")
    if not colon or not all(part.isidentifier() for part in module.split(".")) or not function.isidentifier():
        raise _config_error(source, f"expected {PYTHON_SYNTAX}")
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True) if query else []
    except ValueError:
        raise _config_error(source, f"the query must be key=value pairs joined by '&' ({PYTHON_SYNTAX})") from None
    kwargs: dict[str, Any] = {}
    for key, value in pairs:
        if not key.isidentifier() or key in kwargs:
            raise _config_error(source, f"{key!r} is not a keyword argument name, or is given twice")
        try:
            kwargs[key] = yaml.safe_load(value) if value else None
        except yaml.YAMLError:
            raise _config_error(source, f"the value of {key} is not a YAML scalar: {value!r}") from None
    return module, function, kwargs


def python_function(source: str) -> tuple[Any, dict[str, Any]]:
    """The function a ``python://`` source names and its keyword arguments; config errors for a
    module that cannot be imported, a missing or non-callable function, or arguments it does not take."""
    import importlib
    import inspect

    module_name, name, kwargs = parse_python_source(source)
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - ImportError, or the module failing as it is imported
        raise _config_error(
            source, f"module {module_name!r} cannot be imported in the runtime environment: {type(exc).__name__}: {exc}"
        ) from None
    function = getattr(module, name, None)
    if function is None:
        raise _config_error(source, f"module {module_name!r} has no function {name!r}")
    if not callable(function):
        raise _config_error(source, f"{module_name}.{name} is not callable (it is a {type(function).__name__})")
    try:
        inspect.signature(function).bind(**kwargs)
    except TypeError as exc:
        raise _config_error(source, f"{module_name}.{name} does not take these arguments: {exc}") from None
    except ValueError:  # no signature to check (some builtins): the call will tell
        pass
    return function, kwargs


def read_python_source(source: str):
    """The DataFrame a ``python://`` source's function returns (or the ``.frame`` of what it returns);
    a data error if it raises, returns something else, or returns an empty frame."""
    import pandas as pd

    function, kwargs = python_function(source)
    try:
        result = function(**kwargs)
    except (OSError, TimeoutError) as exc:  # a download that failed (sklearn's fetch_*): retried
        raise ComponentError(ErrorKind.INFRASTRUCTURE, f"source {source}: the function could not reach its data: "
                             f"{type(exc).__name__}: {exc}", {"source": source}) from None
    except Exception as exc:  # noqa: BLE001 - whatever else the user's function raises is a data problem
        raise _data_error(f"source {source}: the function raised {type(exc).__name__}: {exc}",
                          source=source, reason=str(exc)) from None
    frame = result if isinstance(result, pd.DataFrame) else getattr(result, "frame", None)
    if not isinstance(frame, pd.DataFrame):
        raise _data_error(
            f"source {source}: the function returned a {type(result).__name__}, not a pandas DataFrame or an object "
            "with a DataFrame in .frame (scikit-learn's load_* functions need as_frame=true)",
            source=source,
        )
    if frame.empty:
        raise _data_error(f"source {source}: the function returned an empty DataFrame ({frame.shape[0]} rows, "
                          f"{frame.shape[1]} columns)", source=source)
    return frame


def frame_digest(frame: Any) -> bytes:
    """A hash of a frame's column names, dtypes and values (not its index)."""
    import pandas as pd

    try:
        values = pd.util.hash_pandas_object(frame, index=False)
    except TypeError:  # unhashable cells (lists, dicts): hash their text
        values = pd.util.hash_pandas_object(frame.astype(str), index=False)
    digest = hashlib.sha256(repr([(str(c), str(t)) for c, t in frame.dtypes.items()]).encode())
    digest.update(values.values.tobytes())
    return digest.digest()


def _suffix(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""


def labelled_traffic(artifact_root: str, pipeline: str, label: str):
    """The logged predictions whose labels have arrived, as rows of features plus the label."""
    import pandas as pd

    from airflow_mlops.contract.layout import feedback_uri, predictions_uri
    from airflow_mlops.runtime.predictions.feedback import read_feedback
    from airflow_mlops.runtime.predictions.reader import read_predictions

    labels = read_feedback(feedback_uri(artifact_root, pipeline))
    if not labels:
        return pd.DataFrame()
    rows = [
        {**record["features"], label: labels[record["request_id"]]}
        for record in read_predictions(predictions_uri(artifact_root, pipeline))
        if record.get("request_id") in labels and "features" in record
    ]
    return pd.DataFrame(rows)


def source_fingerprint(spec: ComponentSpec) -> str:
    """Content hash of every source file (and of the arrived labels, with ``include_feedback``),
    so changed data is a cache miss; a ``python://`` source adds a hash of the frame it returns."""
    from airflow_mlops.contract.layout import feedback_uri

    digest = hashlib.sha256()
    files = resolve_source(spec.params["source"])
    if spec.params.get("include_feedback"):
        store = ArtifactStore()
        feedback = feedback_uri(spec.artifact_root, spec.pipeline)
        files += [u for u in store.list_files(feedback) if u.endswith(".csv")] if store.exists(feedback) else []
    for uri in files:
        add_source(digest, uri)
    return digest.hexdigest()


def add_source(digest: Any, uri: str) -> None:
    """Add what changes when a source's data does to ``digest``: a file's checksum or bytes, a
    ``python://`` frame's hash, a ``bigquery://`` table's etag (a partition's or query's rows)."""
    digest.update(uri.encode())
    if uri.startswith(PYTHON_SCHEME):
        digest.update(frame_digest(read_python_source(uri)))
    elif uri.startswith(BIGQUERY_SCHEME):
        from airflow_mlops.runtime.ml.bigquery_source import fingerprint

        digest.update(fingerprint(uri).encode())
    else:
        _hash_file(digest, uri)


def _hash_file(digest: Any, uri: str) -> None:
    """Add a file's checksum (object stores keep one; no need to read) or else its bytes to ``digest``."""
    import fsspec

    fs, path = fsspec.core.url_to_fs(uri)
    info = fs.info(path)
    checksum = info.get("md5Hash") or info.get("crc32c")
    if checksum:
        digest.update(str(checksum).encode())
        return
    with fs.open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)


def read_file(uri: str, fmt: str, text_columns: tuple[str, ...] = ()):
    """One data file (or ``python://`` source) as a DataFrame, or a data error that names the file
    and the problem; a CSV's ``text_columns`` are read as written (ids: ``007`` stays ``'007'``)."""
    import fsspec
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    if uri.startswith(PYTHON_SCHEME):
        return read_python_source(uri)
    if uri.startswith(BIGQUERY_SCHEME):
        from airflow_mlops.runtime.ml.bigquery_source import read

        return read(uri)
    fs, path = fsspec.core.url_to_fs(uri)
    if fs.info(path).get("size", 0) == 0:
        raise _data_error(f"file is empty: {uri}", file=uri)
    fmt = DATA_SUFFIXES.get(_suffix(uri), "csv") if fmt == "auto" else fmt
    try:
        with fs.open(path, "rb") as f:
            if fmt == "parquet":
                return pq.read_table(f).to_pandas()
            data = f.read()
        return _read_csv(data, uri, text_columns)
    except pd.errors.EmptyDataError:
        raise _data_error(f"file is empty (no header, no rows): {uri}", file=uri) from None
    except (pd.errors.ParserError, UnicodeDecodeError, pa.ArrowInvalid) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise _data_error(f"could not parse {fmt.upper()} file {uri}: {reason}", file=uri, reason=reason) from None


def _read_csv(data: bytes, uri: str, text_columns: tuple[str, ...] = ()):
    """A sound comma-separated UTF-8 table as a DataFrame, else a data error saying what is wrong
    with it (see :mod:`~airflow_mlops.runtime.ml.csv_checks`). Arrow reads it when it gives what
    pandas would (:mod:`~airflow_mlops.runtime.ml.csv_reader`), several times faster; else (a
    date column, a ragged row, a value that does not fit its column's type ...) the rows are
    checked and pandas reads it."""
    import pandas as pd

    problem = head_problem(data)
    frame = None if problem else arrow_frame(data, text_columns)
    if frame is not None:
        return frame
    problem = problem or table_problem(data)
    if problem:
        raise _data_error(f"{uri} {problem}" if problem.startswith(("is ", "has ", "ends ")) else f"{uri}: {problem}",
                          file=uri, reason=problem)
    return pd.read_csv(io.BytesIO(data), encoding="utf-8-sig", dtype=dict.fromkeys(text_columns, str) or None)


def row_hashes(frame, columns: list[str]):
    """A 64-bit hash of each row's values in ``columns`` (uint64 array), vectorised: the same for
    the same values whatever a column's dtype became - numbers (int, float, nullable) hash as
    float64, anything else as its text, missing as missing - so a row keeps its split when a later
    batch turns a column's ints into floats or adds a missing value."""
    import numpy as np
    import pandas as pd

    hashes = np.zeros(len(frame), dtype=np.uint64)
    for position, column in enumerate(columns):
        values = frame[column]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            numbers = values.astype("float64").to_numpy(na_value=np.nan) + 0.0  # -0.0 is 0.0
            bits = numbers.view(np.uint64).copy()
            bits[np.isnan(numbers)] = _MISSING
            column_hash = _mix(bits)
        else:
            try:
                codes, uniques = pd.factorize(values, use_na_sentinel=True)
            except TypeError:  # unhashable cells (lists, dicts from a python:// source): their text
                as_text = values.map(lambda v: None if v is None or (isinstance(v, float) and v != v) else str(v))
                codes, uniques = pd.factorize(as_text, use_na_sentinel=True)
            texts = np.fromiter((_text_hash(str(u)) for u in uniques), dtype=np.uint64, count=len(uniques))
            column_hash = np.append(texts, np.uint64(_MISSING))[codes]  # code -1 (missing) takes the last
        hashes = _mix(hashes ^ column_hash ^ np.uint64(position + 1))
    return hashes


_MISSING = 0x9E3779B97F4A7C15


def _text_hash(text: str) -> int:
    return int.from_bytes(hashlib.md5(text.encode()).digest()[:8], "big")


def _mix(x):
    """splitmix64's finaliser, applied to ``x`` in place: every input bit moves every output bit."""
    import numpy as np

    with np.errstate(over="ignore"):  # in place (callers pass a fresh array): 80 MB per temporary at 10M rows
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return x


def assign_splits(frame, ratios: dict[str, float], key_columns: list[str]):
    """Split name for every row, from a hash of its key columns' values (stable across runs)."""
    return split_names(row_hashes(frame, key_columns), ratios)


def split_names(hashes, ratios: dict[str, float]):
    """Split name for every row hash (:func:`row_hashes`)."""
    import numpy as np

    buckets = (hashes % np.uint64(HASH_BUCKETS)).astype(np.int64)
    names = sorted(ratios)  # not dict order: the spec's JSON may reorder keys, the split must not move
    edges = np.cumsum([ratios[n] for n in names]) * HASH_BUCKETS
    index = np.minimum(np.searchsorted(edges, buckets, side="right"), len(names) - 1)
    return np.asarray(names, dtype=object)[index]


def _arrow_table(frame):
    import pyarrow as pa

    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        # A column mixing strings and numbers (a corrupted numeric column): keep it as text so the
        # validate step can report it, rather than failing here with an Arrow message.
        mixed = [c for c in frame.columns if frame[c].dtype == object]
        return pa.Table.from_pandas(frame.astype({c: "string" for c in mixed}), preserve_index=False)


def read_sources(params: IngestParams, ctx: ExecutionContext) -> tuple[list[str], list[Any]]:
    """The source files, and one frame per file (each must have the label column) plus the
    labelled production traffic when ``include_feedback`` is on."""
    files = resolve_source(params.source)
    ctx.log.info("reading %d file(s) from %s", len(files), params.source)
    frames = []
    for uri in files:
        frame = read_file(uri, params.format)
        if params.label not in frame.columns:
            hint = ("; the first line looks like data, not column names: the file needs a header line"
                    if looks_headerless([str(c) for c in frame.columns]) else "")
            raise _data_error(
                f"label column {params.label!r} not found in {uri}; its columns are: {', '.join(map(str, frame.columns))}{hint}",
                file=uri,
                label=params.label,
                columns=[str(c) for c in frame.columns],
            )
        ctx.log.info("%s: %d rows, %d columns", uri, len(frame), len(frame.columns))
        frames.append(frame)
    if params.include_feedback:
        traffic = labelled_traffic(ctx.spec.artifact_root, ctx.spec.pipeline, params.label)
        ctx.log.info("labelled production traffic (prediction log + feedback): %d rows", len(traffic))
        if len(traffic):
            frames.append(numeric_labels(traffic, params.label, ctx.log) if params.task == REGRESSION else traffic)
    return files, frames


def numeric_labels(traffic: Any, label: str, log) -> Any:
    """A regression's feedback labels arrive as text: they join as numbers, and one that is not a
    finite number is dropped (and counted)."""
    import numpy as np
    import pandas as pd

    values = pd.to_numeric(traffic[label], errors="coerce")
    usable = np.isfinite(values.to_numpy(dtype="float64"))
    if (~usable).any():
        log.warning("dropped %d labelled predictions whose label is not a finite number", int((~usable).sum()))
    return traffic.assign(**{label: values})[usable]


def combine(frames: list[Any]) -> Any:
    """The frames as one; an integer column missing from some frames stays integer (nullable)."""
    import pandas as pd

    data = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    for column in data.columns:
        kinds = {f[column].dtype.kind for f in frames if column in f.columns}
        if kinds == {"i"} and data[column].dtype.kind == "f":
            data[column] = data[column].astype("Int64")
    return data


def write_splits(data: Any, params: IngestParams, examples_uri: str, ctx: ExecutionContext, hashes: Any) -> dict[str, int]:
    """``<split>.parquet`` per split; the row count of each. ``hashes``: every column's
    :func:`row_hashes`, the split's key unless ``split_key`` names columns."""
    ratios = {name: float(value) for name, value in params.split.items()}
    import pyarrow as pa
    import pyarrow.parquet as pq

    splits = split_names(row_hashes(data, list(params.split_key)) if params.split_key else hashes, ratios)
    table = _arrow_table(data)
    counts: dict[str, int] = {}
    for name in ratios:
        part = table.filter(pa.array(splits == name))
        counts[name] = part.num_rows
        with ArtifactStore().open(f"{examples_uri}/{name}.parquet", "wb") as f:
            pq.write_table(part, f, row_group_size=ROW_GROUP_ROWS)
        ctx.log.info("split %s: %d rows", name, counts[name])
    return counts


def content_fingerprint(data: Any, hashes: Any) -> str:
    """The rows' values (``hashes``: every column's :func:`row_hashes`) in order, and the column
    names: same data, same fingerprint."""
    digest = hashlib.sha256(repr([str(c) for c in data.columns]).encode())
    digest.update(hashes.tobytes())
    return digest.hexdigest()[:20]


def duplicate_rows(hashes: Any) -> int:
    """Rows that are copies of an earlier row (validate judges whether that is too many): rows
    whose :func:`row_hashes` over every column repeat (64 bits: the chance of one false match is
    about 3 in 10^8 among a million rows, 3 % among a billion)."""
    import pandas as pd

    return int(pd.Series(hashes).duplicated().sum())


def run(ctx: ExecutionContext) -> ComponentResult:
    params: IngestParams = ctx.params  # split ratios were checked with the parameters
    files, frames = read_sources(params, ctx)
    data = combine(frames)
    if data.empty:
        raise _data_error(f"no rows in {params.source}: the file(s) have a header but no data",
                          source=params.source, files=files)
    examples_uri = ctx.output_uri("examples")
    hashes = row_hashes(data, list(data.columns))
    counts = write_splits(data, params, examples_uri, ctx, hashes)
    properties = {
        "splits": counts,
        "rows": int(len(data)),
        "columns": {str(c): str(t) for c, t in data.dtypes.items()},
        "label": params.label,
        "source": params.source,
        "files": files,
        "content_fingerprint": content_fingerprint(data, hashes),
        "duplicate_rows": duplicate_rows(hashes),
    }
    metrics = {"rows": int(len(data)), **{f"rows_{name}": n for name, n in counts.items()}}
    return ComponentResult(outputs={"examples": OutputArtifact(uri=examples_uri, properties=properties)}, metrics=metrics)


COMPONENT = Component.implementing(INGEST, run, external_fingerprint=source_fingerprint)
