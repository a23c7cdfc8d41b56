"""The prediction log's writer: hour partitions, and nothing lost on close."""

from __future__ import annotations

from airflow_mlops.runtime.predictions.partitions import partition
from airflow_mlops.runtime.predictions.reader import read_predictions
from airflow_mlops.runtime.predictions.writer import PredictionLogger


def test_the_logger_partitions_by_hour_and_drains_on_close(tmp_path):
    root = f"file://{tmp_path}/log"
    logger = PredictionLogger(root, flush_rows=1000, flush_seconds=60)
    records = [{"timestamp": f"2026-11-22T{h:02d}:15:00.000+00:00", "request_id": f"r{h}-{i}"} for h in (9, 10) for i in range(5)]
    logger.log(records)
    logger.close()
    assert logger.written == 10
    files = sorted(p.relative_to(tmp_path / "log").parent.as_posix() for p in (tmp_path / "log").rglob("*.jsonl"))
    assert files == ["date=2026-11-22/hour=09", "date=2026-11-22/hour=10"]
    window = read_predictions(root, since="2026-11-22T10:00:00", until="2026-11-22T11:00:00")
    assert sorted(r["request_id"] for r in window) == [f"r10-{i}" for i in range(5)]
    assert partition("2026-11-22T09:59:59.999+00:00") == "date=2026-11-22/hour=09"
