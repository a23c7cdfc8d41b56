"""Every answered row is logged, in batches, and nothing is lost on shutdown."""

from __future__ import annotations

import threading
import time

from conftest import serving_config
from serving_helpers import ROW

from airflow_mlops.contract.layout import predictions_uri
from airflow_mlops.runtime.predictions.reader import read_predictions
from airflow_mlops.runtime.serving.server import ServerProcess, http_post_json


def test_logged_predictions_equal_served_after_a_burst_and_after_shutdown(models, tmp_path):
    root = f"file://{tmp_path}/artifacts"
    # Long flush interval and large batches: most rows are still queued when the server stops.
    config = serving_config(models, tmp_path, artifact_root=root, log_flush_rows=10_000, log_flush_seconds=0.5)
    server = ServerProcess.start(config, tmp_path / "state")
    served: list[str] = []
    lock = threading.Lock()

    def client(n: int, tag: int):
        for i in range(n):
            rows = [dict(ROW, request_id=f"c{tag}-{i}-{j}") for j in range(1 + i % 3)]
            code, answers = http_post_json(server.url + "/predict", {"instances": rows})
            assert code == 200
            with lock:
                served.extend(a["request_id"] for a in answers)

    try:
        threads = [threading.Thread(target=client, args=(60, t)) for t in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        time.sleep(1.5)  # one flush interval and then some
        after_burst = read_predictions(predictions_uri(root, "penguin"))
        assert sorted(r["request_id"] for r in after_burst) == sorted(served)

        code, answers = http_post_json(server.url + "/predict", {"instances": [dict(ROW, request_id=f"last-{j}") for j in range(50)]})
        assert code == 200
        served += [a["request_id"] for a in answers]
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
    assert "shutdown" in server.log_tail(200) or "cleanup" in server.log_tail(200)
