"""``NewDataTrigger``: wait until objects nobody has claimed yet land under a prefix.

The claim state is a JSON file ``{"claimed": {uri: claimed_at}, "batches": [...]}`` written only by
the sensor on the worker (:mod:`airflow_mlops.provider.sensors.new_data`). The trigger only reads it, so a
triggerer that restarts re-creates the trigger from its kwargs and finds the same unclaimed objects.
"""

from __future__ import annotations

import asyncio
import fnmatch
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent
from fsspec.core import url_to_fs

from airflow_mlops.artifacts.store import ArtifactStore
from airflow_mlops.contract.config.model import MonitoringSettings
from airflow_mlops.provider.hooks.storage import ArtifactStorageHook

#: Name endings of objects still being written (``gsutil``/Hadoop/``curl`` partial uploads).
PARTIAL_SUFFIXES = (".tmp", ".part", "._COPYING_")


def is_partial(name: str) -> bool:
    """Whether a path segment names a temporary or partial object: hidden (``.x``), private
    (``_x``, e.g. ``_SUCCESS``, ``_temporary/``), a partial upload, or an ``ArtifactStore``
    atomic-write temporary (``x.tmp-<hex>``)."""
    return name.startswith((".", "_")) or name.endswith(PARTIAL_SUFFIXES) or ".tmp-" in name


def canonical_uri(store: ArtifactStore, uri: str) -> str:
    """``uri`` in the form ``ArtifactStore.list_files`` returns (``file:///abs``, ``gs://b/k``)."""
    fs, path = url_to_fs(uri, **store.storage_options)
    return fs.unstrip_protocol(path).rstrip("/")


def empty_state() -> dict[str, Any]:
    return {"claimed": {}, "batches": []}


def read_state(store: ArtifactStore, state_uri: str) -> dict[str, Any]:
    """The claim state; a missing file is the empty state, an unreadable one is an error (never
    guess: an empty guess would hand every object out again)."""
    fs, path = url_to_fs(state_uri, **store.storage_options)
    fs.invalidate_cache(path)  # object-store listings are cached per filesystem instance
    try:
        state = store.read_json(state_uri)
    except FileNotFoundError:
        return empty_state()
    if not isinstance(state, dict) or not isinstance(state.get("claimed"), dict):
        raise ValueError(f"not a claim state file: {state_uri}")
    state.setdefault("batches", [])
    return state


def list_objects(store: ArtifactStore, prefix: str) -> list[str]:
    """Every object under ``prefix`` (sorted URIs); a missing prefix has none."""
    try:
        return store.list_files(prefix)
    except FileNotFoundError:
        return []


def unclaimed_objects(store: ArtifactStore, prefix: str, state_uri: str, pattern: str = "*") -> list[str]:
    """The complete objects under ``prefix`` whose name matches ``pattern`` and that the state
    file at ``state_uri`` does not list as claimed, as sorted URIs.

    :param store: the store to list and read with.
    :param prefix: a local path, ``file://`` or ``gs://`` URI, searched recursively.
    :param state_uri: the claim state file (the state file itself is never an object).
    :param pattern: ``fnmatch`` pattern on the object's name (its last path segment).
    """
    base = canonical_uri(store, prefix)
    state = canonical_uri(store, state_uri)
    claimed = read_state(store, state_uri)["claimed"]
    out = []
    for uri in list_objects(store, prefix):
        relative = uri[len(base) + 1 :] if uri.startswith(base + "/") else uri.rsplit("/", 1)[-1]
        name = relative.rsplit("/", 1)[-1]
        if uri == state or uri.startswith(state + "."):
            continue
        if any(is_partial(part) for part in relative.split("/")) or not fnmatch.fnmatchcase(name, pattern):
            continue
        if uri not in claimed:
            out.append(uri)
    return sorted(out)


class NewDataTrigger(BaseTrigger):
    """Fire once when unclaimed objects exist under ``prefix``.

    Event: ``{"status": "success", "objects": [sorted URIs], "prefix": prefix}``, or
    ``{"status": "error", "message": ...}``.

    :param prefix: a local path, ``file://`` URI or ``gs://bucket/prefix``.
    :param state_uri: the JSON file recording the objects already claimed (read only).
    :param poll_seconds: seconds between two listings.
    :param pattern: ``fnmatch`` pattern on the object's name.
    :param gcp_conn_id: the Google Cloud connection for a ``gs://`` prefix or state file,
        resolved in the triggerer (see :class:`~airflow_mlops.provider.hooks.storage.ArtifactStorageHook`);
        only its id is serialized, never credentials.
    """

    def __init__(
        self,
        prefix: str,
        state_uri: str,
        poll_seconds: float = MonitoringSettings.poll_seconds,
        pattern: str = "*",
        gcp_conn_id: str = ArtifactStorageHook.default_conn_name,
    ):
        super().__init__()
        self.prefix = prefix
        self.state_uri = state_uri
        self.poll_seconds = poll_seconds
        self.pattern = pattern
        self.gcp_conn_id = gcp_conn_id

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "prefix": self.prefix,
                "state_uri": self.state_uri,
                "poll_seconds": self.poll_seconds,
                "pattern": self.pattern,
                "gcp_conn_id": self.gcp_conn_id,
            },
        )

    def _store(self) -> ArtifactStore:
        return ArtifactStorageHook(gcp_conn_id=self.gcp_conn_id).store(self.prefix, self.state_uri)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:  # in a thread: connections are looked up synchronously, off the event loop
            store = await asyncio.to_thread(self._store)
        except Exception as e:
            yield TriggerEvent({"status": "error", "message": f"{type(e).__name__}: {e}"})
            return
        while True:
            try:
                objects = await asyncio.to_thread(unclaimed_objects, store, self.prefix, self.state_uri, self.pattern)
            except Exception as e:
                yield TriggerEvent({"status": "error", "message": f"{type(e).__name__}: {e}"})
                return
            if objects:
                yield TriggerEvent({"status": "success", "objects": objects, "prefix": self.prefix})
                return
            self.log.debug("no unclaimed objects under %s; next look in %ss", self.prefix, self.poll_seconds)
            await asyncio.sleep(self.poll_seconds)
