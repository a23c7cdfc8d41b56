"""Canary analysis of the diabetes progression model: promote or reject the challenger."""

from __future__ import annotations

from airflow_mlops.provider.factory import pipeline_config_path, promotion_dag

dag = promotion_dag(pipeline_config_path(__file__, "diabetes"))
