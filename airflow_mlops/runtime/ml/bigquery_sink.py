"""A batch prediction's ``predictions.parquet`` loaded into BigQuery: the destination
``bigquery://<project>.<dataset>.<table>`` appends the rows (a load job of Parquet);
``...?partition=<YYYY-MM-DD>`` (``{{ ds }}``) replaces that day's partition of a table partitioned
by day (created so when missing), so a re-run or a backfill of a day leaves one set of its scores.
"""

from __future__ import annotations

import contextlib
import datetime
from typing import Any
from urllib.parse import parse_qsl

from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.contract import ComponentError, ErrorKind
from airflow_mlops.runtime.ml.bigquery_source import SCHEME, client, mapped_errors

SYNTAX = "bigquery://<project>.<dataset>.<table>[?partition=<YYYY-MM-DD>]"


def parse_destination(uri: str) -> tuple[str, str, str | None]:
    """``(project, project.dataset.table, partition date or None)``; a config error otherwise."""
    where, _, tail = uri.removeprefix(SCHEME).partition("?")
    options = dict(parse_qsl(tail))
    problem = None
    if where.count(".") != 2 or not all(where.split(".")):
        problem = f"{where!r} is not <project>.<dataset>.<table>"
    elif set(options) - {"partition"}:
        problem = f"unknown option(s) {', '.join(sorted(set(options) - {'partition'}))}"
    partition = options.get("partition")
    if problem is None and partition is not None:
        try:
            partition = datetime.date.fromisoformat(partition).isoformat()
        except ValueError:
            problem = f"partition must be a date YYYY-MM-DD (got {partition!r})"
    if problem:
        raise ComponentError(ErrorKind.CONFIG, f"destination {uri}: {problem} (syntax: {SYNTAX})", {"destination": uri})
    return where.split(".", 1)[0], where, partition


def load_parquet(destination: str, parquet_uri: str, job_id: str | None = None) -> dict[str, Any]:
    """Load ``parquet_uri`` into ``destination``; the table (with its partition decorator), the
    rows loaded and the load job's id.

    :param job_id: the same for every attempt of one load: a retry after a load that went through
        (its answer lost) finds the job instead of appending the rows again."""
    from google.api_core.exceptions import Conflict
    from google.cloud import bigquery

    from airflow_mlops.runtime.ml.bigquery_source import BigQuerySource

    project, table, partition = parse_destination(destination)
    target = f"{table}${partition.replace('-', '')}" if partition else table
    config = bigquery.LoadJobConfig(
        source_format=bigquery.SourceFormat.PARQUET,
        write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE if partition else bigquery.WriteDisposition.WRITE_APPEND,
        time_partitioning=bigquery.TimePartitioning(type_=bigquery.TimePartitioningType.DAY) if partition else None,
    )
    with (contextlib.closing(client(project)) as bq, mapped_errors(BigQuerySource(destination, project)),
          ArtifactStore().open(parquet_uri) as data):
        try:
            job = bq.load_table_from_file(data, target, job_config=config, rewind=True, job_id=job_id)
        except Conflict:  # this load was submitted by an earlier attempt
            job = bq.get_job(job_id)
        job.result()
    return {"table": target, "rows": int(job.output_rows or 0), "job": job.job_id}
