"""Drift and performance monitoring of the diabetes progression model; drift or degradation requests retraining."""

from __future__ import annotations

from airflow_mlops.provider.factory import monitoring_dag, pipeline_config_path

dag = monitoring_dag(pipeline_config_path(__file__, "diabetes"))
