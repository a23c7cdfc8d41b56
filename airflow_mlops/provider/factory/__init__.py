"""Builds the pipeline DAGs from a pipeline config. DAG files call these and nothing else.

Each factory is imported when it is first asked for, so a DAG file loads only the module of the
DAG it builds (the data-arrival sensor and its trigger, say, are not imported by the training file).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from airflow_mlops.contract.config import pipeline_config_path

if TYPE_CHECKING:
    from airflow_mlops.provider.factory.batch_prediction import batch_prediction_dag
    from airflow_mlops.provider.factory.deployment import promotion_dag, rollback_dag
    from airflow_mlops.provider.factory.monitoring import data_arrival_dag, monitoring_dag
    from airflow_mlops.provider.factory.training import training_dag

#: factory -> the module of this package that defines it
_MODULES = {
    "batch_prediction_dag": "batch_prediction",
    "data_arrival_dag": "monitoring",
    "monitoring_dag": "monitoring",
    "promotion_dag": "deployment",
    "rollback_dag": "deployment",
    "training_dag": "training",
}


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return getattr(import_module(f"{__name__}.{_MODULES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["batch_prediction_dag", "data_arrival_dag", "monitoring_dag", "pipeline_config_path", "promotion_dag", "rollback_dag", "training_dag"]
