"""The prediction log's write-ahead journal: what a killed server had accepted but not yet written
is written by the next server on the same journal directory, once, and never from a live one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from airflow_mlops.runtime.predictions import writer
from airflow_mlops.runtime.predictions.writer import PredictionLogger

# A server process: logs ``n`` records (ids k0..k<n-1>) with the given flush settings, says how many
# it has written once at least ``wait_written`` were, and waits to be killed (``mark`` "die": it
# kills itself where it would mark its first batch written).
SERVER = """
import sys, time
from airflow_mlops.runtime.predictions import writer
root, journal, n, flush_rows, wait_written, mark = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
if mark == "die":  # killed between writing its first batch and marking it written
    import os, signal
    writer._Journal.mark_written = lambda self, offset: os.kill(os.getpid(), signal.SIGKILL)
logger = writer.PredictionLogger(root, flush_rows=flush_rows, flush_seconds=60, journal_dir=journal)
for i in range(n):
    logger.log([{"timestamp": f"2026-11-22T{9 + i % 2:02d}:15:00.000+00:00", "request_id": f"k{i}"}])
while logger.written < wait_written:
    time.sleep(0.01)
print(logger.written, flush=True)
time.sleep(600)
"""


def killed_server(tmp_path: Path, n: int, flush_rows: int, wait_written: int = 0, mark: str = "yes") -> int:
    """Run a logging server process, SIGKILL it; how many records it had written."""
    proc = subprocess.Popen([sys.executable, "-c", SERVER, f"file://{tmp_path}/log", str(tmp_path / "journal"), str(n),
                             str(flush_rows), str(wait_written), mark], stdout=subprocess.PIPE, text=True)
    said = proc.stdout.readline()  # nothing when it killed itself
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    return int(said) if said else sum(logged_ids(tmp_path).values())


def logged_ids(tmp_path: Path) -> Counter:
    ids: Counter = Counter()
    for path in (tmp_path / "log").rglob("*.jsonl"):
        ids.update(json.loads(line)["request_id"] for line in path.read_text().splitlines())
    return ids


def test_records_in_the_queue_of_a_killed_server_are_written_by_the_next_one(tmp_path):
    # nothing written before the kill (a flush every 10,000 rows or minute)
    assert killed_server(tmp_path, n=50, flush_rows=10_000) == 0
    assert logged_ids(tmp_path) == Counter()
    assert len(list((tmp_path / "journal").glob("*.jsonl"))) == 1

    nxt = PredictionLogger(f"file://{tmp_path}/log", flush_seconds=60, journal_dir=tmp_path / "journal")
    assert nxt.replayed == 50
    nxt.close()
    assert logged_ids(tmp_path) == Counter({f"k{i}": 1 for i in range(50)})
    assert list((tmp_path / "journal").iterdir()) == []  # the dead journal and the new one's are gone


def test_a_batch_written_but_not_marked_before_the_kill_is_not_written_twice(tmp_path):
    # the first batch (10 rows or more) was written, and the process died before marking it
    written = killed_server(tmp_path, n=25, flush_rows=10, wait_written=10**6, mark="die")
    assert 10 <= written <= 25
    before = logged_ids(tmp_path)
    assert sum(before.values()) == written and set(before.values()) == {1}

    nxt = PredictionLogger(f"file://{tmp_path}/log", flush_seconds=60, journal_dir=tmp_path / "journal")
    nxt.close()
    assert nxt.replayed == 25
    assert logged_ids(tmp_path) == Counter({f"k{i}": 1 for i in range(25)})


def test_a_marked_batch_is_not_replayed(tmp_path):
    written = killed_server(tmp_path, n=25, flush_rows=10, wait_written=20)
    nxt = PredictionLogger(f"file://{tmp_path}/log", flush_seconds=60, journal_dir=tmp_path / "journal")
    nxt.close()
    # what was written and marked is not replayed (a batch the kill caught between its write and its
    # mark is, whole, under the same name)
    assert 25 - written <= nxt.replayed <= 25 - written + 10
    assert logged_ids(tmp_path) == Counter({f"k{i}": 1 for i in range(25)})


def test_a_live_loggers_journal_is_not_taken_over(tmp_path):
    live = PredictionLogger(f"file://{tmp_path}/log", flush_seconds=60, journal_dir=tmp_path / "journal")
    live.log([{"timestamp": "2026-11-22T09:15:00.000+00:00", "request_id": f"a{i}"} for i in range(5)])
    other = PredictionLogger(f"file://{tmp_path}/log", flush_seconds=60, journal_dir=tmp_path / "journal")
    assert other.replayed == 0
    other.close()
    assert logged_ids(tmp_path) == Counter()
    live.close()
    assert logged_ids(tmp_path) == Counter({f"a{i}": 1 for i in range(5)})


def test_a_line_cut_by_the_kill_is_skipped_and_the_rest_replayed(tmp_path):
    journal = tmp_path / "journal"
    journal.mkdir()
    lines = [json.dumps({"timestamp": "2026-11-22T09:15:00.000+00:00", "request_id": f"c{i}"}) for i in range(3)]
    (journal / "dead.jsonl").write_text("\n".join(lines) + "\n" + lines[0][:10])
    (journal / "dead.written").write_text(str(len(lines[0]) + 1))  # the first record was written
    nxt = PredictionLogger(f"file://{tmp_path}/log", flush_seconds=60, journal_dir=journal)
    nxt.close()
    assert nxt.replayed == 2
    assert logged_ids(tmp_path) == Counter({"c1": 1, "c2": 1})


class FlakySink:
    """An artifact store whose first ``failures`` writes fail."""

    def __init__(self, failures: int):
        from airflow_mlops.artifacts import ArtifactStore

        self.store, self.failures, self.names = ArtifactStore(), failures, []

    def write_text(self, uri: str, text: str) -> None:
        self.names.append(uri.rsplit("/", 1)[1])
        if self.failures:
            self.failures -= 1
            raise OSError("the sink is down")
        self.store.write_text(uri, text)


def test_records_the_sink_refused_are_kept_and_written_later_under_the_same_name(tmp_path, monkeypatch):
    monkeypatch.setattr(writer.time, "sleep", lambda seconds: None)  # the retries' back-off
    sink = FlakySink(failures=5)  # the first batch's five attempts
    logger = PredictionLogger(f"file://{tmp_path}/log", flush_rows=3, flush_seconds=60, store=sink,
                              journal_dir=tmp_path / "journal")
    logger.log([{"timestamp": "2026-11-22T09:15:00.000+00:00", "request_id": f"f{i}"} for i in range(3)])
    logger.log([{"timestamp": "2026-11-22T09:16:00.000+00:00", "request_id": f"g{i}"} for i in range(3)])
    logger.close()
    # the first batch (3 rows, or all 6 if the writer drained both calls) failed 5 times
    assert logger.failed_writes in (3, 6) and logger.written == 6
    assert logged_ids(tmp_path) == Counter({**{f"f{i}": 1 for i in range(3)}, **{f"g{i}": 1 for i in range(3)}})
    # the retry is the same batch (same name), now with the later records too
    assert len(set(sink.names[:6])) == 1
    assert list((tmp_path / "journal").iterdir()) == []


def test_a_written_journal_is_replaced_once_it_is_large(tmp_path, monkeypatch):
    monkeypatch.setattr(writer, "JOURNAL_ROTATE_BYTES", 200)
    logger = PredictionLogger(f"file://{tmp_path}/log", flush_rows=2, flush_seconds=60, journal_dir=tmp_path / "journal")
    seen = set()
    for i in range(10):
        logger.log([{"timestamp": "2026-11-22T09:15:00.000+00:00", "request_id": f"r{i}-{j}"} for j in range(2)])
        deadline = time.monotonic() + 30
        while logger.written < 2 * (i + 1):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        seen.update(p.name for p in (tmp_path / "journal").glob("*.jsonl"))
        assert len(list((tmp_path / "journal").glob("*.jsonl"))) <= 2
    logger.close()
    assert len(seen) > 2  # it was replaced
    assert logged_ids(tmp_path) == Counter({f"r{i}-{j}": 1 for i in range(10) for j in range(2)})


def test_without_a_journal_nothing_is_kept(tmp_path):
    logger = PredictionLogger(f"file://{tmp_path}/log", flush_seconds=60)
    logger.log([{"timestamp": "2026-11-22T09:15:00.000+00:00", "request_id": "x"}])
    logger.close()
    assert logger.replayed == 0 and logged_ids(tmp_path) == Counter({"x": 1})
    assert not (tmp_path / "journal").exists()


@pytest.mark.parametrize("cut", [0, 1])
def test_an_empty_or_fully_written_dead_journal_is_just_removed(tmp_path, cut):
    journal = tmp_path / "journal"
    journal.mkdir()
    line = json.dumps({"timestamp": "2026-11-22T09:15:00.000+00:00", "request_id": "w"}) + "\n"
    (journal / "dead.jsonl").write_text(line * cut)
    (journal / "dead.written").write_text(str(len(line) * cut))
    nxt = PredictionLogger(f"file://{tmp_path}/log", flush_seconds=60, journal_dir=journal)
    assert nxt.replayed == 0 and not (journal / "dead.jsonl").exists() and not (journal / "dead.written").exists()
    nxt.close()
    assert os.listdir(journal) == []


def test_a_batch_whose_mark_cannot_be_written_is_written_again_before_any_later_one(tmp_path, monkeypatch):
    """Marking fails once: the batch stays and is rewritten (same name) with the later rows, so
    the journal never holds two written batches beyond its mark."""
    real = writer._Journal.mark_written
    failures = []

    def flaky_mark(self, offset):
        if not failures:
            failures.append(offset)
            raise OSError("disk full")
        real(self, offset)

    monkeypatch.setattr(writer._Journal, "mark_written", flaky_mark)
    logger = PredictionLogger(f"file://{tmp_path}/log", flush_rows=3, flush_seconds=60, journal_dir=tmp_path / "journal")
    logger.log([{"timestamp": "2026-11-22T09:15:00.000+00:00", "request_id": f"m{i}"} for i in range(3)])
    deadline = time.monotonic() + 30
    while not failures:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    logger.log([{"timestamp": "2026-11-22T09:16:00.000+00:00", "request_id": f"n{i}"} for i in range(3)])
    logger.close()
    assert logged_ids(tmp_path) == Counter({**{f"m{i}": 1 for i in range(3)}, **{f"n{i}": 1 for i in range(3)}})
    assert len(list((tmp_path / "log").rglob("*.jsonl"))) == 1  # one batch, rewritten whole
    assert list((tmp_path / "journal").iterdir()) == []
