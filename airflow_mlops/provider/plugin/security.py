"""Who may see what in the MLOps view: the API server's auth manager decides.

Plugin apps mounted by the API server get no authentication of their own. Every route of the
view depends on Airflow's :func:`airflow.api_fastapi.core_api.security.get_user` (the JWT of the
``Authorization: Bearer`` header or of the UI's ``_token`` cookie, checked by the configured
auth manager: 401 without one, 403 with an invalid one), and a pipeline's pages, API and reports
on read access to its DAGs (``<pipeline>_training``; for a DAG tab, that DAG too). Both functions
exist with these names and meanings in Airflow 3.1.8 and 3.3.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails
from airflow.api_fastapi.core_api.security import get_user
from fastapi import HTTPException, status

if TYPE_CHECKING:
    from airflow.api_fastapi.auth.managers.models.base_user import BaseUser

__all__ = ["can_read_dag", "get_user", "require_dag_access", "training_dag_id"]


def training_dag_id(pipeline: str) -> str:
    """The DAG whose read access stands for the pipeline's (the factory's ``<pipeline>_training``)."""
    return f"{pipeline}_training"


def can_read_dag(user: BaseUser, dag_id: str) -> bool:
    return bool(get_auth_manager().is_authorized_dag(method="GET", details=DagDetails(id=dag_id), user=user))


def require_dag_access(user: BaseUser, *dag_ids: str) -> None:
    """:raises HTTPException: 403 unless ``user`` may read every one of ``dag_ids``."""
    for dag_id in dag_ids:
        if not can_read_dag(user, dag_id):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"no read access to DAG {dag_id}")
