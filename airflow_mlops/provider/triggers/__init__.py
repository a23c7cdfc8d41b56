"""Deferrable triggers: they run in the triggerer and only read storage, never write it."""

from __future__ import annotations

from airflow_mlops.provider.triggers.new_data import NewDataTrigger
from airflow_mlops.provider.triggers.remote_job import RemoteJobTrigger

__all__ = ["NewDataTrigger", "RemoteJobTrigger"]
