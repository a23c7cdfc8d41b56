"""Landing files for NewDataSensor / NewDataTrigger tests, the sensor they build, and watching
what the trigger finds at each look."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any
from unittest import mock

from airflow.triggers.base import BaseTrigger

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


@contextmanager
def recorded_looks(on_look: Callable[[int], None] | None = None) -> Iterator[list[list[str]]]:
    """What each look of a ``NewDataTrigger`` found (its ``unclaimed_objects`` result), in order,
    while the block runs; ``on_look(n)`` is called right after the n-th look, before the trigger
    acts on it."""
    import airflow_mlops.provider.triggers.new_data as module

    found: list[list[str]] = []
    real = module.unclaimed_objects

    def recording(*args: Any, **kwargs: Any) -> list[str]:
        result = real(*args, **kwargs)
        found.append(result)
        if on_look is not None:
            on_look(len(found))
        return result

    with mock.patch.object(module, "unclaimed_objects", recording):
        yield found


def watch(trigger: BaseTrigger, looks: int = 3, timeout: float = 30.0) -> tuple[list[list[str]], list[dict[str, Any]]]:
    """Run ``trigger`` until it has looked ``looks`` times (or ended); what each look found and the
    events it yielded. A quiet trigger gives ``([[]] * looks, [])``: it looked, found nothing and
    fired nothing - not merely "nothing within a fraction of a second". A trigger that does not
    look that often within ``timeout`` fails the test (stuck is not quiet)."""

    async def run(found: list[list[str]]) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []

        async def consume() -> None:
            async for event in trigger.run():
                events.append(event.payload)

        task = asyncio.ensure_future(consume())
        deadline = asyncio.get_running_loop().time() + timeout
        while len(found) < looks and not task.done():
            assert asyncio.get_running_loop().time() < deadline, f"the trigger looked {len(found)} times in {timeout} s"
            await asyncio.sleep(0.01)
        await asyncio.sleep(0)  # let the trigger act on its last look (fire, or go back to sleep)
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
        return events

    with recorded_looks() as found:
        events = asyncio.run(run(found))
    return found[:looks], events
