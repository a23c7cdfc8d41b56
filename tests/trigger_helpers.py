"""Running a trigger to completion, and rebuilding one as a restarted triggerer does."""

from __future__ import annotations

import asyncio
import importlib
from typing import Any

from airflow.triggers.base import BaseTrigger


def collect(trigger: BaseTrigger, timeout: float = 2.0) -> list[dict[str, Any]] | None:
    """Every event of one complete trigger run; ``None`` if it was still running at ``timeout``
    (still waiting, or it yielded and did not return)."""

    async def bounded() -> list[dict[str, Any]] | None:
        try:
            return await asyncio.wait_for(_events(trigger), timeout)
        except TimeoutError:
            return None

    return asyncio.run(bounded())


async def _events(trigger: BaseTrigger) -> list[dict[str, Any]]:
    return [event.payload async for event in trigger.run()]


def recreate(trigger: BaseTrigger) -> BaseTrigger:
    """A new trigger built from ``serialize()``, as a restarted triggerer builds it."""
    classpath, kwargs = trigger.serialize()
    module, name = classpath.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)(**kwargs)
