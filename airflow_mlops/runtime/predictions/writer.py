"""Writing the prediction log: every answered row, appended in batches without blocking requests.

Records go to a queue; a writer thread writes them as JSON lines, one new file per flush, in the
hour partition of each record (:mod:`.partitions`), so the same code writes local files and
``gs://`` objects (which cannot be appended to). A file is written whole (local: atomic rename),
so a reader never sees half of one. ``close()`` drains the queue: nothing accepted is lost on a
clean shutdown.

Records are written as given (their shape per task: :mod:`airflow_mlops.runtime.predictions`):
a classifier's ``prediction`` is a JSON string, a regression's a JSON number - never turned into
a string, so readers get numbers back. JSON has no NaN or infinity: a non-finite number (a
model's NaN output) is written as ``null`` rather than failing the whole batch.
"""

from __future__ import annotations

import json
import logging
import math
import queue
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.contract import join_uri
from airflow_mlops.runtime.predictions.partitions import partition

log = logging.getLogger(__name__)

_STOP = object()


#: a log file is written every this many predictions, or this often, whichever comes first
FLUSH_ROWS = 1000
FLUSH_SECONDS = 1.0

def _json_line(record: dict[str, Any]) -> str:
    try:
        return json.dumps(record, separators=(",", ":"), allow_nan=False)
    except ValueError:  # a NaN or an infinity somewhere
        return json.dumps(_finite(record), separators=(",", ":"), allow_nan=False)


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float replaced by ``None``."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


class PredictionLogger:
    """:param root: the sink (a local path/``file://`` or ``gs://`` URI).
    :param flush_rows: write a file once this many records are waiting ...
    :param flush_seconds: ... or when the oldest has waited this long."""

    def __init__(self, root: str, flush_rows: int = FLUSH_ROWS, flush_seconds: float = FLUSH_SECONDS,
                 store: ArtifactStore | None = None):
        self.root = root
        self.flush_rows = flush_rows
        self.flush_seconds = flush_seconds
        self.store = store or ArtifactStore()
        self.written = 0
        self.failed_writes = 0
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._closed = False
        self._thread.start()

    def log(self, records: Iterable[dict[str, Any]]) -> None:
        if self._closed:
            raise RuntimeError("the prediction log is closed")
        for record in records:
            self._queue.put(record)

    def close(self, timeout: float = 30.0) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join(timeout)
        log.info("prediction log closed: %d records written", self.written)

    def _run(self) -> None:
        pending: list[dict[str, Any]] = []
        deadline = None
        while True:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                item = None
            if item is _STOP:
                self._drain(pending)
                self._write(pending)
                return
            if item is not None:
                pending.append(item)
                deadline = deadline or time.monotonic() + self.flush_seconds
            if pending and (len(pending) >= self.flush_rows or time.monotonic() >= deadline):
                self._drain(pending)
                self._write(pending)
                pending = []
                deadline = None

    def _drain(self, pending: list) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is _STOP:  # close() raced a flush: finish after this batch
                self._queue.put(_STOP)
                return
            pending.append(item)

    def _write(self, records: list[dict[str, Any]]) -> None:
        if not records:
            return
        by_hour: dict[str, list[str]] = defaultdict(list)
        for record in records:
            by_hour[partition(record["timestamp"])].append(_json_line(record))
        for part, lines in by_hour.items():
            name = f"part-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:12]}.jsonl"
            uri = join_uri(self.root, part, name)
            for attempt in range(5):
                try:
                    self.store.write_text(uri, "\n".join(lines) + "\n")
                    self.written += len(lines)
                    break
                except OSError:
                    log.exception("writing %s failed (attempt %d)", uri, attempt + 1)
                    time.sleep(0.2 * 2**attempt)
            else:
                self.failed_writes += len(lines)
