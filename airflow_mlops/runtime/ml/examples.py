"""Reading the ``Examples`` artifact that ingest writes (``<split>.parquet`` per split)."""

from __future__ import annotations

from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.contract import ArtifactRef

#: rows per Parquet row group of a split: what training reads at a time
#: (:mod:`airflow_mlops.runtime.ml.split_stream`)
ROW_GROUP_ROWS = 65_536


def split_uri(examples: ArtifactRef, split: str) -> str:
    return f"{examples.uri}/{split}.parquet"


def read_split(examples: ArtifactRef, split: str):
    """One split as a pandas DataFrame."""
    import pandas as pd

    with ArtifactStore().open(split_uri(examples, split)) as f:
        return pd.read_parquet(f)
