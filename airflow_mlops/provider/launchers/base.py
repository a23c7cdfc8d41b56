"""What every launcher shares: the component command line and the outcome of a launch."""

from __future__ import annotations

from dataclasses import dataclass

COMPONENTS_MODULE = "airflow_mlops.runtime.components"


def component_command(python: str, component: str, spec_uri: str) -> list[str]:
    """The one command line a component runs with, on every launcher."""
    return [python, "-m", COMPONENTS_MODULE, component, "--spec", spec_uri]


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
