"""ingest: read CSV or Parquet from a local path, ``gs://`` or a package, snapshot it as Parquet and
split it deterministically into train/eval/test.

Parameters: :class:`~airflow_mlops.contract.params.IngestParams`. ``source`` is a file, a
directory or prefix (every ``.csv``/``.parquet`` under it), a glob, ``package://<package>/<path>``
for data shipped inside an installed package, or a list of these (e.g. the original data and the
landing prefix where new batches arrive), where an entry without files yet is skipped as long as
some entry has files. ``split_key`` columns decide a row's split, so the same row always lands in
the same split whatever else is in the file.

Output ``examples`` (type ``Examples``): ``<split>.parquet`` per split.
"""

from __future__ import annotations

import hashlib
from typing import Any

from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.contract import ComponentError, ComponentSpec, ErrorKind
from airflow_mlops.contract.components import INGEST
from airflow_mlops.contract.params import IngestParams
from airflow_mlops.runtime.components.base import Component, ComponentResult, ExecutionContext, OutputArtifact

DATA_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
HASH_BUCKETS = 10_000


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
    so changed data is a cache miss."""
    import fsspec

    from airflow_mlops.contract.layout import feedback_uri

    digest = hashlib.sha256()
    files = resolve_source(spec.params["source"])
    if spec.params.get("include_feedback"):
        store = ArtifactStore()
        feedback = feedback_uri(spec.artifact_root, spec.pipeline)
        files += [u for u in store.list_files(feedback) if u.endswith(".csv")] if store.exists(feedback) else []
    for uri in files:
        fs, path = fsspec.core.url_to_fs(uri)
        info = fs.info(path)
        checksum = info.get("md5Hash") or info.get("crc32c")  # object stores keep one; no need to read
        digest.update(uri.encode())
        if checksum:
            digest.update(str(checksum).encode())
        else:
            with fs.open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()


def read_file(uri: str, fmt: str):
    """One data file as a DataFrame, or a data error that names the file and the problem."""
    import fsspec
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    fs, path = fsspec.core.url_to_fs(uri)
    if fs.info(path).get("size", 0) == 0:
        raise _data_error(f"file is empty: {uri}", file=uri)
    fmt = DATA_SUFFIXES.get(_suffix(uri), "csv") if fmt == "auto" else fmt
    try:
        with fs.open(path, "rb") as f:
            if fmt == "parquet":
                return pq.read_table(f).to_pandas()
            return pd.read_csv(f)
    except pd.errors.EmptyDataError:
        raise _data_error(f"file is empty (no header, no rows): {uri}", file=uri) from None
    except (pd.errors.ParserError, UnicodeDecodeError, pa.ArrowInvalid) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise _data_error(f"could not parse {fmt.upper()} file {uri}: {reason}", file=uri, reason=reason) from None


def assign_splits(frame, ratios: dict[str, float], key_columns: list[str]):
    """Split name for every row, from a hash of its key columns' values (stable across runs)."""
    import numpy as np

    keys = frame[key_columns].astype(str).agg("\x1f".join, axis=1)
    buckets = np.fromiter(
        (int.from_bytes(hashlib.md5(k.encode()).digest()[:8], "big") % HASH_BUCKETS for k in keys),
        dtype=np.int64,
        count=len(keys),
    )
    names = sorted(ratios)  # not dict order: the spec's JSON may reorder keys, the split must not move
    edges = np.cumsum([ratios[n] for n in names]) * HASH_BUCKETS
    index = np.minimum(np.searchsorted(edges, buckets, side="right"), len(names) - 1)
    return np.asarray(names, dtype=object)[index]


def _write_parquet(frame, uri: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        # A column mixing strings and numbers (a corrupted numeric column): keep it as text so the
        # validate step can report it, rather than failing here with an Arrow message.
        mixed = [c for c in frame.columns if frame[c].dtype == object]
        frame = frame.astype({c: "string" for c in mixed})
        table = pa.Table.from_pandas(frame, preserve_index=False)
    with ArtifactStore().open(uri, "wb") as f:
        pq.write_table(table, f)


def read_sources(params: IngestParams, ctx: ExecutionContext) -> tuple[list[str], list[Any]]:
    """The source files, and one frame per file (each must have the label column) plus the
    labelled production traffic when ``include_feedback`` is on."""
    files = resolve_source(params.source)
    ctx.log.info("reading %d file(s) from %s", len(files), params.source)
    frames = []
    for uri in files:
        frame = read_file(uri, params.format)
        if params.label not in frame.columns:
            raise _data_error(
                f"label column {params.label!r} not found in {uri}; its columns are: {', '.join(map(str, frame.columns))}",
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
            frames.append(traffic)
    return files, frames


def combine(frames: list[Any]) -> Any:
    """The frames as one; an integer column missing from some frames stays integer (nullable)."""
    import pandas as pd

    data = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    for column in data.columns:
        kinds = {f[column].dtype.kind for f in frames if column in f.columns}
        if kinds == {"i"} and data[column].dtype.kind == "f":
            data[column] = data[column].astype("Int64")
    return data


def write_splits(data: Any, params: IngestParams, examples_uri: str, ctx: ExecutionContext) -> dict[str, int]:
    """``<split>.parquet`` per split; the row count of each."""
    ratios = {name: float(value) for name, value in params.split.items()}
    splits = assign_splits(data, ratios, list(params.split_key) or [str(c) for c in data.columns])
    counts: dict[str, int] = {}
    for name in ratios:
        part = data[splits == name]
        counts[name] = int(len(part))
        _write_parquet(part, f"{examples_uri}/{name}.parquet")
        ctx.log.info("split %s: %d rows", name, counts[name])
    return counts


def content_fingerprint(data: Any) -> str:
    import pandas as pd

    return hashlib.sha256(pd.util.hash_pandas_object(data.astype(str), index=False).values.tobytes()).hexdigest()[:20]


def run(ctx: ExecutionContext) -> ComponentResult:
    params: IngestParams = ctx.params  # split ratios were checked with the parameters
    files, frames = read_sources(params, ctx)
    data = combine(frames)
    if data.empty:
        raise _data_error(f"no rows in {params.source}: the file(s) have a header but no data",
                          source=params.source, files=files)
    examples_uri = ctx.output_uri("examples")
    counts = write_splits(data, params, examples_uri, ctx)
    properties = {
        "splits": counts,
        "rows": int(len(data)),
        "columns": {str(c): str(t) for c, t in data.dtypes.items()},
        "label": params.label,
        "source": params.source,
        "files": files,
        "content_fingerprint": content_fingerprint(data),
    }
    metrics = {"rows": int(len(data)), **{f"rows_{name}": n for name, n in counts.items()}}
    return ComponentResult(outputs={"examples": OutputArtifact(uri=examples_uri, properties=properties)}, metrics=metrics)


COMPONENT = Component.implementing(INGEST, run, external_fingerprint=source_fingerprint)
