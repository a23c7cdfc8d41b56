"""``NewDataSensor``: wait for new objects under a landing prefix and claim them, each exactly once.

The trigger (or ``poke``) finds unclaimed objects; the sensor, on the worker, claims them by
writing the state file. On local disk the read-check-write of the state is serialized by a lock
file next to it; on object stores it is a re-read right before the write.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, NoReturn

from airflow.sdk import BaseSensorOperator, PokeReturnValue
from fsspec.core import url_to_fs
from fsspec.implementations.local import LocalFileSystem

from airflow_mlops.artifacts.locks import file_lock
from airflow_mlops.artifacts.store import ArtifactStore
from airflow_mlops.contract.config.model import MonitoringSettings
from airflow_mlops.provider.compat import AirflowException, conf
from airflow_mlops.provider.hooks.storage import ArtifactStorageHook
from airflow_mlops.provider.triggers.new_data import NewDataTrigger, read_state, unclaimed_objects

if TYPE_CHECKING:
    from airflow.sdk import Context


def batch_id(objects: Sequence[str]) -> str:
    """A short, stable name for a set of objects."""
    return hashlib.sha256("\n".join(sorted(objects)).encode()).hexdigest()[:16]


@contextlib.contextmanager
def state_lock(store: ArtifactStore, state_uri: str) -> Iterator[None]:
    """Exclusive access to a local state file (``<state>.lock``); no-op on object stores."""
    fs, path = url_to_fs(state_uri, **store.storage_options)
    if not isinstance(fs, LocalFileSystem):
        yield
        return
    with file_lock(path):
        yield


def claimed_by(state: dict[str, Any], run_id: str | None) -> list[str]:
    """The objects of the batch ``run_id`` claimed earlier (empty if none or no run id)."""
    if run_id is None:
        return []
    return next((b["objects"] for b in state["batches"] if b.get("run_id") == run_id), [])


def claim(store: ArtifactStore, state_uri: str, objects: Sequence[str], run_id: str | None = None) -> list[str]:
    """Record ``objects`` as claimed, except those another run claimed first; returns what this
    call claimed (sorted, possibly empty). A run that already claimed a batch gets that batch
    back instead, so clearing a failed run retries its own batch rather than losing it.

    :param store: the store holding the state file.
    :param state_uri: the claim state file.
    :param objects: the object URIs to claim.
    :param run_id: recorded with the batch.
    """
    with state_lock(store, state_uri):
        state = read_state(store, state_uri)
        earlier = claimed_by(state, run_id)
        if earlier:
            return earlier
        fresh = sorted(set(objects) - set(state["claimed"]))
        if fresh:
            at = datetime.now(UTC).isoformat()
            state["claimed"].update(dict.fromkeys(fresh, at))
            state["batches"].append({"at": at, "objects": fresh, "run_id": run_id, "batch_id": batch_id(fresh)})
            store.write_json(state_uri, state)
        return fresh


class NewDataSensor(BaseSensorOperator):
    """Wait for objects under ``prefix`` that no run has claimed, claim them, and return
    ``{"objects": [URIs], "batch_id": ...}`` (the XCom).

    :param prefix: a local path, ``file://`` URI or ``gs://bucket/prefix`` (templated).
    :param state_uri: the JSON claim state file; keep it outside ``prefix`` (templated).
    :param pattern: ``fnmatch`` pattern on object names (templated).
    :param poll_seconds: seconds between two looks (also the poke interval).
    :param deferrable: wait in the triggerer instead of occupying a worker slot (default: the
        ``[operators] default_deferrable`` option).
    :param gcp_conn_id: the Google Cloud connection for a ``gs://`` prefix or state file (see
        :class:`~airflow_mlops.provider.hooks.storage.ArtifactStorageHook`); resolved on the worker
        and, while deferred, in the triggerer.
    """

    template_fields: Sequence[str] = ("prefix", "state_uri", "pattern")
    ui_color = "#e8f4e4"

    def __init__(
        self,
        *,
        prefix: str,
        state_uri: str,
        pattern: str = "*",
        poll_seconds: float = MonitoringSettings.poll_seconds,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        gcp_conn_id: str = ArtifactStorageHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("poke_interval", poll_seconds)
        super().__init__(**kwargs)
        self.prefix = prefix
        self.state_uri = state_uri
        self.pattern = pattern
        self.poll_seconds = poll_seconds
        self.deferrable = deferrable
        self.gcp_conn_id = gcp_conn_id

    @cached_property
    def store(self) -> ArtifactStore:
        """The store for ``prefix`` and ``state_uri`` (after rendering), with the connection's credentials."""
        return ArtifactStorageHook(gcp_conn_id=self.gcp_conn_id).store(self.prefix, self.state_uri)

    def _claim(self, context: Context, objects: Sequence[str]) -> dict[str, Any] | None:
        claimed = claim(self.store, self.state_uri, objects, run_id=context.get("run_id"))
        if not claimed:
            return None
        self.log.info("claimed %d object(s) under %s (a cleared run takes its own batch again)", len(claimed), self.prefix)
        return {"objects": claimed, "batch_id": batch_id(claimed)}

    def _claim_new(self, context: Context) -> dict[str, Any] | None:
        return self._claim(context, unclaimed_objects(self.store, self.prefix, self.state_uri, self.pattern))

    def _defer(self) -> NoReturn:
        trigger = NewDataTrigger(
            prefix=self.prefix,
            state_uri=self.state_uri,
            poll_seconds=self.poll_seconds,
            pattern=self.pattern,
            gcp_conn_id=self.gcp_conn_id,
        )
        self.defer(trigger=trigger, method_name="execute_complete", timeout=timedelta(seconds=self.timeout))

    def poke(self, context: Context) -> bool | PokeReturnValue:
        batch = self._claim_new(context)
        return PokeReturnValue(is_done=True, xcom_value=batch) if batch else False

    def execute(self, context: Context) -> dict[str, Any]:
        if not self.deferrable:
            return super().execute(context)
        batch = self._claim_new(context)
        if batch:
            return batch
        self._defer()

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Claim what the trigger found; if another run was faster, wait again."""
        if event.get("status") != "success":
            raise AirflowException(event.get("message", f"unexpected trigger event: {event!r}"))
        batch = self._claim(context, event.get("objects", []))
        if batch:
            return batch
        self.log.info("another run claimed these objects first; waiting again")
        self._defer()
