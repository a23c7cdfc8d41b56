"""Writing the prediction log: every answered row, appended in batches without blocking requests.

Records go to a queue; a writer thread writes them as JSON lines, one new file per flush, in the
hour partition of each record (:mod:`.partitions`), so the same code writes local files and
``gs://`` objects (which cannot be appended to). A file is written whole (local: atomic rename),
so a reader never sees half of one. ``close()`` drains the queue: nothing accepted is lost on a
clean shutdown.

With a ``journal_dir`` (the prediction server's), nothing accepted is lost when the process is
killed either: :meth:`PredictionLogger.log` appends the records to a local journal file (one per
logger, locked while it lives) before it returns, and the writer thread records how far the journal
was written to the sink. The next logger on the same directory replays what a dead one's journal
holds beyond that point. The files of a journal are named by the journal and the offset their batch
starts at, so a replay of a batch that was written but not yet recorded overwrites the same files
with a superset of the records (each file is replaced whole): no record is written twice.

Records are written as given (their shape per task: :mod:`airflow_mlops.runtime.predictions`):
a classifier's ``prediction`` is a JSON string, a regression's a JSON number - never turned into
a string, so readers get numbers back. JSON has no NaN or infinity: a non-finite number (a
model's NaN output) is written as ``null`` rather than failing the whole batch.
"""

from __future__ import annotations

import fcntl
import json
import logging
import math
import os
import queue
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.contract import join_uri
from airflow_mlops.runtime.predictions.partitions import partition

log = logging.getLogger(__name__)

_STOP = object()


#: a log file is written every this many predictions, or this often, whichever comes first
FLUSH_ROWS = 1000
FLUSH_SECONDS = 1.0
#: a journal whose records were all written is replaced by a new one beyond this size
JOURNAL_ROTATE_BYTES = 64 * 2**20


class _Entry(NamedTuple):
    """A record in the queue: its JSON line, its hour partition and where it is in the journal."""

    line: str
    part: str
    timestamp: str
    journal: str = ""
    start: int = 0
    end: int = 0

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
    :param flush_seconds: ... or when the oldest has waited this long.
    :param journal_dir: a local directory for the write-ahead journal (none: records still in the
        queue are lost if the process is killed)."""

    def __init__(self, root: str, flush_rows: int = FLUSH_ROWS, flush_seconds: float = FLUSH_SECONDS,
                 store: ArtifactStore | None = None, journal_dir: str | Path | None = None):
        self.root = root
        self.flush_rows = flush_rows
        self.flush_seconds = flush_seconds
        self.store = store or ArtifactStore()
        self.written = 0
        self.failed_writes = 0
        #: records of dead loggers' journals written by this one
        self.replayed = 0
        self._queue: queue.Queue = queue.Queue()
        self._closed = False
        self._unwritten = False  # records the final flush could not write (their journal is kept)
        self._journal: _Journal | None = None
        self._journal_lock = threading.Lock()
        if journal_dir is not None:
            self._journal_dir = Path(journal_dir)
            self._journal_dir.mkdir(parents=True, exist_ok=True)
            self._journal = _Journal.create(self._journal_dir)
            self.replayed = self._replay_orphans()
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    def log(self, records: Iterable[dict[str, Any]]) -> None:
        if self._closed:
            raise RuntimeError("the prediction log is closed")
        entries = [(_json_line(r), partition(r["timestamp"]), r["timestamp"]) for r in records]
        if not entries:
            return
        if self._journal is None:
            for line, part, timestamp in entries:
                self._queue.put(_Entry(line, part, timestamp))
            return
        with self._journal_lock:  # the journal's order is the queue's order
            journal = self._journal
            offset = journal.end
            journal.append("".join(line + "\n" for line, _, _ in entries).encode())
            for line, part, timestamp in entries:
                end = offset + len(line.encode()) + 1
                self._queue.put(_Entry(line, part, timestamp, journal.id, offset, end))
                offset = end

    def close(self, timeout: float = 30.0) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join(timeout)
        if self._journal is not None and not self._thread.is_alive() and not self._unwritten:
            self._journal.remove()  # everything it holds was written
        log.info("prediction log closed: %d records written", self.written)

    def _run(self) -> None:
        pending: list[_Entry] = []
        deadline = None
        while True:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                item = None
            if item is _STOP:
                self._drain(pending)
                self._unwritten = not self._flush(pending)
                return
            if item is not None:
                pending.append(item)
                deadline = deadline or time.monotonic() + self.flush_seconds
            if pending and (len(pending) >= self.flush_rows or time.monotonic() >= deadline):
                self._drain(pending)
                if self._flush(pending):
                    pending, deadline = [], None
                else:  # kept: tried again with what comes next, or after another interval
                    deadline = time.monotonic() + self.flush_seconds

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

    def _flush(self, entries: list[_Entry]) -> bool:
        """Write the entries; whether they are done with. Without a journal they are, written or
        not (``failed_writes`` counts the lost); with one, entries that could not all be written stay
        and are written again, with the later ones, under the same names: the journal is marked
        written in order only."""
        if not entries:
            return True
        ok = self._write(entries)
        journal = self._journal
        if journal is None:
            return True
        if not ok:
            return False
        try:
            journal.mark_written(entries[-1].end)
        except OSError:
            # Kept and written again (same names) before any later batch: a replay then never
            # finds two written batches beyond the mark, so it cannot write a row twice.
            log.exception("prediction log: could not mark journal %s written", journal.path.name)
            return False
        if journal.written >= JOURNAL_ROTATE_BYTES:
            with self._journal_lock:
                if journal.end == journal.written:  # nothing of it is still in the queue
                    self._journal = _Journal.create(self._journal_dir)
                    journal.remove()
        return True

    def _write(self, entries: list[_Entry]) -> bool:
        """Write the entries, one file per hour partition; whether all were written."""
        by_hour: dict[str, list[_Entry]] = defaultdict(list)
        for entry in entries:
            by_hour[entry.part].append(entry)
        ok = True
        for part, group in by_hour.items():
            first = group[0]
            if first.journal:
                # named by the batch's place in its journal: a replay replaces the same file
                stamp = first.timestamp[:19].replace("-", "").replace(":", "")
                name = f"part-{stamp}-{first.journal[:16]}-{entries[0].start:012d}.jsonl"
            else:
                name = f"part-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:12]}.jsonl"
            uri = join_uri(self.root, part, name)
            for attempt in range(5):
                try:
                    self.store.write_text(uri, "\n".join(e.line for e in group) + "\n")
                    self.written += len(group)
                    break
                except OSError:
                    log.exception("writing %s failed (attempt %d)", uri, attempt + 1)
                    time.sleep(0.2 * 2**attempt)
            else:
                self.failed_writes += len(group)
                ok = False
        return ok

    def _replay_orphans(self) -> int:
        """Write what the journals of dead loggers hold beyond what they wrote, then remove them."""
        replayed = 0
        for path in sorted(self._journal_dir.glob("*.jsonl")):
            journal = _Journal.take_over(path)
            if journal is None or self._journal is None or journal.id == self._journal.id:
                continue
            entries = journal.unwritten()
            if entries and not self._write(entries):
                journal.release()  # the sink is failing: left for the next logger
                continue
            replayed += len(entries)
            log.warning("prediction log: %d records of a killed server's journal %s written", len(entries), path.name)
            journal.remove()
        return replayed


class _Journal:
    """One logger's journal: ``<id>.jsonl`` (the records, appended), ``<id>.written`` (how many
    bytes of it were written to the sink), held under an exclusive ``flock`` while its logger lives."""

    def __init__(self, path: Path, fd: int):
        self.path = path
        self.id = path.stem
        self.fd = fd
        self.end = os.fstat(fd).st_size
        marker = path.with_suffix(".written")
        self.written = int(marker.read_text() or 0) if marker.exists() else 0

    @classmethod
    def create(cls, directory: Path) -> _Journal:
        path = directory / f"{uuid.uuid4().hex}.jsonl"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return cls(path, fd)

    @classmethod
    def take_over(cls, path: Path) -> _Journal | None:
        """The journal at ``path`` if no live logger holds it (else, or if it is gone, ``None``)."""
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        if os.fstat(fd).st_nlink == 0:  # another logger replayed and removed it while we waited
            os.close(fd)
            return None
        return cls(path, fd)

    def append(self, data: bytes) -> None:
        # One write: the kernel keeps it if the process is killed right after (not if the machine stops).
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]
        self.end += len(data)

    def mark_written(self, offset: int) -> None:
        marker = self.path.with_suffix(".written")
        tmp = marker.with_suffix(".written.tmp")
        tmp.write_text(str(offset))
        os.replace(tmp, marker)
        self.written = offset

    def unwritten(self) -> list[_Entry]:
        """The records beyond the written mark (an unfinished last line, cut by the kill, is not one:
        its request got no answer)."""
        with open(self.path, "rb") as f:
            f.seek(self.written)
            data = f.read()
        entries, offset = [], self.written
        for raw in data.split(b"\n")[:-1]:
            end = offset + len(raw) + 1
            try:
                line = raw.decode()
                record = json.loads(line)
                entries.append(_Entry(line, partition(record["timestamp"]), record["timestamp"], self.id, offset, end))
            except (UnicodeDecodeError, ValueError, KeyError, TypeError):
                log.warning("prediction log: an unreadable line at byte %d of journal %s skipped", offset, self.path.name)
            offset = end
        return entries

    def remove(self) -> None:
        for path in (self.path, self.path.with_suffix(".written")):
            path.unlink(missing_ok=True)
        self.release()

    def release(self) -> None:
        try:
            os.close(self.fd)
        except OSError:
            pass
