"""``IngestDataOperator``: snapshot and split the pipeline's source data."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_mlops.provider.operators.component import ComponentOperator


class IngestDataOperator(ComponentOperator):
    """Read CSV/Parquet from a path, ``gs://`` URI or ``package://`` resource, write a Parquet
    snapshot split into train/eval/test by a hash of each row.

    Output ``examples`` (``Examples``). Missing, empty or unparseable files, a missing label
    column and zero rows fail the task with a message naming the file, without retries.

    :param source: where the data is (templated, e.g. a prefix per ``{{ ds }}``).
    :param label: the label column.
    :param split: split ratios, e.g. ``{"train": 0.7, "eval": 0.15, "test": 0.15}``.
    :param data_format: ``csv``, ``parquet`` or ``auto`` (by extension).
    :param split_key: columns that decide a row's split (default: all columns).
    :param include_feedback: also take the served predictions whose labels have arrived
        (prediction log joined with ``feedback/*.csv``): retraining learns from production.
    """

    def __init__(
        self,
        *,
        source: str | list[str],
        label: str,
        split: Mapping[str, float],
        data_format: str = "auto",
        split_key: list[str] | None = None,
        include_feedback: bool = False,
        **kwargs: Any,
    ) -> None:
        params = {"source": source, "label": label, "split": dict(split), "format": data_format}
        if split_key:
            params["split_key"] = list(split_key)
        if include_feedback:
            params["include_feedback"] = True
        super().__init__(component="ingest", component_params=params, **kwargs)
