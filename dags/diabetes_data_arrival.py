"""New diabetes data in the landing directory: ingest the batch and start training."""

from __future__ import annotations

from airflow_mlops.provider.factory import data_arrival_dag, pipeline_config_path

dag = data_arrival_dag(pipeline_config_path(__file__, "diabetes"))
