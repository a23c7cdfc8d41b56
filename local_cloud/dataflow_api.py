"""A fake Dataflow API (v1b3 REST) on 127.0.0.1, enough for Beam's DataflowRunner to submit a job
and wait for it.

Beam only accepts a ``--dataflow_endpoint`` without a port (its options validator allows letters,
digits, ``-`` and ``.`` in the host), so the fake listens on port 80 of a random loopback address
(127.x.y.z: no clash with anything on 127.0.0.1) and :attr:`FakeDataflow.endpoint` is
``http://127.x.y.z``; that needs root or ``CAP_NET_BIND_SERVICE`` (or a container, where
unprivileged ports start at 0). Where port 80 cannot be bound it falls back to a free port on
127.0.0.1, and :func:`accept_endpoint_ports` lets Beam (in this process) take that endpoint.
Use ``--dataflow_endpoint=<endpoint> --no_auth`` (no Google credentials).

Every request is recorded as it came (method, path, query, JSON body). Job creation answers with a
job id; ``Get`` reports the job's states in turn (``states``: the last one stays), the messages
and metrics endpoints answer empty lists, except that a job in ``JOB_STATE_FAILED`` has one error
message (``error_message``), so Beam stops waiting for the failure's explanation at once. Nothing
is executed.

    with FakeDataflow(states=["JOB_STATE_RUNNING", "JOB_STATE_DONE"]) as dataflow:
        ...  # run a pipeline with --dataflow_endpoint={dataflow.endpoint} --no_auth
        dataflow.created_jobs()  # the job requests' bodies
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from local_cloud.service import send_json

JOBS = re.compile(r"^/v1b3/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/jobs(?:/(?P<job>[^/:]+))?(?P<rest>/.*)?$")


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any  # the JSON body, or None
    at: float = 0.0  # when it came (time.time())


@dataclass
class FakeDataflow:
    """The server; a context manager (started on enter, stopped on exit)."""

    states: list[str] = field(default_factory=lambda: ["JOB_STATE_RUNNING", "JOB_STATE_DONE"])
    error_message: str = "Traceback (most recent call last): a worker failed (fake Dataflow)"
    requests: list[Request] = field(default_factory=list)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: ``False``: straight to the fallback, a free port on 127.0.0.1
    port_80: bool = True

    def __post_init__(self):
        self._lock = threading.Lock()
        self._polls: dict[str, int] = {}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                split = urlsplit(self.path)
                body = json.loads(raw) if raw else None
                status, answer = fake.answer(Request(self.command, split.path, parse_qs(split.query), body, time.time()))
                send_json(self, status, answer)

            do_GET = do_POST = do_PUT = _handle

            def log_message(self, *args):
                pass

        host = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(1, 254)}"
        try:
            if not self.port_80:
                raise PermissionError
            self._server = ThreadingHTTPServer((host, 80), Handler)
        except OSError:  # not permitted, or no such loopback address (not Linux)
            self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        """``--dataflow_endpoint``: ``http://127.x.y.z`` (port 80), or ``http://127.0.0.1:<port>``."""
        host, port = self._server.server_address[:2]
        return f"http://{host}" if port == 80 else f"http://{host}:{port}"

    def __enter__(self) -> FakeDataflow:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def created_jobs(self) -> list[dict[str, Any]]:
        """The bodies of the job creation requests, in order."""
        return [r.body for r in self.requests if r.method == "POST" and (m := JOBS.match(r.path)) and not m["job"]]

    def answer(self, request: Request) -> tuple[int, Any]:
        with self._lock:
            self.requests.append(request)
            match = JOBS.match(request.path)
            if not match:
                return 404, {"error": {"code": 404, "message": f"fake Dataflow: no such resource {request.path}"}}
            job_id, rest = match["job"], match["rest"] or ""
            if job_id is None and request.method == "POST":
                return 200, self._create(request.body or {}, match["project"], match["location"])
            if job_id is None:
                return 200, {"jobs": list(self.jobs.values())}
            if job_id not in self.jobs:
                return 404, {"error": {"code": 404, "message": f"fake Dataflow: no job {job_id}"}}
            job = self.jobs[job_id]
            if rest == "/messages":
                failed = job.get("currentState") == "JOB_STATE_FAILED"
                message = {"id": "1", "time": "2025-01-01T00:00:00Z", "messageImportance": "JOB_MESSAGE_ERROR",
                           "messageText": self.error_message}
                return 200, {"jobMessages": [message] if failed else []}
            if rest == "/metrics":
                return 200, {"metrics": []}
            if rest == "" and request.method == "PUT":  # requestedState: cancel, drain
                requested = (request.body or {}).get("requestedState")
                if requested:
                    job["currentState"] = requested
                return 200, job
            if rest == "" and request.method == "GET":
                polls = self._polls[job_id] = self._polls.get(job_id, -1) + 1
                job["currentState"] = self.states[min(polls, len(self.states) - 1)]
                return 200, job
            return 404, {"error": {"code": 404, "message": f"fake Dataflow: not implemented {request.method} {request.path}"}}

    def _create(self, body: dict[str, Any], project: str, location: str) -> dict[str, Any]:
        job_id = f"2025-01-01_00_00_00-{len(self.jobs) + 1:019d}"
        job = {
            "id": job_id,
            "projectId": project,
            "location": location,
            "name": body.get("name", ""),
            "type": body.get("type", "JOB_TYPE_BATCH"),
            "clientRequestId": body.get("clientRequestId", ""),
            "currentStateTime": "1970-01-01T00:00:00Z",
        }
        self.jobs[job_id] = job
        return dict(job)


@contextlib.contextmanager
def accept_endpoint_ports():
    """Let Beam's options validator (in this process) accept ``http://127.0.0.1:<port>`` as
    ``--dataflow_endpoint``: only needed where the fake could not bind port 80."""
    from apache_beam.options.pipeline_options_validator import PipelineOptionsValidator

    original = PipelineOptionsValidator.validate_endpoint_url

    def validate(self, url):
        return original(self, re.sub(r":\d+(?=/|$)", "", url, count=1))

    PipelineOptionsValidator.validate_endpoint_url = validate
    try:
        yield
    finally:
        PipelineOptionsValidator.validate_endpoint_url = original
