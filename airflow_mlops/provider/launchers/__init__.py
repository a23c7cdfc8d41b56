"""Launchers start ``python -m airflow_mlops.runtime.components <component> --spec <uri>`` somewhere.

``runtime.launcher`` in the pipeline YAML names one of :data:`LAUNCHERS`.
"""

from __future__ import annotations

from typing import Any

from airflow_mlops.contract.config.runtime import LAUNCHERS as DECLARED_LAUNCHERS
from airflow_mlops.provider.launchers.base import (
    JobState,
    Launcher,
    LaunchOutcome,
    LaunchRequest,
    RemoteLauncher,
    component_command,
)
from airflow_mlops.provider.launchers.invocation import InvocationResult, read_invocation
from airflow_mlops.provider.launchers.kubernetes import KubernetesLauncher
from airflow_mlops.provider.launchers.local import LocalLauncher, resolve_runtime_python
from airflow_mlops.provider.launchers.vertex import VertexLauncher

#: ``runtime.launcher`` value -> implementation
LAUNCHERS: dict[str, type[Launcher]] = {cls.name: cls for cls in (LocalLauncher, KubernetesLauncher, VertexLauncher)}
if set(LAUNCHERS) != set(DECLARED_LAUNCHERS):  # the config accepts exactly the launchers there are
    raise ImportError(f"launchers {sorted(LAUNCHERS)} differ from the config's {sorted(DECLARED_LAUNCHERS)}")


def launcher_for(name: str, **options: Any) -> Launcher:
    """An instance of the launcher ``name`` (see :data:`LAUNCHERS`)."""
    try:
        cls = LAUNCHERS[name]
    except KeyError:
        raise ValueError(f"unknown launcher {name!r}: one of {', '.join(sorted(LAUNCHERS))}") from None
    return cls(**options)


__all__ = [
    "InvocationResult",
    "JobState",
    "KubernetesLauncher",
    "RemoteLauncher",
    "VertexLauncher",
    "LAUNCHERS",
    "LaunchOutcome",
    "LaunchRequest",
    "Launcher",
    "LocalLauncher",
    "component_command",
    "launcher_for",
    "read_invocation",
    "resolve_runtime_python",
]
