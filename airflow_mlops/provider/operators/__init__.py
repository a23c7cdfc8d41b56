"""Airflow operators (control plane). No ML library is imported here."""

from __future__ import annotations

from airflow_mlops.provider.operators.batch_prediction import CheckBatchOperator, PredictBatchOperator
from airflow_mlops.provider.operators.component import ComponentOperator, ComponentOutput
from airflow_mlops.provider.operators.deployment import (
    CanaryAnalysisOperator,
    DeployModelOperator,
    InfraValidateOperator,
    RollbackModelOperator,
)
from airflow_mlops.provider.operators.evaluation import EvaluateModelOperator
from airflow_mlops.provider.operators.ingest import IngestDataOperator
from airflow_mlops.provider.operators.monitoring import MonitorOperator
from airflow_mlops.provider.operators.register import RegisterModelOperator
from airflow_mlops.provider.operators.training import TrainModelOperator, TuneHyperparametersOperator
from airflow_mlops.provider.operators.transform import TransformOperator
from airflow_mlops.provider.operators.validation import ValidateDataOperator

__all__ = [
    "CanaryAnalysisOperator",
    "CheckBatchOperator",
    "ComponentOperator",
    "ComponentOutput",
    "DeployModelOperator",
    "EvaluateModelOperator",
    "InfraValidateOperator",
    "IngestDataOperator",
    "MonitorOperator",
    "PredictBatchOperator",
    "RegisterModelOperator",
    "RollbackModelOperator",
    "TrainModelOperator",
    "TransformOperator",
    "TuneHyperparametersOperator",
    "ValidateDataOperator",
]
