"""Reading the ``Examples`` artifact that ingest writes (``<split>.parquet`` per split)."""

from __future__ import annotations

from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.contract import ArtifactRef


def split_uri(examples: ArtifactRef, split: str) -> str:
    return f"{examples.uri}/{split}.parquet"


def read_split(examples: ArtifactRef, split: str):
    """One split as a pandas DataFrame."""
    import pandas as pd

    with ArtifactStore().open(split_uri(examples, split)) as f:
        return pd.read_parquet(f)
