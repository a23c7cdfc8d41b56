"""Airflow operators (control plane). No ML library is imported here."""

from __future__ import annotations

from airflow_mlops.operators.component import ComponentOperator, ComponentOutput
from airflow_mlops.operators.evaluation import EvaluateModelOperator
from airflow_mlops.operators.ingest import IngestDataOperator
from airflow_mlops.operators.registry import PromoteModelOperator, RegisterModelOperator
from airflow_mlops.operators.training import TrainModelOperator
from airflow_mlops.operators.transform import TransformOperator
from airflow_mlops.operators.validation import ValidateDataOperator

__all__ = [
    "ComponentOperator",
    "ComponentOutput",
    "EvaluateModelOperator",
    "IngestDataOperator",
    "PromoteModelOperator",
    "RegisterModelOperator",
    "TrainModelOperator",
    "TransformOperator",
    "ValidateDataOperator",
]
