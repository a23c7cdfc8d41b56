"""The artifact store: plain file operations on fsspec URIs, plus the execution-record rules.

Rules (ARCHITECTURE.md section 2): outputs are written first and ``execution.json`` last; only a
directory whose record says ``succeeded`` may be consumed or reused from the cache. Writes of
small JSON files are atomic: a temporary file renamed into place on local disk, a single object
upload on object stores.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from typing import IO, Any

import fsspec
from fsspec.core import url_to_fs
from fsspec.implementations.local import LocalFileSystem

from airflow_mlops.contract import EXECUTION_FILE, ExecutionRecord, Status, join_uri

log = logging.getLogger(__name__)


def to_uri(path_or_uri: str) -> str:
    """``/abs/path`` -> ``file:///abs/path``; URIs with a scheme are returned unchanged."""
    if "://" in path_or_uri:
        return path_or_uri
    return "file://" + os.path.abspath(path_or_uri)


class ArtifactStore:
    """File operations on URIs.

    :param storage_options: extra keyword arguments for the fsspec filesystem (e.g. a GCS
        ``endpoint_url`` or ``token``); by default fsspec's own configuration applies, including
        ``FSSPEC_GCS_*`` environment variables.
    """

    def __init__(self, storage_options: dict[str, Any] | None = None):
        self.storage_options = storage_options or {}

    def _fs(self, uri: str) -> tuple[fsspec.AbstractFileSystem, str]:
        return url_to_fs(uri, **self.storage_options)

    def exists(self, uri: str) -> bool:
        fs, path = self._fs(uri)
        return fs.exists(path)

    def open(self, uri: str, mode: str = "rb") -> IO[Any]:
        fs, path = self._fs(uri)
        if "w" in mode and isinstance(fs, LocalFileSystem):
            fs.makedirs(fs._parent(path), exist_ok=True)
        return fs.open(path, mode)

    def read_text(self, uri: str) -> str:
        with self.open(uri, "rb") as f:
            return f.read().decode("utf-8")

    def read_json(self, uri: str) -> Any:
        return json.loads(self.read_text(uri))

    def write_text(self, uri: str, text: str) -> None:
        """Write ``text`` so that a reader sees either the old content, nothing, or all of it."""
        fs, path = self._fs(uri)
        data = text.encode("utf-8")
        if isinstance(fs, LocalFileSystem):
            directory = fs._parent(path)
            fs.makedirs(directory, exist_ok=True)
            tmp = f"{path}.tmp-{uuid.uuid4().hex}"
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        else:
            fs.pipe_file(path, data)

    def write_json(self, uri: str, data: Any) -> None:
        self.write_text(uri, json.dumps(data, indent=2, sort_keys=True, default=str))

    def move(self, src: str, dst: str) -> None:
        """Rename a file (local: atomic; an object store: a copy made by the server, then a delete)."""
        fs, path = self._fs(src)
        fs.mv(path, self._fs(dst)[1])

    def remove(self, uri: str) -> None:
        """Remove a file or a directory tree; a missing one is not an error."""
        fs, path = self._fs(uri)
        if fs.exists(path):
            fs.rm(path, recursive=True)

    def list_files(self, uri: str) -> list[str]:
        """Every file under ``uri`` (recursively), as URIs, sorted."""
        fs, path = self._fs(uri)
        return sorted(fs.unstrip_protocol(p) for p in fs.find(path))

    def put_dir(self, local_dir: str, uri: str) -> None:
        """Copy a local directory tree to ``uri`` (replacing what was there)."""
        fs, path = self._fs(uri)
        if fs.exists(path):
            fs.rm(path, recursive=True)
        if isinstance(fs, LocalFileSystem):
            shutil.copytree(local_dir, path)
        else:
            fs.put(local_dir.rstrip("/") + "/", path, recursive=True)

    @contextlib.contextmanager
    def local_dir(self, uri: str) -> Iterator[str]:
        """A local path with the content of directory ``uri``: the path itself for ``file://``,
        a temporary download otherwise (libraries such as Keras and TFDV want local paths)."""
        fs, path = self._fs(uri)
        if isinstance(fs, LocalFileSystem):
            yield path
            return
        with tempfile.TemporaryDirectory(prefix="mlops-") as tmp:
            fs.get(path.rstrip("/") + "/", tmp, recursive=True)
            yield tmp

    # -- execution records -------------------------------------------------------------------

    def read_record(self, execution_dir: str) -> ExecutionRecord | None:
        """The record in ``execution_dir`` if there is one, else ``None``."""
        uri = join_uri(execution_dir, EXECUTION_FILE)
        try:
            return ExecutionRecord.from_json(self.read_text(uri))
        except FileNotFoundError:
            return None

    def succeeded_record(self, execution_dir: str) -> ExecutionRecord | None:
        """The record in ``execution_dir`` if it says ``succeeded`` (a usable cache entry)."""
        record = self.read_record(execution_dir)
        if record is not None and record.status is Status.SUCCEEDED:
            return record
        return None

    def write_record(self, execution_dir: str, record: ExecutionRecord) -> str:
        """Write ``execution.json`` - call this after every output is complete."""
        uri = join_uri(execution_dir, EXECUTION_FILE)
        self.write_text(uri, record.to_json())
        return uri
