"""Vertex AI's JobService (CustomJobs, v1 REST) on 127.0.0.1, running jobs as local processes.

The real ``google.cloud.aiplatform_v1.JobServiceClient`` talks to :class:`FakeVertex` with
``transport="rest"``, ``client_options={"api_endpoint": fake.url}`` (an ``http://`` endpoint is
used as is) and anonymous credentials. Supported: create, get, list, cancel and delete of
CustomJobs. The first worker pool's first replica (``workerpool0-0``) runs its ``containerSpec``
with a :class:`~local_cloud.containers.ContainerRunner`; other pools and replicas are ignored.
Every request is recorded in :attr:`FakeVertex.requests` (the client's ``$alt`` query parameter
aside). Faults are injected per job with :meth:`FakeVertex.inject`.

Error wordings follow what Vertex AI reports where it is documented or commonly seen; the
preemption and image-pull messages are approximations (see the constants).
"""

from __future__ import annotations

import copy
import json
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from local_cloud.containers import Container, ContainerRunner, rfc3339
from local_cloud.service import Faults, LoopbackServer, send_json, wait_for

FAULTS = ("preempted", "hold")
HOLD_COMMAND = ["python", "-c", "import time\nwhile True:\n    time.sleep(3600)"]
PENDING_DELAY = 0.2  # seconds in JOB_STATE_PENDING before the replica starts
FAULT_DELAY = 1.0  # seconds between the replica's start and an injected preemption
CANCEL_GRACE = 2.0  # seconds between SIGTERM and SIGKILL on cancel

# google.rpc.Code values.
INVALID_ARGUMENT, CANCELLED, NOT_FOUND, FAILED_PRECONDITION, UNAVAILABLE = 3, 1, 5, 9, 14
LOGS_HINT = ("To find out more about why your job exited please check the logs: "
             "https://console.cloud.google.com/logs/viewer?project={project}&resource=ml_job%2Fjob_id%2F{job_id}"
             "&advancedFilter=resource.type%3D%22ml_job%22%0Aresource.labels.job_id%3D%22{job_id}%22")
# What a failed CustomJob's error says when the primary replica exits non-zero (code 3).
EXIT_MESSAGE = "The replica workerpool0-0 exited with a non-zero status of {code}. Termination reason: Error. " + LOGS_HINT
# Approximation: a Spot/preemptible VM taken back by Compute Engine during the job.
PREEMPTED_MESSAGE = ("The replica workerpool0-0 was preempted: its VM (Spot) was reclaimed by Compute Engine. "
                     "Set scheduling.restartJobOnWorkerRestart to restart the replica instead of failing the job. "
                     + LOGS_HINT)
# Approximation of the message when the image cannot be pulled.
PULL_MESSAGE = ('The replica workerpool0-0 could not be started: unable to pull the container image "{image}": '
                "manifest unknown or access denied.")


class Refused(Exception):
    def __init__(self, code: int, status: str, message: str) -> None:
        super().__init__(message)
        self.code, self.status, self.message = code, status, message


class Job:
    def __init__(self, resource: dict[str, Any], fault: str | None) -> None:
        self.resource = resource
        self.fault = fault
        self.container: Container | None = None
        self.containers: list[Container] = []  # every run of the replica (a preempted one is restarted)
        self.cancelled = False


class FakeVertex:
    """State and request log of the fake JobService; jobs run with ``runner``."""

    def __init__(self, runner: ContainerRunner) -> None:
        self.runner = runner
        self.requests: list[dict[str, Any]] = []
        #: the Authorization header of each request, in order (credentials are not checked here)
        self.authorizations: list[str | None] = []
        self.jobs: dict[str, Job] = {}
        self.faults = Faults(FAULTS)
        self.url = ""
        self._cancelled: list[str] = []
        self._ids = 1_000_000_000_000_000_000 + int(time.time()) % 1_000_000 * 1000
        self._lock = threading.RLock()
        self._server: LoopbackServer | None = None

    # -- set-up and what the tests read ------------------------------------------------------

    def inject(self, fault: str, match: str = "") -> None:
        """Apply ``fault`` (one of :data:`FAULTS`) to the next created job whose first container's
        command and args, joined with spaces, contain ``match``."""
        self.faults.inject(fault, match)

    def created_jobs(self) -> list[dict[str, Any]]:
        """The bodies of the CustomJob creations received, exactly as sent."""
        return [r["body"] for r in self.requests if r["method"] == "POST" and r["path"].endswith("/customJobs")]

    def cancelled_jobs(self) -> list[str]:
        """The names of the jobs a cancel request was accepted for."""
        return list(self._cancelled)

    def job(self, name: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self.jobs[name].resource)

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 30.0) -> Any:
        return wait_for(predicate, timeout)

    # -- serving ----------------------------------------------------------------------------

    def start(self) -> FakeVertex:
        self._server = LoopbackServer(_handler(self), "fake-vertex")
        self.url = self._server.url
        return self

    def stop(self) -> None:
        with self._lock:
            jobs = list(self.jobs.values())
            for job in jobs:
                job.cancelled = True
        for job in jobs:
            for container in job.containers:
                container.stop(grace=0)
        if self._server is not None:
            self._server.stop()

    # -- the API ----------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict[str, str], body: Any) -> dict[str, Any]:
        with self._lock:
            self.requests.append({"method": method, "path": path, "query": query, "body": body})
        for pattern, verb, action in ROUTES:
            match = re.fullmatch(pattern, path)
            if match and verb == method:
                return action(self, query, body, *match.groups())
        raise Refused(404, "NOT_FOUND", f"no route for {method} {path}")

    def _job(self, name: str) -> Job:
        if name not in self.jobs:
            raise Refused(404, "NOT_FOUND", f'The CustomJob "{name}" does not exist.')
        return self.jobs[name]

    def create_job(self, query: dict, body: Any, parent: str) -> dict[str, Any]:
        if not isinstance(body, dict) or not body.get("displayName"):
            raise Refused(400, "INVALID_ARGUMENT", "CustomJob.display_name is required.")
        pools = (body.get("jobSpec") or {}).get("workerPoolSpecs") or []
        if not pools or not (pools[0].get("containerSpec") or {}).get("imageUri"):
            raise Refused(400, "INVALID_ARGUMENT",
                          "CustomJob.job_spec.worker_pool_specs[0].container_spec.image_uri is required.")
        spec = pools[0]["containerSpec"]
        joined = " ".join([*(spec.get("command") or []), *(spec.get("args") or [])])
        now = rfc3339()
        with self._lock:
            self._ids += 1
            name = f"{parent}/customJobs/{self._ids}"
            fault = self.faults.take(joined)
            resource = {**copy.deepcopy(body), "name": name, "state": "JOB_STATE_PENDING",
                        "createTime": now, "updateTime": now}
            job = self.jobs[name] = Job(resource, fault)
            answer = copy.deepcopy(resource)
        threading.Thread(target=self._run, args=(job,), name=f"vertex-{self._ids}", daemon=True).start()
        return answer

    def get_job(self, query: dict, body: Any, name: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._job(name).resource)

    def list_jobs(self, query: dict, body: Any, parent: str) -> dict[str, Any]:
        with self._lock:
            jobs = [copy.deepcopy(j.resource) for n, j in self.jobs.items() if n.startswith(parent + "/customJobs/")]
        return {"customJobs": jobs} if jobs else {}

    def cancel_job(self, query: dict, body: Any, name: str) -> dict[str, Any]:
        with self._lock:
            job = self._job(name)
            state = job.resource["state"]
            if state in ("JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED"):
                raise Refused(400, "FAILED_PRECONDITION", f"Cannot cancel CustomJob {name} in state {state}.")
            job.cancelled = True
            self._cancelled.append(name)
            self._set(job, "JOB_STATE_CANCELLING")
            container = job.container
        if container is not None:
            container.kill(signal.SIGTERM)
            threading.Thread(target=lambda: container.wait(CANCEL_GRACE) is None and container.kill(),
                             daemon=True).start()
        return {}

    def delete_job(self, query: dict, body: Any, name: str) -> dict[str, Any]:
        with self._lock:
            job = self._job(name)
            if job.resource["state"] in ("JOB_STATE_PENDING", "JOB_STATE_RUNNING", "JOB_STATE_CANCELLING"):
                raise Refused(400, "FAILED_PRECONDITION", f"CustomJob {name} is running; cancel it first.")
            del self.jobs[name]
        return {"name": f"{name}/operations/{self._ids}", "done": True,
                "response": {"@type": "type.googleapis.com/google.protobuf.Empty"}}

    # -- running a job ----------------------------------------------------------------------

    def _set(self, job: Job, state: str, **fields: Any) -> None:
        job.resource.update(state=state, updateTime=rfc3339(), **fields)

    def _env(self, job: Job) -> dict[str, str]:
        resource = job.resource
        spec = resource["jobSpec"]
        pool_spec = spec["workerPoolSpecs"][0]
        job_id = resource["name"].rsplit("/", 1)[1]
        host = f"cmle-training-workerpool0-{job_id[-10:]}-0:2222"
        # CLUSTER_SPEC and TF_CONFIG: set on every replica (https://cloud.google.com/vertex-ai/docs/training/distributed-training).
        cluster_spec = {"cluster": {"workerpool0": [host]}, "environment": "cloud",
                        "task": {"type": "workerpool0", "index": 0}, "job": json.dumps(spec)}
        tf_config = {"cluster": {"chief": [host]}, "environment": "cloud", "task": {"type": "chief", "index": 0},
                     "job": json.dumps(spec)}
        env = {"CLUSTER_SPEC": json.dumps(cluster_spec), "TF_CONFIG": json.dumps(tf_config)}
        # AIP_*_DIR when jobSpec.baseOutputDirectory is set (the CustomJobSpec reference:
        # https://cloud.google.com/vertex-ai/docs/reference/rest/v1/CustomJobSpec).
        base = (spec.get("baseOutputDirectory") or {}).get("outputUriPrefix")
        if base:
            base = base.rstrip("/")
            env.update(AIP_MODEL_DIR=f"{base}/model/", AIP_CHECKPOINT_DIR=f"{base}/checkpoints/",
                       AIP_TENSORBOARD_LOG_DIR=f"{base}/logs/")
        for entry in pool_spec["containerSpec"].get("env") or []:
            env[entry["name"]] = entry.get("value", "")
        return env

    def _run(self, job: Job) -> None:
        time.sleep(PENDING_DELAY)
        resource = job.resource
        spec = resource["jobSpec"]["workerPoolSpecs"][0]["containerSpec"]
        project, job_id = resource["name"].split("/")[1], resource["name"].rsplit("/", 1)[1]
        restart = bool((resource["jobSpec"].get("scheduling") or {}).get("restartJobOnWorkerRestart"))
        command, args = spec.get("command"), spec.get("args")
        if job.fault == "hold":
            command, args = HOLD_COMMAND, []
        fault = job.fault
        with self._lock:
            if job.cancelled:
                self._set(job, "JOB_STATE_CANCELLED", endTime=rfc3339(), error={"code": CANCELLED, "message": "CANCELED"})
                return
            if not self.runner.knows(spec["imageUri"]):
                self._set(job, "JOB_STATE_FAILED", startTime=rfc3339(), endTime=rfc3339(),
                          error={"code": INVALID_ARGUMENT, "message": PULL_MESSAGE.format(image=spec["imageUri"])})
                return
        env = self._env(job)
        while True:
            with self._lock:
                if job.cancelled:
                    break
                container = self.runner.start(f"vertex-{job_id}", spec["imageUri"], command, args, env)
                job.container = container
                job.containers.append(container)
                if resource["state"] == "JOB_STATE_PENDING":
                    self._set(job, "JOB_STATE_RUNNING", startTime=container.started_at)
            preempted = False
            if fault == "preempted":
                fault = None  # once
                container.wait(FAULT_DELAY)  # the VM goes away ~1 s in, whether or not the replica is done
                container.kill()
                preempted = True
            code = container.wait()
            while code is None:
                code = container.wait(1)
            if preempted and restart and not job.cancelled:
                continue  # the replica restarts from scratch on a new VM
            break
        with self._lock:
            end = rfc3339()
            if job.cancelled:
                self._set(job, "JOB_STATE_CANCELLED", endTime=end, error={"code": CANCELLED, "message": "CANCELED"})
            elif preempted:
                self._set(job, "JOB_STATE_FAILED", endTime=end,
                          error={"code": UNAVAILABLE, "message": PREEMPTED_MESSAGE.format(project=project, job_id=job_id)})
            elif code != 0:
                self._set(job, "JOB_STATE_FAILED", endTime=end, error={
                    "code": INVALID_ARGUMENT,
                    "message": EXIT_MESSAGE.format(code=code, project=project, job_id=job_id)})
            else:
                self._set(job, "JOB_STATE_SUCCEEDED", endTime=end)


LOCATION = r"/v1/(projects/[^/]+/locations/[^/]+)"
JOB = r"/v1/(projects/[^/]+/locations/[^/]+/customJobs/[^/:]+)"
ROUTES: list[tuple[str, str, Callable[..., Any]]] = [
    (LOCATION + "/customJobs", "POST", FakeVertex.create_job),
    (LOCATION + "/customJobs", "GET", FakeVertex.list_jobs),
    (JOB, "GET", FakeVertex.get_job),
    (JOB, "DELETE", FakeVertex.delete_job),
    (JOB + ":cancel", "POST", FakeVertex.cancel_job),
]


def _handler(fake: FakeVertex) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            url = urlsplit(self.path)
            query = {key: values[0] for key, values in parse_qs(url.query).items() if key != "$alt"}
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw.strip() else None
            fake.authorizations.append(self.headers.get("Authorization"))
            try:
                code, answer = 200, fake.handle(self.command, url.path, query, body)
            except Refused as exc:
                code, answer = exc.code, {"error": {"code": exc.code, "status": exc.status, "message": exc.message}}
            send_json(self, code, answer)

        do_GET = do_POST = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            pass

    return Handler


@contextmanager
def serve_vertex(runner: ContainerRunner) -> Iterator[FakeVertex]:
    """A :class:`FakeVertex` serving on 127.0.0.1 for the block; its jobs' processes are killed after it."""
    fake = FakeVertex(runner).start()
    try:
        yield fake
    finally:
        fake.stop()
