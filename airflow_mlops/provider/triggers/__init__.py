"""Deferrable triggers: they run in the triggerer and only read storage, never write it."""

from __future__ import annotations

from airflow_mlops.provider.triggers.new_data import NewDataTrigger

__all__ = ["NewDataTrigger"]
