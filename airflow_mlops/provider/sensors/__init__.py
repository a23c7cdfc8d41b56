"""Sensors that start pipelines on events: new data landing.

(Monitoring alerts need no sensor: the monitoring DAG updates the retrain Asset, which schedules
retraining.)
"""

from __future__ import annotations

from airflow_mlops.provider.sensors.new_data import NewDataSensor

__all__ = ["NewDataSensor"]
