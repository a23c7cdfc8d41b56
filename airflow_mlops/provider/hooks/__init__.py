"""Hooks (control plane): what Airflow connections mean to the pipeline - the MLflow tracking
server (``mlflow`` connections) and the artifact storage's credentials (Google Cloud connections).

Neither imports MLflow nor an ML library; the runtime plane receives the resolved values.
"""

from __future__ import annotations

from airflow_mlops.provider.hooks.mlflow import MlflowHook
from airflow_mlops.provider.hooks.storage import ArtifactStorageHook

__all__ = ["ArtifactStorageHook", "MlflowHook"]
