"""The artifact store on local files (the gs:// side is exercised by the ingest tests)."""

from __future__ import annotations

import os

from airflow_mlops.artifacts.store import ArtifactStore, to_uri
from airflow_mlops.contract import ExecutionRecord, Status, join_uri


def _record(status: Status) -> ExecutionRecord:
    return ExecutionRecord(
        component="ingest",
        pipeline="p",
        code_version="v",
        fingerprint="f",
        status=status,
        params={},
        inputs={},
        outputs={},
        metrics={},
        started_at="s",
        ended_at="e",
        duration_seconds=0.1,
        host="h",
        executor="x",
    )


def test_write_text_is_atomic_and_leaves_no_temporary_files(tmp_path):
    store = ArtifactStore()
    uri = to_uri(str(tmp_path / "a" / "b.json"))
    store.write_json(uri, {"x": 1})
    store.write_json(uri, {"x": 2})
    assert store.read_json(uri) == {"x": 2}
    assert os.listdir(tmp_path / "a") == ["b.json"]


def test_only_a_succeeded_record_is_usable(tmp_path):
    store = ArtifactStore()
    directory = to_uri(str(tmp_path / "exec"))
    assert store.read_record(directory) is None
    assert store.succeeded_record(directory) is None
    store.write_record(directory, _record(Status.FAILED))
    assert store.read_record(directory).status is Status.FAILED
    assert store.succeeded_record(directory) is None
    store.write_record(directory, _record(Status.SUCCEEDED))
    assert store.succeeded_record(directory) == _record(Status.SUCCEEDED)


def test_remove_and_list(tmp_path):
    store = ArtifactStore()
    root = to_uri(str(tmp_path / "root"))
    store.write_text(join_uri(root, "x", "1.txt"), "1")
    store.write_text(join_uri(root, "y.txt"), "2")
    assert store.list_files(root) == [join_uri(root, "x", "1.txt"), join_uri(root, "y.txt")]
    store.remove(join_uri(root, "x"))
    store.remove(join_uri(root, "does-not-exist"))
    assert store.list_files(root) == [join_uri(root, "y.txt")]
