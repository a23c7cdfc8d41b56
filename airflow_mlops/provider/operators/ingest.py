"""``IngestDataOperator``: snapshot and split the pipeline's source data."""

from __future__ import annotations

from airflow_mlops.contract.components import INGEST
from airflow_mlops.provider.operators.component import ComponentOperator


class IngestDataOperator(ComponentOperator):
    """Read CSV/Parquet from a path, ``gs://`` URI or ``package://`` resource, write a Parquet
    snapshot split into train/eval/test by a hash of each row.

    Output ``examples`` (``Examples``). Missing, empty or unparseable files, a missing label
    column and zero rows fail the task with a message naming the file, without retries.

    Parameters: the fields of :class:`~airflow_mlops.contract.params.IngestParams` (``source``,
    templated like every parameter, e.g. a prefix per ``{{ ds }}``; ``label``; ``split``;
    ``format``; ``split_key``; ``include_feedback``).
    """

    interface = INGEST
