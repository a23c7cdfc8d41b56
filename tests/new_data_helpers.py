"""Landing files for NewDataSensor / NewDataTrigger tests, and the sensor they build."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.provider.sensors import NewDataSensor

POLL = 0.05


def land(directory: Path, *names: str) -> list[str]:
    for name in names:
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_text("a,b\n1,2\n")
    return [f"file://{directory / name}" for name in names]


def sensor(landing: Path | str, state_uri: str, **kwargs: Any) -> NewDataSensor:
    kwargs.setdefault("deferrable", True)
    return NewDataSensor(task_id="wait", prefix=str(landing), state_uri=state_uri, poll_seconds=POLL, **kwargs)


def claimed(state_uri: str) -> set[str]:
    return set(ArtifactStore().read_json(state_uri)["claimed"])
