"""Launchers start ``python -m airflow_mlops.runtime.components <component> --spec <uri>`` somewhere."""

from __future__ import annotations

from airflow_mlops.provider.launchers.base import LaunchOutcome, component_command
from airflow_mlops.provider.launchers.local import LocalLauncher, resolve_runtime_python

__all__ = ["LaunchOutcome", "LocalLauncher", "component_command", "resolve_runtime_python"]
