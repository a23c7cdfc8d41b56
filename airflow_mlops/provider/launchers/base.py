"""The launcher seam: what every launcher (local subprocess, Kubernetes pod, Vertex AI job) does.

A launcher starts ``python -m airflow_mlops.runtime.components <component> --spec <uri>``
somewhere, waits for it (streaming its output), can cancel it, and tells how it ended. What the
component produced is read back from its invocation directory under the artifact root
(:mod:`airflow_mlops.provider.launchers.invocation`), the same for every launcher: no shared
filesystem, no XCom sidecar.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from airflow_mlops.contract import RemoteJob

COMPONENTS_MODULE = "airflow_mlops.runtime.components"


def component_command(python: str, component: str, spec_uri: str) -> list[str]:
    """The one command line a component runs with, on every launcher."""
    return [python, "-m", COMPONENTS_MODULE, component, "--spec", spec_uri]


@dataclass(frozen=True)
class LaunchRequest:
    """One component run to start.

    :param component: the component's name (or module path).
    :param spec_uri: where its ``spec.json`` is.
    :param timeout: seconds after which it is killed (``None``: no limit).
    :param env: extra environment variables.
    """

    component: str
    spec_uri: str
    timeout: float | None = None
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LaunchOutcome:
    """How the component process ended.

    :param returncode: its exit code (negative: killed by that signal).
    :param timed_out: the launcher killed it because it ran past its timeout.
    :param duration_seconds: wall time from start to exit.
    :param reason: why a remote job ended badly, as its platform said (``OOMKilled: ...``).
    """

    returncode: int
    timed_out: bool
    duration_seconds: float
    reason: str = ""


class Launcher(abc.ABC):
    """Starts one component run, waits for it, cancels it."""

    #: the value of ``runtime.launcher`` in the pipeline YAML that selects this launcher
    name: ClassVar[str]
    #: whether the operator may free its worker slot while the run goes on (remote launchers)
    deferrable: ClassVar[bool] = False

    @abc.abstractmethod
    def start(self, request: LaunchRequest) -> None:
        """Start the component; return as soon as it runs."""

    @abc.abstractmethod
    def wait(self, on_line: Callable[[str], None]) -> LaunchOutcome:
        """Stream the component's output to ``on_line`` until it ends."""

    @abc.abstractmethod
    def cancel(self) -> None:
        """Stop the component and everything it started (task killed, timeout)."""

    def run(self, request: LaunchRequest, on_line: Callable[[str], None]) -> LaunchOutcome:
        """Start and wait."""
        self.start(request)
        return self.wait(on_line)


@dataclass(frozen=True)
class JobState:
    """What a remote job's platform says about it.

    :param state: ``pending``, ``running``, ``succeeded`` or ``failed``.
    :param reason: for ``failed``: the platform's short reason (``OOMKilled``, ``Evicted``,
        ``Preempted``, ``ImagePullBackOff``, ``Cancelled``, ``Error``).
    :param message: what people read: the reason explained, with the platform's own message.
    :param exit_code: the component's exit code when the platform knows it.
    """

    state: str
    reason: str = ""
    message: str = ""
    exit_code: int | None = None

    @property
    def done(self) -> bool:
        return self.state in ("succeeded", "failed")

    def to_dict(self) -> dict:
        return {"state": self.state, "reason": self.reason, "message": self.message, "exit_code": self.exit_code}

    @classmethod
    def from_dict(cls, data: Mapping) -> JobState:
        return cls(data["state"], data.get("reason") or "", data.get("message") or "", data.get("exit_code"))

    def outcome(self, duration_seconds: float, timed_out: bool = False) -> LaunchOutcome:
        """The launch outcome: the exit code if known, else 0 for success and 1 for failure."""
        code = self.exit_code if self.exit_code is not None else (0 if self.state == "succeeded" else 1)
        if self.state != "succeeded" and code == 0:
            code = 1
        reason = "" if self.state == "succeeded" else (self.message or self.reason)
        return LaunchOutcome(code, timed_out, round(duration_seconds, 3), reason)


class RemoteLauncher(Launcher):
    """A launcher whose component runs elsewhere (a pod, a Vertex AI job): submitted, then watched.

    The operator submits and, when deferrable, hands the job to
    :class:`~airflow_mlops.provider.triggers.remote_job.RemoteJobTrigger`, which polls
    :meth:`status` in the triggerer; otherwise :meth:`wait` polls in the worker. Either way the
    job's log (:meth:`logs`) is copied into the task log at the end and :meth:`finish` cleans up.

    Subclasses are built from JSON-able keyword arguments only (:meth:`options`), so that the
    trigger can build the same launcher in the triggerer.
    """

    deferrable = True

    def __init__(self, *, poll_seconds: float = 10.0, **options: Any) -> None:
        self.poll_seconds = poll_seconds
        self._options = {"poll_seconds": poll_seconds, **options}
        self._job: RemoteJob | None = None
        self._cancelled = False

    def options(self) -> dict[str, Any]:
        """The keyword arguments this launcher was built with."""
        return dict(self._options)

    @property
    def job(self) -> RemoteJob | None:
        return self._job

    @abc.abstractmethod
    def submit(self, request: LaunchRequest, labels: Mapping[str, str]) -> RemoteJob:
        """Create the job; return at once. ``labels`` say which task it belongs to."""

    @abc.abstractmethod
    def status(self, job: RemoteJob) -> JobState:
        """Where the job is (one API call)."""

    @abc.abstractmethod
    def cancel_job(self, job: RemoteJob) -> None:
        """Stop the job (idempotent: a job that is gone is fine)."""

    def logs(self, job: RemoteJob) -> list[str]:
        """What the component printed, if the platform keeps it where the launcher can read it."""
        return []

    def finish(self, job: RemoteJob) -> None:
        """Clean up after the job ended (delete the pod)."""

    # -- the Launcher interface: submit, then poll in the worker ---------------------------------

    def start(self, request: LaunchRequest) -> None:
        self._started = time.monotonic()
        self._timeout = request.timeout
        self._job = self.submit(request, {})

    def wait(self, on_line: Callable[[str], None]) -> LaunchOutcome:
        job = self._job
        assert job is not None, "start() first"
        state, timed_out = self.poll_until_done(job, self._started, self._timeout)
        for line in self.logs(job):
            on_line(line)
        self.finish(job)
        return state.outcome(time.monotonic() - self._started, timed_out)

    def poll_until_done(self, job: RemoteJob, started: float, timeout: float | None) -> tuple[JobState, bool]:
        try:
            while True:
                state = self.status(job)
                if state.done:
                    return state, False
                if timeout is not None and time.monotonic() - started > timeout:
                    self.cancel_job(job)
                    return JobState("failed", "Timeout", f"ran longer than its timeout of {timeout:g} s"), True
                time.sleep(self.poll_seconds)
        except BaseException:
            # the task was killed (on_kill, execution_timeout): the job must not outlive it
            self.cancel()
            raise

    def cancel(self) -> None:
        if self._job is not None and not self._cancelled:
            self._cancelled = True
            self.cancel_job(self._job)
