"""``bigquery://`` sources: a BigQuery table, one day's partition of it, or a query, read into a
DataFrame (then ingest and check_batch snapshot it to Parquet like any file).

- ``bigquery://<project>.<dataset>.<table>``: the whole table (``tabledata.list``);
- ``bigquery://<project>.<dataset>.<table>?partition_column=<column>&partition=<YYYY-MM-DD>``: the
  rows of one day, by a query with a DATE parameter - with ``partition={{ ds }}`` in the YAML a
  backfill reads each run's own day (on a table partitioned by that column BigQuery scans only it);
- ``bigquery://<project>?query=<SQL>``: what the query returns (everything after ``query=`` is
  the SQL, as written); ``@ds`` in it is a DATE parameter when ``&ds=<YYYY-MM-DD>`` comes before
  ``query=``. The job runs in ``<project>``; ``location=<region>`` may come before ``query=`` too.

Credentials are Application Default Credentials (a pod's or a Vertex AI job's service account).
``$MLOPS_BIGQUERY_ENDPOINT`` points the client at another endpoint with anonymous credentials
(the local cloud's fake BigQuery).
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from airflow_mlops.contract import ComponentError, ErrorKind

SCHEME = "bigquery://"
ENDPOINT_ENV = "MLOPS_BIGQUERY_ENDPOINT"
SYNTAX = ("bigquery://<project>.<dataset>.<table>[?partition_column=<column>&partition=<YYYY-MM-DD>] or "
          "bigquery://<project>?[location=<region>&][ds=<YYYY-MM-DD>&]query=<SQL>")
_NAME = re.compile(r"[A-Za-z0-9_.:-]+")


@dataclass(frozen=True)
class BigQuerySource:
    uri: str
    project: str
    table: str | None = None
    query: str | None = None
    partition_column: str | None = None
    partition: str | None = None
    location: str | None = None
    ds: str | None = None

    def statement(self) -> tuple[str, list[Any]] | None:
        """The SQL and its parameters, or ``None`` for a whole table (read without a query)."""
        from google.cloud import bigquery

        if self.query is not None:
            params = [bigquery.ScalarQueryParameter("ds", "DATE", self.ds)] if self.ds else []
            return self.query, params
        if self.partition_column is not None:
            sql = f"SELECT * FROM `{self.table}` WHERE `{self.partition_column}` = @partition"
            return sql, [bigquery.ScalarQueryParameter("partition", "DATE", self.partition)]
        return None


def _config_error(uri: str, problem: str) -> ComponentError:
    return ComponentError(ErrorKind.CONFIG, f"source {uri}: {problem} (syntax: {SYNTAX})", {"source": uri})


def _date(uri: str, name: str, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return datetime.date.fromisoformat(value).isoformat()
    except ValueError:
        raise _config_error(uri, f"{name} must be a date YYYY-MM-DD (got {value!r})") from None


def parse(uri: str) -> BigQuerySource:
    """:raises ComponentError: (config) the URI does not name a table or a query."""
    rest = uri.removeprefix(SCHEME)
    where, _, tail = rest.partition("?")
    sql = None
    if "query=" in tail:
        head, _, sql = tail.partition("query=")
        tail = head.rstrip("&")
    options = dict(parse_qsl(tail, keep_blank_values=True))
    unknown = sorted(set(options) - {"partition_column", "partition", "location", "ds"})
    if unknown:
        raise _config_error(uri, f"unknown option(s) {', '.join(unknown)}")
    if not where or not _NAME.fullmatch(where):
        raise _config_error(uri, f"{where!r} is not a project or a table")
    if sql is not None:
        if "." in where:
            raise _config_error(uri, "a query names the project it runs in, not a table")
        if not sql.strip():
            raise _config_error(uri, "the query is empty")
        if "partition_column" in options or "partition" in options:
            raise _config_error(uri, "partition_column and partition are for a table; a query filters with @ds")
        return BigQuerySource(uri, where, query=sql, location=options.get("location") or None, ds=_date(uri, "ds", options.get("ds")))
    if where.count(".") != 2:
        raise _config_error(uri, f"{where!r} is not <project>.<dataset>.<table>")
    column, partition = options.get("partition_column") or None, options.get("partition") or None
    if (column is None) != (partition is None):
        raise _config_error(uri, "give partition_column and partition together")
    if "ds" in options:
        raise _config_error(uri, "ds is for a query; a table's day is partition=")
    return BigQuerySource(uri, where.split(".", 1)[0], table=where, partition_column=column,
                          partition=_date(uri, "partition", partition), location=options.get("location") or None)


def client(project: str):
    from google.cloud import bigquery

    endpoint = os.environ.get(ENDPOINT_ENV)
    if endpoint:
        from google.api_core.client_options import ClientOptions
        from google.auth.credentials import AnonymousCredentials

        return bigquery.Client(project=project, credentials=AnonymousCredentials(),
                               client_options=ClientOptions(api_endpoint=endpoint))
    return bigquery.Client(project=project)


#: 403 reasons that pass with time (https://cloud.google.com/bigquery/docs/error-messages)
RETRIED_REASONS = frozenset({"rateLimitExceeded", "quotaExceeded", "backendError"})


def _reason_code(exc: Any) -> str:
    errors = getattr(exc, "errors", None) or []
    return str(errors[0].get("reason", "")) if errors and isinstance(errors[0], dict) else ""


def _reason(exc: Any) -> str:
    """BigQuery's own words (the exception's message starts with the request's URL)."""
    errors = getattr(exc, "errors", None) or []
    first = errors[0] if errors and isinstance(errors[0], dict) else {}
    return str(first.get("message") or exc.message)


@contextlib.contextmanager
def mapped_errors(source: BigQuerySource) -> Iterator[None]:
    """BigQuery's answers as the component's errors: a missing table or a bad query is the data's
    or the configuration's fault (no retry); a server error or a timeout is retried."""
    from google.api_core import exceptions

    try:
        yield
    except exceptions.Forbidden as exc:
        if _reason_code(exc) in RETRIED_REASONS:
            raise ConnectionError(f"BigQuery: {_reason(exc)}") from exc  # a rate or quota limit: retried
        raise ComponentError(ErrorKind.CONFIG, f"{source.uri}: BigQuery refused it: {_reason(exc)}",
                             {"source": source.uri}) from None
    except exceptions.NotFound as exc:
        raise ComponentError(ErrorKind.DATA, f"{source.uri}: not found in BigQuery: {_reason(exc)}",
                             {"source": source.uri}) from None
    except (exceptions.BadRequest, exceptions.Unauthorized) as exc:
        raise ComponentError(ErrorKind.CONFIG, f"{source.uri}: BigQuery refused it: {_reason(exc)}",
                             {"source": source.uri}) from None
    except exceptions.GoogleAPICallError as exc:
        raise ConnectionError(f"BigQuery: {exc}") from exc  # an infrastructure error: retried


def read_table(uri: str):
    """The rows ``uri`` names, as an Arrow table."""
    source = parse(uri)
    with contextlib.closing(client(source.project)) as bq, mapped_errors(source):
        statement = source.statement()
        if statement is None:
            return bq.list_rows(source.table).to_arrow(create_bqstorage_client=False)
        from google.cloud import bigquery

        sql, params = statement
        job = bq.query(sql, job_config=bigquery.QueryJobConfig(query_parameters=params), location=source.location)
        return job.result().to_arrow(create_bqstorage_client=False)


def read(uri: str):
    """The rows ``uri`` names, as a DataFrame (a DATE column as ``datetime.date`` values, as in a
    Parquet file), or a data error if there are none."""
    table = read_table(uri)
    if table.num_rows == 0:
        raise ComponentError(ErrorKind.DATA, f"no rows in {uri}", {"source": uri})
    return table.to_pandas()


def fingerprint(uri: str) -> str:
    """What changes when the data does: a whole table's etag, modification time and row count
    (no rows read); for a partition or a query, a hash of the rows it returns."""
    source = parse(uri)
    if source.statement() is None:
        with contextlib.closing(client(source.project)) as bq, mapped_errors(source):
            table = bq.get_table(source.table)
        return f"{table.etag}:{table.modified.isoformat() if table.modified else ''}:{table.num_rows}"
    import pyarrow as pa

    data = read_table(uri)
    digest = hashlib.sha256(repr(data.schema).encode())
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, data.schema) as writer:
        writer.write_table(data)
    digest.update(sink.getvalue().to_pybytes())
    return digest.hexdigest()
