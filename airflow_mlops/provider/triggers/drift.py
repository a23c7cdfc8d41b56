"""``VerdictTrigger``: wait for a monitoring verdict that raises an alert.

The monitoring step writes one ``<name>.json`` per verdict under a prefix, each at least
``{"status": "ok" | "alert" | "no_traffic", "drift": bool, "degradation": bool, "at": ISO-8601 UTC}``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterable
from datetime import datetime, timezone
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_mlops.artifacts.store import ArtifactStore
from airflow_mlops.provider.triggers.new_data import is_partial, list_objects


def parse_time(value: str | datetime) -> datetime:
    """An ISO-8601 time (or a datetime) as an aware datetime; a naive one is taken as UTC."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).strip())
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _verdict_time(verdict: Any) -> datetime | None:
    if not isinstance(verdict, dict):
        return None
    try:
        return parse_time(verdict["at"])
    except (KeyError, TypeError, ValueError):
        return None


def newest_alert(verdicts: Iterable[tuple[str, Any]], since: str | datetime) -> tuple[str, dict[str, Any]] | None:
    """The newest ``(uri, verdict)`` with status ``alert`` and ``at`` later than ``since``;
    verdicts without a readable ``at`` never count.

    :param verdicts: ``(where it came from, verdict dict)`` pairs.
    :param since: only verdicts strictly after this time count.
    """
    after = parse_time(since)
    alerts = [
        (at, uri, verdict)
        for uri, verdict in verdicts
        if (at := _verdict_time(verdict)) is not None and at > after and verdict.get("status") == "alert"
    ]
    if not alerts:
        return None
    _, uri, verdict = max(alerts, key=lambda item: (item[0], item[1]))
    return uri, verdict


def read_verdicts(store: ArtifactStore, verdicts_uri: str) -> list[tuple[str, Any]]:
    """Every complete ``*.json`` verdict under ``verdicts_uri``; one that does not parse (still
    being written by a non-atomic writer) is skipped until it does."""
    out = []
    for uri in list_objects(store, verdicts_uri):
        name = uri.rsplit("/", 1)[-1]
        if is_partial(name) or not name.endswith(".json"):
            continue
        try:
            out.append((uri, store.read_json(uri)))
        except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
            continue
    return out


def find_alert(store: ArtifactStore, verdicts_uri: str, since: str | datetime) -> tuple[str, dict[str, Any]] | None:
    """The newest alert verdict under ``verdicts_uri`` later than ``since``, as ``(uri, verdict)``."""
    return newest_alert(read_verdicts(store, verdicts_uri), since)


class VerdictTrigger(BaseTrigger):
    """Fire once when an ``alert`` verdict newer than ``since`` exists under ``verdicts_uri``.

    Event: ``{"status": "success", "verdict": {...}, "uri": <its file>}`` (the newest such verdict),
    or ``{"status": "error", "message": ...}``.

    :param verdicts_uri: the directory or prefix the monitoring step writes verdicts to.
    :param since: ISO-8601 time; only verdicts with ``at`` strictly later count.
    :param poll_seconds: seconds between two looks.
    :param storage_options: fsspec options.
    """

    def __init__(
        self,
        verdicts_uri: str,
        since: str,
        poll_seconds: float = 60,
        storage_options: dict[str, Any] | None = None,
    ):
        super().__init__()
        self.verdicts_uri = verdicts_uri
        self.since = since
        self.poll_seconds = poll_seconds
        self.storage_options = storage_options

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "verdicts_uri": self.verdicts_uri,
                "since": self.since,
                "poll_seconds": self.poll_seconds,
                "storage_options": self.storage_options,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        store = ArtifactStore(self.storage_options)
        while True:
            try:
                found = await asyncio.to_thread(find_alert, store, self.verdicts_uri, self.since)
            except Exception as e:
                yield TriggerEvent({"status": "error", "message": f"{type(e).__name__}: {e}"})
                return
            if found:
                uri, verdict = found
                yield TriggerEvent({"status": "success", "verdict": verdict, "uri": uri})
                return
            await asyncio.sleep(self.poll_seconds)
