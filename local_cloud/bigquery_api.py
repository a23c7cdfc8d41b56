"""A fake BigQuery API (v2 REST) on 127.0.0.1: tables, their rows, and the queries the runtime sends.

The real ``google.cloud.bigquery.Client`` talks to it with
``client_options={"api_endpoint": fake.url}`` and anonymous credentials (the runtime does so when
``$MLOPS_BIGQUERY_ENDPOINT`` is set). Supported: ``tables.get``, ``tabledata.list`` (one page),
``jobs.insert`` of a query, ``jobs.get``, ``jobs.getQueryResults``, and load jobs of Parquet
(multipart and resumable uploads; ``table$YYYYMMDD`` loads a partition). A query is answered by
:meth:`FakeBigQuery.answer` for its exact text, or, for the runtime's partition query
(``SELECT * FROM `<table>` WHERE `<column>` = @partition``), with the table's rows whose column
equals the parameter. The result is kept as the job's destination table (``_anon`` dataset), read
back like any table. Every request is recorded as it came (method, path, query string, JSON body):
tests assert on the exact request the client sent.

    fake = FakeBigQuery().start()
    fake.add_table("p.d.penguins", pyarrow_table)
    ...
    fake.jobs()  # the bodies of the jobs.insert requests
"""

from __future__ import annotations

import base64
import datetime
import json
import re
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from local_cloud.service import LoopbackServer, send_json

PREFIX = "/bigquery/v2"
UPLOAD_PREFIX = "/upload/bigquery/v2"
PARTITION_QUERY = re.compile(r"SELECT \* FROM `(?P<table>[^`]+)` WHERE `(?P<column>[^`]+)` = @partition")
#: Arrow type -> BigQuery type (what the fake's schemas say)
_TYPES = {"string": "STRING", "double": "FLOAT", "float": "FLOAT", "int64": "INTEGER", "bool": "BOOLEAN",
          "date32[day]": "DATE", "large_string": "STRING"}


def _cell(value: Any) -> Any:
    """A value as tabledata.list encodes it: text, or null."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value != value:  # NaN: BigQuery's FLOAT NaN
        return "NaN"
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return str(value)


class FakeBigQuery:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.tables: dict[str, Any] = {}  # "project.dataset.table" -> pyarrow.Table
        self.etags: dict[str, int] = {}
        self.answers: dict[str, Callable[[dict[str, Any]], Any]] = {}
        self.job_results: dict[str, str] = {}  # job id -> its destination table
        self.uploads: dict[str, dict[str, Any]] = {}  # resumable upload sessions
        self.loads: dict[str, dict[str, Any]] = {}  # load job id -> its job resource
        self._lock = threading.Lock()
        self._ids = 0
        self._server: LoopbackServer | None = None
        self.url = ""

    # -- set-up and inspection -------------------------------------------------------------------

    def add_table(self, name: str, table: Any) -> None:
        """Create or replace ``project.dataset.table`` (its etag and modification time change)."""
        with self._lock:
            self.tables[name] = table
            self.etags[name] = self.etags.get(name, 0) + 1

    def answer(self, sql: str, rows: Callable[[dict[str, Any]], Any]) -> None:
        """Answer the query ``sql`` with ``rows(parameters)`` (a pyarrow.Table; parameters by name)."""
        self.answers[sql] = rows

    def jobs(self) -> list[dict[str, Any]]:
        return [r["body"] for r in self.requests if r["method"] == "POST" and r["path"].endswith("/jobs")]

    def start(self) -> FakeBigQuery:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self, method: str) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                if parts.path.startswith(UPLOAD_PREFIX):
                    code, answer, headers = fake.upload(method, parts.path, query, dict(self.headers), raw, fake.url)
                    self.send_response(code)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    data = json.dumps(answer).encode() if answer is not None else b""
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                code, answer = fake.handle(method, parts.path, query, json.loads(raw) if raw else None)
                send_json(self, code, answer)

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

            def do_PUT(self) -> None:
                self._handle("PUT")

        self._server = LoopbackServer(Handler, "fake-bigquery")
        self.url = self._server.url
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()

    # -- the API ---------------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        with self._lock:
            self.requests.append({"method": method, "path": path, "query": {k: v for k, v in query.items() if k != "prettyPrint"},
                                  "body": body})
        rest = path.removeprefix(PREFIX)
        routes: list[tuple[str, str, Callable[..., tuple[int, Any]]]] = [
            ("GET", r"/projects/([^/]+)/datasets/([^/]+)/tables/([^/]+)/data", self._rows),
            ("GET", r"/projects/([^/]+)/datasets/([^/]+)/tables/([^/]+)", self._table),
            ("POST", r"/projects/([^/]+)/jobs", self._insert_job),
            ("GET", r"/projects/([^/]+)/jobs/([^/]+)", self._get_job),
            ("GET", r"/projects/([^/]+)/queries/([^/]+)", self._query_results),
        ]
        for verb, pattern, route in routes:
            match = re.fullmatch(pattern, rest)
            if verb == method and match:
                return route(query, body, *match.groups())
        return _error(404, "notFound", f"no route for {method} {path}")

    # -- load jobs (uploads) ---------------------------------------------------------------------

    def upload(self, method: str, path: str, query: dict[str, str], headers: dict[str, str], raw: bytes,
               url: str) -> tuple[int, Any, dict[str, str]]:
        """A load job's upload: ``uploadType=multipart`` (the job and the data in one request) or
        ``resumable`` (the job, then the data in chunks to the session's URL)."""
        project = path.removeprefix(UPLOAD_PREFIX).split("/")[2]
        kind = query.get("uploadType")
        if method == "POST" and kind == "multipart":
            boundary = headers.get("content-type", headers.get("Content-Type", "")).split("boundary=")[-1].strip('"')
            parts = [p for p in raw.split(b"--" + boundary.encode()) if p.strip() not in (b"", b"--")]
            job, data = (part.split(b"\r\n\r\n", 1)[1].rstrip(b"\r\n") for part in parts[:2])
            return self._load(project, json.loads(job), data)
        if method == "POST" and kind == "resumable":
            with self._lock:
                self._ids += 1
                session = f"upload_{self._ids}"
                self.uploads[session] = {"job": json.loads(raw), "data": b"", "project": project}
            self.requests.append({"method": method, "path": path, "query": query, "body": json.loads(raw)})
            return 200, None, {"Location": f"{url}{path}?uploadType=resumable&upload_id={session}"}
        if method == "PUT" and query.get("upload_id") in self.uploads:
            upload = self.uploads[query["upload_id"]]
            upload["data"] += raw
            total = headers.get("content-range", headers.get("Content-Range", "")).rsplit("/", 1)[-1]
            if total != "*" and len(upload["data"]) >= int(total):
                del self.uploads[query["upload_id"]]
                return self._load(upload["project"], upload["job"], upload["data"])
            return 308, None, {"Range": f"bytes=0-{len(upload['data']) - 1}"}
        code, answer = _error(400, "invalid", f"unsupported upload {method} {path} {query}")
        return code, answer, {}

    def _load(self, project: str, job: dict[str, Any], data: bytes) -> tuple[int, Any, dict[str, str]]:
        """Run the load job at once: Parquet rows into the destination (``table$YYYYMMDD``: that
        partition), appended or, with WRITE_TRUNCATE, replacing it."""
        import io

        import pyarrow as pa
        import pyarrow.parquet as pq

        self.requests.append({"method": "POST", "path": f"{UPLOAD_PREFIX}/projects/{project}/jobs", "query": {}, "body": job})
        load = job["configuration"]["load"]
        if load.get("sourceFormat") != "PARQUET":
            code, answer = _error(400, "invalid", "the fake BigQuery loads Parquet only")
            return code, answer, {}
        job_id = (job.get("jobReference") or {}).get("jobId")
        if job_id in self.loads:
            code, answer = _error(409, "duplicate", f"Already Exists: Job {project}:{job_id}")
            return code, answer, {}
        ref = load["destinationTable"]
        name = f"{ref['projectId']}.{ref['datasetId']}.{ref['tableId']}"
        rows = pq.read_table(io.BytesIO(data))
        with self._lock:
            if load.get("writeDisposition") != "WRITE_TRUNCATE" and name in self.tables:
                rows = pa.concat_tables([self.tables[name], rows])
            self.tables[name] = rows
            self.etags[name] = self.etags.get(name, 0) + 1
            job_id = job_id or f"load_{len(self.requests)}"
            self.job_results[job_id] = name
            self.loads[job_id] = job
        answer = {"kind": "bigquery#job", "id": f"{project}:{job_id}", "configuration": job["configuration"],
                  "jobReference": {"projectId": project, "jobId": job_id}, "status": {"state": "DONE"},
                  "statistics": {"creationTime": "1767225600000", "load": {"outputRows": str(rows.num_rows)}}}
        return 200, answer, {}

    def table_rows(self, name: str) -> Any:
        """A table's rows with those of its partitions (``name$YYYYMMDD``), as loads left them."""
        import pyarrow as pa

        parts = [t for n, t in sorted(self.tables.items()) if n == name or n.startswith(name + "$")]
        return pa.concat_tables(parts) if parts else None

    def _lookup(self, project: str, dataset: str, table: str) -> tuple[str, Any]:
        name = f"{project}.{dataset}.{table}"
        return name, self.tables.get(name)

    def _table(self, query: dict, body: Any, project: str, dataset: str, table: str) -> tuple[int, Any]:
        name, data = self._lookup(project, dataset, table)
        if data is None:
            return _error(404, "notFound", f"Not found: Table {project}:{dataset}.{table}")
        return 200, {
            "kind": "bigquery#table", "id": f"{project}:{dataset}.{table}", "etag": f"etag-{self.etags.get(name, 1)}",
            "tableReference": {"projectId": project, "datasetId": dataset, "tableId": table},
            "schema": _schema(data), "numRows": str(data.num_rows), "type": "TABLE",
            "creationTime": "1767225600000", "lastModifiedTime": str(1767225600000 + self.etags.get(name, 1) * 1000),
        }

    def _rows(self, query: dict, body: Any, project: str, dataset: str, table: str) -> tuple[int, Any]:
        _, data = self._lookup(project, dataset, table)
        if data is None:
            return _error(404, "notFound", f"Not found: Table {project}:{dataset}.{table}")
        start = int(query.get("startIndex", 0))
        rows = [{"f": [{"v": _cell(v)} for v in row.values()]} for row in data.slice(start).to_pylist()]
        return 200, {"kind": "bigquery#tableDataList", "totalRows": str(data.num_rows), "rows": rows}

    def _insert_job(self, query: dict, body: Any, project: str) -> tuple[int, Any]:
        config = (body or {}).get("configuration", {}).get("query")
        if not config:
            return _error(400, "invalid", "only query jobs are supported by the fake")
        sql = config.get("query", "")
        params = {p["name"]: p["parameterValue"].get("value") for p in config.get("queryParameters", [])}
        if sql in self.answers:
            result = self.answers[sql](params)
        elif (match := PARTITION_QUERY.fullmatch(sql)) is not None:
            source = self.tables.get(match["table"])
            if source is None:
                return _error(404, "notFound", f"Not found: Table {match['table'].replace('.', ':', 1)}")
            if match["column"] not in source.column_names:
                return _error(400, "invalidQuery", f"Unrecognized name: {match['column']} at [1:{len(sql) - 12}]")
            result = source.filter([str(v) == params.get("partition") for v in source.column(match["column"]).to_pylist()])
        else:
            return _error(400, "invalidQuery", f"Syntax error: the fake BigQuery does not know the query {sql!r}")
        reference = body.get("jobReference") or {}
        with self._lock:
            self._ids += 1
            job_id = reference.get("jobId") or f"job_{self._ids}"
            destination = f"{project}._anon.result_{job_id}"
            self.tables[destination] = result
            self.job_results[job_id] = destination
        return 200, self._job(project, job_id, body, reference.get("location"))

    def _job(self, project: str, job_id: str, body: Any, location: str | None) -> dict[str, Any]:
        destination = self.job_results[job_id].split(".")
        configuration = json.loads(json.dumps((body or {}).get("configuration") or {"query": {}}))
        configuration["query"]["destinationTable"] = {"projectId": destination[0], "datasetId": destination[1], "tableId": destination[2]}
        return {"kind": "bigquery#job", "id": f"{project}:{job_id}", "configuration": configuration,
                "jobReference": {"projectId": project, "jobId": job_id, **({"location": location} if location else {})},
                "status": {"state": "DONE"}, "statistics": {"creationTime": "1767225600000", "query": {"totalBytesProcessed": "0"}}}

    def _get_job(self, query: dict, body: Any, project: str, job_id: str) -> tuple[int, Any]:
        if job_id not in self.job_results:
            return _error(404, "notFound", f"Not found: Job {project}:{job_id}")
        if job_id in self.loads:
            load = self.loads[job_id]
            return 200, {"kind": "bigquery#job", "configuration": load["configuration"], "status": {"state": "DONE"},
                         "jobReference": {"projectId": project, "jobId": job_id}}
        sent = next((r["body"] for r in self.requests if r["method"] == "POST" and r["body"]
                     and (r["body"].get("jobReference") or {}).get("jobId") == job_id), None)
        return 200, self._job(project, job_id, sent, query.get("location"))

    def _query_results(self, query: dict, body: Any, project: str, job_id: str) -> tuple[int, Any]:
        if job_id not in self.job_results:
            return _error(404, "notFound", f"Not found: Job {project}:{job_id}")
        data = self.tables[self.job_results[job_id]]
        answer: dict[str, Any] = {"kind": "bigquery#getQueryResultsResponse", "jobComplete": True,
                                  "jobReference": {"projectId": project, "jobId": job_id}, "schema": _schema(data),
                                  "totalRows": str(data.num_rows)}
        if query.get("maxResults") != "0":
            answer["rows"] = [{"f": [{"v": _cell(v)} for v in row.values()]} for row in data.to_pylist()]
        return 200, answer


def _schema(table: Any) -> dict[str, Any]:
    return {"fields": [{"name": f.name, "type": _TYPES.get(str(f.type), "STRING"), "mode": "NULLABLE"} for f in table.schema]}


def _error(code: int, reason: str, message: str) -> tuple[int, Any]:
    return code, {"error": {"code": code, "message": message, "errors": [{"reason": reason, "message": message}],
                            "status": {404: "NOT_FOUND", 400: "INVALID_ARGUMENT", 409: "ALREADY_EXISTS"}.get(code, "UNKNOWN")}}
