"""Builds the pipeline DAGs from a pipeline config. DAG files call these and nothing else."""

from __future__ import annotations

from airflow_mlops.factory.training import training_dag

__all__ = ["training_dag"]
