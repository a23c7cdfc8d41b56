"""The launcher seam: what every launcher (local subprocess, Kubernetes pod, Vertex AI job) does.

A launcher starts ``python -m airflow_mlops.runtime.components <component> --spec <uri>``
somewhere, waits for it (streaming its output), can cancel it, and tells how it ended. What the
component produced is read back from its invocation directory under the artifact root
(:mod:`airflow_mlops.provider.launchers.invocation`), the same for every launcher: no shared
filesystem, no XCom sidecar.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar

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
    """

    returncode: int
    timed_out: bool
    duration_seconds: float


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
