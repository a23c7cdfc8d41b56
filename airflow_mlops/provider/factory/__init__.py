"""Builds the pipeline DAGs from a pipeline config. DAG files call these and nothing else."""

from __future__ import annotations

from airflow_mlops.contract.config import pipeline_config_path
from airflow_mlops.provider.factory.deployment import promotion_dag, rollback_dag
from airflow_mlops.provider.factory.monitoring import data_arrival_dag, monitoring_dag
from airflow_mlops.provider.factory.training import training_dag

__all__ = ["data_arrival_dag", "monitoring_dag", "pipeline_config_path", "promotion_dag", "rollback_dag", "training_dag"]
