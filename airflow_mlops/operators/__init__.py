"""Airflow operators (control plane). No ML library is imported here."""

from __future__ import annotations

from airflow_mlops.operators.component import ComponentOperator, ComponentOutput
from airflow_mlops.operators.ingest import IngestDataOperator

__all__ = ["ComponentOperator", "ComponentOutput", "IngestDataOperator"]
