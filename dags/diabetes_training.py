"""Continuous training of the diabetes progression model, configured by include/diabetes/pipeline.yaml."""

from __future__ import annotations

from airflow_mlops.provider.factory import pipeline_config_path, training_dag

dag = training_dag(pipeline_config_path(__file__, "diabetes"))
