"""Batch prediction with the Palmer penguins champion: a file of rows in, predictions.parquet out."""

from __future__ import annotations

from airflow_mlops.provider.factory import batch_prediction_dag, pipeline_config_path

dag = batch_prediction_dag(pipeline_config_path(__file__, "penguin"))
