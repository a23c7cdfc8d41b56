"""Every answered row is logged, and nothing queued is lost on shutdown (the periodic flush is
exercised by the canary tests, which wait for ``logged_rows == served_rows``)."""

from __future__ import annotations

import threading

from conftest import serving_config
from serving_helpers import ROW

from airflow_mlops.contract.layout import predictions_uri
from airflow_mlops.runtime.predictions.reader import read_predictions
from airflow_mlops.runtime.serving.server import ServerProcess, http_post_json


def test_logged_predictions_equal_served_all_drained_on_shutdown(models, tmp_path):
    root = f"file://{tmp_path}/artifacts"
    # No flush before the shutdown: an hour's interval and more rows than are sent, so every row
    # is still queued when the server stops and what is logged is what the shutdown drained.
    config = serving_config(models, tmp_path, artifact_root=root, log_flush_rows=100_000, log_flush_seconds=3600)
    server = ServerProcess.start(config, tmp_path / "state")
    served: list[str] = []
    sent: list[str] = []
    errors: list[str] = []
    lock = threading.Lock()

    def client(n: int, tag: int):
        for i in range(n):
            rows = [dict(ROW, request_id=f"c{tag}-{i}-{j}") for j in range(1 + i % 3)]
            with lock:
                sent.extend(r["request_id"] for r in rows)
            try:
                code, answers = http_post_json(server.url + "/predict", {"instances": rows})
                if code != 200:
                    raise AssertionError(f"{code}: {answers}")
                with lock:
                    served.extend(a["request_id"] for a in answers)
            except Exception as exc:  # noqa: BLE001 - an assert in a thread would only end the thread
                with lock:
                    errors.append(f"c{tag}-{i}: {exc!r}")

    try:
        threads = [threading.Thread(target=client, args=(60, t), daemon=True) for t in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        assert [t for t in threads if t.is_alive()] == [] and errors == []
        assert len(sent) == 8 * (20 * (1 + 2 + 3)) and sorted(served) == sorted(sent)

        code, answers = http_post_json(server.url + "/predict", {"instances": [dict(ROW, request_id=f"last-{j}") for j in range(50)]})
        assert code == 200
        served += [a["request_id"] for a in answers]
        code, status = http_post_json(server.url + "/status", {})
        assert code == 200 and status["served_rows"] == len(served) == 1010
        assert status["logged_rows"] == 0 and read_predictions(predictions_uri(root, "penguin")) == []  # all still queued
    finally:
        assert server.stop() == 0
    logged = read_predictions(predictions_uri(root, "penguin"))
    assert len(logged) == len(served) == len(set(served))
    assert sorted(r["request_id"] for r in logged) == sorted(served)
    record = next(r for r in logged if r["request_id"] == "last-0")
    assert record["features"] == {k: v for k, v in ROW.items()}
    assert record["model_version"] == "1" and record["model_role"] == "champion"
    assert record["prediction"] == max(record["probabilities"], key=record["probabilities"].get)
    assert record["latency_ms"] > 0 and record["timestamp"].endswith("+00:00")


def test_answers_of_a_killed_server_are_logged_by_its_next_start(models, tmp_path):
    """SIGKILL (no drain): the answers still in the log's queue are in its journal, and the next
    server on the same state directory writes them - each once."""
    import os
    import signal

    root = f"file://{tmp_path}/artifacts"
    config = serving_config(models, tmp_path, artifact_root=root, log_flush_rows=100_000, log_flush_seconds=3600,
                            log_journal_dir=str(tmp_path / "state" / "journal"))
    server = ServerProcess.start(config, tmp_path / "state")
    try:
        served = []
        for i in range(20):
            code, answers = http_post_json(server.url + "/predict", {"instances": [dict(ROW, request_id=f"k{i}-{j}") for j in range(3)]})
            assert code == 200, answers
            served += [a["request_id"] for a in answers]
    finally:
        os.killpg(server.process.pid, signal.SIGKILL)  # every process of it, nothing drained
        server.process.wait()
    assert read_predictions(predictions_uri(root, "penguin")) == []
    assert len(list((tmp_path / "state" / "journal").glob("*.jsonl"))) == 1

    again = ServerProcess.start(serving_config(models, tmp_path, artifact_root=root, log_flush_rows=100_000,
                                               log_flush_seconds=3600, log_journal_dir=str(tmp_path / "state" / "journal")),
                                tmp_path / "state")
    try:
        # written when the new server started, before it answered anything
        logged = sorted(r["request_id"] for r in read_predictions(predictions_uri(root, "penguin")))
        assert logged == sorted(served) and len(served) == 60
    finally:
        assert again.stop() == 0
    assert sorted(r["request_id"] for r in read_predictions(predictions_uri(root, "penguin"))) == sorted(served)
    assert list((tmp_path / "state" / "journal").iterdir()) == []
