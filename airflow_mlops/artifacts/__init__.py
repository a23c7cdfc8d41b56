"""Reading and writing artifacts and execution records on any fsspec URI (``file://``, ``gs://``)."""

from __future__ import annotations

from airflow_mlops.artifacts.store import ArtifactStore

__all__ = ["ArtifactStore"]
