"""``RemoteJobTrigger``: watch a pod or Vertex AI job in the triggerer while no worker slot is held.

It polls the launcher's :meth:`~airflow_mlops.provider.launchers.RemoteLauncher.status` (the
client calls run in a thread, off the triggerer's event loop), logs each change of state, and
fires one event when the job ended: ``{"state": ..., "reason": ..., "message": ..., "exit_code":
..., "timed_out": ..., "duration_seconds": ..., "job": ..., "invocation_uri": ...}`` (the event
carries what the operator resumes with, rather than ``defer``'s kwargs, which ``airflow dags
test`` does not hand back). A job running past ``timeout_seconds`` is
cancelled and reported as timed out. When a person kills the deferred task (mark failed, clear),
the job is cancelled: through ``on_kill`` from Airflow 3.3, before that when the trigger is
cancelled while its task is no longer deferred (a triggerer restart leaves the job alone).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_mlops.contract import RemoteJob
from airflow_mlops.provider.compat import AIRFLOW_V_3_3_PLUS, task_state_of


class RemoteJobTrigger(BaseTrigger):
    """Poll a remote job until it ends.

    :param launcher: the launcher's name (``kubernetes``, ``vertex``).
    :param launcher_options: its keyword arguments (:meth:`RemoteLauncher.options`).
    :param job: the :class:`RemoteJob` as a dict.
    :param invocation_uri: the invocation directory of the component run.
    :param started_at: when it was submitted (epoch seconds).
    :param timeout_seconds: cancel it after this long (``None``: no limit).
    :param cancel_on_kill: cancel the job when the task is killed.
    """

    def __init__(
        self,
        launcher: str,
        launcher_options: dict[str, Any],
        job: dict[str, Any],
        invocation_uri: str,
        started_at: float,
        timeout_seconds: float | None = None,
        cancel_on_kill: bool = True,
    ) -> None:
        super().__init__()
        self.launcher = launcher
        self.launcher_options = dict(launcher_options)
        self.job = dict(job)
        self.invocation_uri = invocation_uri
        self.started_at = started_at
        self.timeout_seconds = timeout_seconds
        self.cancel_on_kill = cancel_on_kill

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "launcher": self.launcher,
                "launcher_options": self.launcher_options,
                "job": self.job,
                "invocation_uri": self.invocation_uri,
                "started_at": self.started_at,
                "timeout_seconds": self.timeout_seconds,
                "cancel_on_kill": self.cancel_on_kill,
            },
        )

    def _launcher(self) -> Any:
        from airflow_mlops.provider.launchers import launcher_for

        return launcher_for(self.launcher, **self.launcher_options)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        launcher = self._launcher()
        job = RemoteJob.from_dict(self.job)
        last = None
        try:
            while True:
                state = await asyncio.to_thread(launcher.status, job)
                if state.state != last:
                    self.log.info("%s %s: %s %s", job.kind, job.name, state.state, state.message)
                    last = state.state
                elapsed = time.time() - self.started_at
                resume = {"job": self.job, "invocation_uri": self.invocation_uri, "duration_seconds": round(elapsed, 3)}
                if state.done:
                    yield TriggerEvent({**state.to_dict(), "timed_out": False, **resume})
                    return
                if self.timeout_seconds is not None and elapsed > self.timeout_seconds:
                    self.log.error("%s ran longer than %s s: cancelling it", job.name, self.timeout_seconds)
                    await asyncio.to_thread(launcher.cancel_job, job)
                    yield TriggerEvent({"state": "failed", "reason": "Timeout", "exit_code": None, "timed_out": True,
                                        "message": f"ran longer than its timeout of {self.timeout_seconds:g} s",
                                        **resume})
                    return
                await asyncio.sleep(launcher.poll_seconds)
        except asyncio.CancelledError:
            if not AIRFLOW_V_3_3_PLUS and self.cancel_on_kill and await self._task_killed():
                await self._cancel(launcher, job)
            raise

    async def on_kill(self) -> None:
        """Airflow 3.3+: a person killed the deferred task."""
        if self.cancel_on_kill:
            await self._cancel(self._launcher(), RemoteJob.from_dict(self.job))

    async def _cancel(self, launcher: Any, job: RemoteJob) -> None:
        self.log.info("the task was killed: cancelling %s %s", job.kind, job.name)
        await asyncio.to_thread(launcher.cancel_job, job)

    async def _task_killed(self) -> bool:
        """Whether the task left the deferred state (killed) rather than the triggerer stopping."""
        ti = getattr(self, "task_instance", None)
        if ti is None:
            return False
        try:
            state = await asyncio.to_thread(task_state_of, ti)
        except Exception:  # no answer: leave the job alone rather than cancel a healthy one
            self.log.warning("could not read the state of %s; not cancelling %s", ti, self.job.get("name"))
            return False
        return state != "deferred"
