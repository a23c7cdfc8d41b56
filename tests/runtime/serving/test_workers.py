"""``deployment.serving.workers: 2``: two server processes share the port, each with its own
prediction-log journal, and every row either answers is logged once."""

from __future__ import annotations

import threading

from conftest import serving_config
from serving_helpers import ROW

from airflow_mlops.contract.layout import predictions_uri
from airflow_mlops.runtime.predictions.reader import read_predictions
from airflow_mlops.runtime.serving.server import ServerProcess, http_post_json


def test_two_workers_answer_and_every_row_is_logged_once(models, tmp_path):
    root = f"file://{tmp_path}/artifacts"
    journals = tmp_path / "journal"
    config = serving_config(models, tmp_path, artifact_root=root, workers=2, log_journal_dir=str(journals),
                            log_flush_rows=100_000, log_flush_seconds=3600)
    server = ServerProcess.start(config, tmp_path / "state")
    served: list[str] = []
    errors: list[str] = []
    lock = threading.Lock()

    def client(tag: int) -> None:
        for i in range(40):
            try:
                code, answers = http_post_json(server.url + "/predict", {"instances": [dict(ROW, request_id=f"{tag}-{i}")]})
                if code != 200:
                    raise AssertionError(f"{code}: {answers}")
                with lock:
                    served.extend(a["request_id"] for a in answers)
            except Exception as exc:  # an assert in a thread would only end the thread
                with lock:
                    errors.append(f"{tag}-{i}: {exc!r}")

    try:
        threads = [threading.Thread(target=client, args=(t,), daemon=True) for t in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        assert [t for t in threads if t.is_alive()] == [] and errors == []
        assert len(served) == 320
        # one journal per worker process: both started and answer on the same port
        assert len(list(journals.glob("*.jsonl"))) == 2, sorted(p.name for p in journals.iterdir())
        code, status = http_post_json(server.url + "/status", {})
        assert code == 200 and status["workers"] == 2 and status["champion"] == "1"
    finally:
        assert server.stop() == 0
    logged = read_predictions(predictions_uri(root, "penguin"))
    assert sorted(r["request_id"] for r in logged) == sorted(served)
    assert list(journals.glob("*.jsonl")) == []  # each worker wrote all it held and removed its journal
