"""Sensors that start pipelines on events: new data landing, a monitoring alert."""

from __future__ import annotations

from airflow_mlops.provider.sensors.drift import DriftSensor
from airflow_mlops.provider.sensors.new_data import NewDataSensor

__all__ = ["DriftSensor", "NewDataSensor"]
