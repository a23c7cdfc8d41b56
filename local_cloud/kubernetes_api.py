"""A Kubernetes API server for pods on 127.0.0.1, with a kubelet that runs them as local processes.

:class:`FakeKubernetes` speaks the subset of the core/v1 REST API that the official clients
(``kubernetes``, ``kubernetes_asyncio``) and Airflow's cncf-kubernetes provider use for pods:
create, read (and ``/status``), list by label selector, delete, the log (with ``follow``,
``timestamps``, ``sinceSeconds``, ``tailLines``, ``container``), patch of labels and annotations,
and the pod's events (list, and ``watch=true``). Errors are ``Status`` objects as the API server
sends them. Every request is recorded in :attr:`FakeKubernetes.requests`; requests must carry the
bearer token of the kubeconfig :meth:`FakeKubernetes.write_kubeconfig` writes.

The kubelet part runs a pod's first container with a :class:`~local_cloud.containers.ContainerRunner`
and reports it as a kubelet would: ``Pending`` (waiting, ``ContainerCreating``), ``Running``,
then ``Succeeded`` (terminated ``Completed``) or ``Failed`` (terminated ``Error``). Other
containers, init containers and restart policies are ignored (every pod behaves as
``restartPolicy: Never``). Faults are injected per pod with :meth:`FakeKubernetes.inject`; an image
the runner does not know fails to pull (``ErrImagePull``, then ``ImagePullBackOff``).
"""

from __future__ import annotations

import copy
import json
import random
import re
import secrets
import string
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from local_cloud.containers import Container, ContainerRunner, ImageNotFound, rfc3339
from local_cloud.service import Faults, LoopbackServer, send, wait_for

FAULTS = ("oom_killed", "evicted", "preempted", "hold")
NODE = "local-cloud-node"
TOKEN = "local-cloud-token"
# The command of a held container: it runs until the pod is deleted.
HOLD_COMMAND = ["python", "-c", "import time\nwhile True:\n    time.sleep(3600)"]
FAULT_DELAY = 1.0  # seconds between a container's start and an injected OOM kill, eviction or preemption
CREATING_DELAY = 0.2  # seconds a pod stays ContainerCreating before its process starts
PULL_BACKOFF_DELAY = 1.0  # seconds from ErrImagePull to ImagePullBackOff
EVICTION_MESSAGE = ("The node was low on resource: memory. Threshold quantity: 100Mi, available: 51200Ki. "
                    "Container {container} was using 2105344Ki, request is 0, has larger consumption of memory. ")
SHUTDOWN_MESSAGE = "Pod was terminated in response to imminent node shutdown."


class ApiError(Exception):
    """An error the API server answers with a ``Status`` object."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self) -> dict[str, Any]:
        status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                  "message": self.message, "reason": self.reason, "code": self.code}
        if self.details:
            status["details"] = self.details
        return status


def flag(query: dict[str, str], key: str) -> bool:
    """A boolean query parameter as the API server parses it (Go's strconv.ParseBool)."""
    value = query.get(key, "false")
    if value in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if value in ("", "0", "f", "F", "false", "FALSE", "False"):
        return False
    raise ApiError(400, "BadRequest", f'invalid boolean value for {key}: "{value}"')


def not_found(name: str) -> ApiError:
    return ApiError(404, "NotFound", f'pods "{name}" not found', {"name": name, "kind": "pods"})


class Stream:
    """A streamed (chunked) response: ``chunks`` yields the bytes to send."""

    def __init__(self, content_type: str, chunks: Iterator[bytes]) -> None:
        self.content_type, self.chunks = content_type, chunks


class Pod:
    """A pod's stored object and what its kubelet saw."""

    def __init__(self, body: dict[str, Any], namespace: str, name: str, fault: str | None, rv: int) -> None:
        self.body = body
        self.namespace, self.name, self.fault = namespace, name, fault
        self.uid = str(uuid.uuid4())
        self.created = time.time()
        self.resource_version = rv
        self.scheduled: float | None = None
        self.container: Container | None = None
        self.waiting: tuple[str, str | None] | None = ("ContainerCreating", None)  # (reason, message)
        self.terminated: dict[str, Any] | None = None  # the container's terminated state, once ended
        self.phase = "Pending"
        self.reason: str | None = None  # status.reason/message of the pod (eviction, node shutdown)
        self.message: str | None = None
        self.disruption: dict[str, Any] | None = None  # a DisruptionTarget condition
        self.deleted = False
        self.deletion: str | None = None
        self.changed = time.time()

    @property
    def first(self) -> dict[str, Any]:
        containers = self.body.get("spec", {}).get("containers") or [{}]
        return containers[0]


class FakeKubernetes:
    """State and request log of the fake API server; its kubelet runs pods with ``runner``."""

    def __init__(self, runner: ContainerRunner) -> None:
        self.runner = runner
        self.requests: list[dict[str, Any]] = []
        self.pods: dict[tuple[str, str], Pod] = {}
        self.events: list[dict[str, Any]] = []
        self.faults = Faults(FAULTS)
        self.url = ""
        self.token = TOKEN
        self.grace_cap = 2.0  # at most this many seconds between SIGTERM and SIGKILL on delete
        self._deleted: list[str] = []
        self._rv = 1000
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._server: LoopbackServer | None = None

    # -- set-up and what the tests read ------------------------------------------------------

    def inject(self, fault: str, match: str = "") -> None:
        """Apply ``fault`` (one of :data:`FAULTS`) to the next created pod whose first container's
        command and args, joined with spaces, contain ``match``."""
        self.faults.inject(fault, match)

    def created_pods(self) -> list[dict[str, Any]]:
        """The bodies of the pod creations received, exactly as sent."""
        return [r["body"] for r in self.requests if r["method"] == "POST" and r["path"].endswith("/pods")]

    def deleted_pods(self) -> list[str]:
        """The names of the pods deleted (by a request that found them)."""
        return list(self._deleted)

    def pod(self, name: str, namespace: str = "default") -> Pod:
        return self.pods[(namespace, name)]

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 30.0) -> Any:
        return wait_for(predicate, timeout)

    def write_kubeconfig(self, path: Path | str) -> Path:
        """A kubeconfig (JSON, which YAML loaders read) whose current context is this server."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "local-cloud", "cluster": {"server": self.url}}],
            "users": [{"name": "local-cloud", "user": {"token": self.token}}],
            "contexts": [{"name": "local-cloud",
                          "context": {"cluster": "local-cloud", "user": "local-cloud", "namespace": "default"}}],
            "current-context": "local-cloud",
            "preferences": {},
        }
        path.write_text(json.dumps(config, indent=2))
        return path

    # -- serving ----------------------------------------------------------------------------

    def start(self) -> FakeKubernetes:
        self._server = LoopbackServer(_handler(self), "fake-kubernetes")
        self.url = self._server.url
        return self

    def stop(self) -> None:
        """Stop serving and kill every pod's process."""
        with self._lock:
            pods = list(self.pods.values())
            for pod in pods:
                pod.deleted = True
            self._changed.notify_all()
        for pod in pods:
            if pod.container is not None:
                pod.container.stop(grace=0)
        if self._server is not None:
            self._server.stop()

    # -- the API ----------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict[str, str], body: Any) -> Any:
        with self._lock:
            self.requests.append({"method": method, "path": path, "query": query, "body": body})
        for pattern, verb, action in ROUTES:
            match = re.fullmatch(pattern, path)
            if match and verb == method:
                return action(self, query, body, *match.groups())
        raise ApiError(404, "NotFound", "the server could not find the requested resource", {})

    def _bump(self, pod: Pod | None = None) -> int:
        """A new resourceVersion (and wake up the watchers)."""
        self._rv += 1
        if pod is not None:
            pod.resource_version = self._rv
            pod.changed = time.time()
        self._changed.notify_all()
        return self._rv

    def _get(self, namespace: str, name: str) -> Pod:
        pod = self.pods.get((namespace, name))
        if pod is None or pod.deleted:
            raise not_found(name)
        return pod

    def create_pod(self, query: dict, body: Any, namespace: str) -> dict[str, Any]:
        if not isinstance(body, dict) or body.get("kind", "Pod") != "Pod":
            raise ApiError(400, "BadRequest", "the body of the request was in an unknown format")
        stored = copy.deepcopy(body)
        meta = stored.setdefault("metadata", {})
        name = meta.get("name")
        if not name and meta.get("generateName"):
            name = meta["generateName"] + "".join(random.choices(string.ascii_lowercase + string.digits, k=5))
        if not name:
            raise ApiError(422, "Invalid", "Pod \"\" is invalid: metadata.name: Required value: name or generateName is required")
        if meta.get("namespace", namespace) != namespace:
            raise ApiError(400, "BadRequest", "the namespace of the provided object does not match the namespace sent on the request")
        containers = stored.get("spec", {}).get("containers") or []
        if not containers or not all(c.get("name") and c.get("image") for c in containers):
            raise ApiError(422, "Invalid", f'Pod "{name}" is invalid: spec.containers: Required value')
        with self._lock:
            if (namespace, name) in self.pods and not self.pods[(namespace, name)].deleted:
                raise ApiError(409, "AlreadyExists", f'pods "{name}" already exists', {"name": name, "kind": "pods"})
            meta["name"] = name
            first = containers[0]
            joined = " ".join([*(first.get("command") or []), *(first.get("args") or [])])
            fault = self.faults.take(joined)
            pod = Pod(stored, namespace, name, fault, self._bump())
            self.pods[(namespace, name)] = pod
            rendered = self.render(pod)
        threading.Thread(target=self._kubelet, args=(pod,), name=f"kubelet-{name}", daemon=True).start()
        return rendered

    def read_pod(self, query: dict, body: Any, namespace: str, name: str) -> dict[str, Any]:
        with self._lock:
            return self.render(self._get(namespace, name))

    def list_pods(self, query: dict, body: Any, namespace: str | None = None) -> dict[str, Any]:
        selector = parse_label_selector(query.get("labelSelector", ""))
        fields = parse_field_selector(query.get("fieldSelector", ""))
        with self._lock:
            items = [self.render(p) for p in self.pods.values()
                     if not p.deleted and (namespace is None or p.namespace == namespace)]
            rv = self._rv
        items = [i for i in items if selector(i["metadata"].get("labels") or {}) and fields(i)]
        return {"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": str(rv)}, "items": items}

    def patch_pod(self, query: dict, body: Any, namespace: str, name: str) -> dict[str, Any]:
        with self._lock:
            pod = self._get(namespace, name)
            if isinstance(body, list):  # application/json-patch+json
                for op in body:
                    json_patch(pod.body, op)
            elif isinstance(body, dict):  # merge patch and (for metadata) strategic merge patch alike
                merge_patch(pod.body, {k: v for k, v in body.items() if k in ("metadata", "spec")})
            self._bump(pod)
            return self.render(pod)

    def delete_pod(self, query: dict, body: Any, namespace: str, name: str) -> dict[str, Any]:
        grace = (body or {}).get("gracePeriodSeconds", query.get("gracePeriodSeconds"))
        spec_grace = None
        with self._lock:
            pod = self._get(namespace, name)
            spec_grace = pod.body.get("spec", {}).get("terminationGracePeriodSeconds", 30)
            pod.deletion = rfc3339()
            rendered = self.render(pod)
            rendered["metadata"]["deletionTimestamp"] = pod.deletion
            rendered["metadata"]["deletionGracePeriodSeconds"] = int(spec_grace if grace is None else grace)
            self._deleted.append(name)
            pod.deleted = True
            self._event(pod, "Normal", "Killing", f"Stopping container {pod.first.get('name')}")
            self._bump(pod)
        if pod.container is not None:
            wait = float(spec_grace if grace is None else grace)
            pod.container.stop(grace=min(wait, self.grace_cap))
        with self._lock:
            if self.pods.get((namespace, name)) is pod:
                del self.pods[(namespace, name)]
            self._bump()
        return rendered

    def read_log(self, query: dict, body: Any, namespace: str, name: str) -> str | Stream:
        with self._lock:
            pod = self._get(namespace, name)
            names = [c.get("name") for c in pod.body["spec"]["containers"]]
            container_name = query.get("container") or names[0]
            if "container" not in query and len(names) > 1:
                raise ApiError(400, "BadRequest", f"a container name must be specified for pod {name}, choose one of: {names}")
            if container_name not in names:
                raise ApiError(400, "BadRequest", f"container {container_name} is not valid for pod {name}")
            if container_name != names[0]:
                return ""  # the other containers never run here
            if flag(query, "previous"):
                raise ApiError(400, "BadRequest", f'previous terminated container "{container_name}" in pod "{name}" not found')
            container = pod.container
            if container is None:
                reason = pod.waiting[0] if pod.waiting else "ContainerCreating"
                if reason in ("ErrImagePull", "ImagePullBackOff"):
                    reason = "trying and failing to pull image"
                raise ApiError(400, "BadRequest", f'container "{container_name}" in pod "{name}" is waiting to start: {reason}')
        stamps = flag(query, "timestamps")
        tail = int(query["tailLines"]) if "tailLines" in query else None
        since = time.time() - int(query["sinceSeconds"]) if "sinceSeconds" in query else None
        entries, _ = container.entries()
        start = 0
        if since is not None:
            start = next((i for i, (t, _line) in enumerate(entries) if t >= since), len(entries))
        if tail is not None:
            start = max(start, len(entries) - tail)

        def fmt(batch: list[tuple[float, str]]) -> str:
            return "".join((rfc3339(t, nanos=True) + " " if stamps else "") + line + "\n" for t, line in batch)

        if not flag(query, "follow"):
            return fmt(entries[start:])

        def follow() -> Iterator[bytes]:
            index = start
            ended_at = 0.0
            while True:
                batch, done = container.entries(index, timeout=0.5)
                if batch:
                    index += len(batch)
                    yield fmt(batch).encode()
                # the stream ends once the pod's status says the container ended, so a client
                # that reads the status after the stream sees the final phase
                if done and not ended_at:
                    ended_at = time.monotonic()
                if (done and (pod.terminated is not None or time.monotonic() - ended_at > 10)) or pod.deleted:
                    return
                if done and not batch:
                    time.sleep(0.05)

        return Stream("text/plain", follow())

    def list_events(self, query: dict, body: Any, namespace: str | None = None) -> dict[str, Any] | Stream:
        fields = parse_field_selector(query.get("fieldSelector", ""))

        def selected(after: int) -> list[dict[str, Any]]:
            return [e for e in self.events if (namespace is None or e["metadata"]["namespace"] == namespace)
                    and fields(e) and int(e["metadata"]["resourceVersion"]) > after]

        if not flag(query, "watch"):
            with self._lock:
                return {"kind": "EventList", "apiVersion": "v1", "metadata": {"resourceVersion": str(self._rv)},
                        "items": selected(0)}
        timeout = min(float(query.get("timeoutSeconds") or 300), 300)
        after = int(query.get("resourceVersion") or 0)

        def watch() -> Iterator[bytes]:
            nonlocal after
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                with self._lock:
                    new = selected(after)
                    if not new:
                        self._changed.wait(min(0.5, max(deadline - time.monotonic(), 0)))
                        new = selected(after)
                if new:
                    after = max(int(e["metadata"]["resourceVersion"]) for e in new)
                    yield b"".join(json.dumps({"type": "ADDED", "object": e}).encode() + b"\n" for e in new)

        return Stream("application/json", watch())

    # -- the kubelet ------------------------------------------------------------------------

    def _event(self, pod: Pod, kind: str, reason: str, message: str, component: str = "kubelet") -> None:
        now = rfc3339()
        event = {
            "kind": "Event", "apiVersion": "v1",
            "metadata": {"name": f"{pod.name}.{secrets.token_hex(8)}", "namespace": pod.namespace,
                         "resourceVersion": str(self._bump()), "creationTimestamp": now},
            "involvedObject": {"kind": "Pod", "namespace": pod.namespace, "name": pod.name, "uid": pod.uid,
                               "apiVersion": "v1", "fieldPath": f"spec.containers{{{pod.first.get('name')}}}"},
            "reason": reason, "message": message, "type": kind, "count": 1,
            "firstTimestamp": now, "lastTimestamp": now,
            "source": {"component": component, **({"host": NODE} if component == "kubelet" else {})},
            "reportingComponent": component, "reportingInstance": NODE if component == "kubelet" else "",
        }
        self.events.append(event)

    def _env(self, pod: Pod) -> dict[str, str]:
        """The first container's env, ``valueFrom.fieldRef`` and ``$(VAR)`` references resolved."""
        fields = {
            "metadata.name": pod.name, "metadata.namespace": pod.namespace, "metadata.uid": pod.uid,
            "spec.nodeName": NODE, "spec.serviceAccountName": pod.body["spec"].get("serviceAccountName") or "default",
            "status.hostIP": "127.0.0.1", "status.podIP": "127.0.0.1",
        }
        env = {"HOSTNAME": pod.name}
        for entry in pod.first.get("env") or []:
            ref = (entry.get("valueFrom") or {}).get("fieldRef")
            if ref:
                path = ref.get("fieldPath", "")
                if path.startswith("metadata.labels['") or path.startswith("metadata.annotations['"):
                    kind, key = path.split("['", 1)
                    value = (pod.body["metadata"].get(kind.split(".")[1]) or {}).get(key.rstrip("']"), "")
                else:
                    value = fields.get(path, "")
            elif "valueFrom" in entry:
                value = ""  # secrets and config maps do not exist here
            else:
                value = expand(entry.get("value", ""), env)
            env[entry["name"]] = value
        return env

    def _kubelet(self, pod: Pod) -> None:
        first = pod.first
        image = first.get("image", "")
        with self._lock:
            pod.scheduled = time.time()
            self._event(pod, "Normal", "Scheduled", f"Successfully assigned {pod.namespace}/{pod.name} to {NODE}",
                        component="default-scheduler")
            self._bump(pod)
        time.sleep(CREATING_DELAY)
        if pod.deleted:
            return
        if not self.runner.knows(image):
            with self._lock:
                pull = (f'rpc error: code = NotFound desc = failed to pull and unpack image "{image}": '
                        f'failed to resolve reference "{image}": {image}: not found')
                pod.waiting = ("ErrImagePull", pull)
                self._event(pod, "Normal", "Pulling", f'Pulling image "{image}"')
                self._event(pod, "Warning", "Failed", f'Failed to pull image "{image}": {pull}')
                self._event(pod, "Warning", "Failed", "Error: ErrImagePull")
                self._bump(pod)
            time.sleep(PULL_BACKOFF_DELAY)
            with self._lock:
                if not pod.deleted:
                    pod.waiting = ("ImagePullBackOff", f'Back-off pulling image "{image}"')
                    self._event(pod, "Normal", "BackOff", f'Back-off pulling image "{image}"')
                    self._event(pod, "Warning", "Failed", "Error: ImagePullBackOff")
                    self._bump(pod)
            return
        command, args = first.get("command"), first.get("args")
        if pod.fault == "hold":
            command, args = HOLD_COMMAND, []
        env = self._env(pod)
        with self._lock:
            if pod.deleted:
                return
            try:
                container = self.runner.start(f"{pod.namespace}-{pod.name}", image,
                                              [expand(a, env) for a in command or []] or None,
                                              [expand(a, env) for a in args or []], env)
            except (ImageNotFound, OSError) as exc:
                pod.waiting = ("RunContainerError", str(exc))
                pod.phase = "Failed" if isinstance(exc, OSError) else "Pending"
                self._event(pod, "Warning", "Failed", f"Error: {exc}")
                self._bump(pod)
                return
            pod.container, pod.waiting = container, None
            self._event(pod, "Normal", "Pulled", f'Container image "{image}" already present on machine')
            self._event(pod, "Normal", "Created", f"Created container: {first.get('name')}")
            self._event(pod, "Normal", "Started", f"Started container {first.get('name')}")
            pod.phase = "Running"
            self._bump(pod)
        if pod.fault in ("oom_killed", "evicted", "preempted"):
            container.wait(FAULT_DELAY)
            container.kill()
        code = container.wait()
        while code is None:
            code = container.wait(1)
        with self._lock:
            terminated: dict[str, Any] = {
                "exitCode": code, "reason": "Completed" if code == 0 else "Error",
                "startedAt": container.started_at, "finishedAt": container.finished_at,
                "containerID": f"containerd://{pod.uid.replace('-', '')}",
            }
            if pod.fault == "oom_killed":
                terminated.update(exitCode=137, reason="OOMKilled")
            elif pod.fault == "evicted":
                terminated.update(exitCode=137, reason="Error")
                pod.reason, pod.message = "Evicted", EVICTION_MESSAGE.format(container=first.get("name"))
                self._event(pod, "Warning", "Evicted", pod.message)
                pod.disruption = {"reason": "TerminationByKubelet", "message": pod.message}
            elif pod.fault == "preempted":
                terminated.update(exitCode=137, reason="Error")
                pod.reason, pod.message = "Terminated", SHUTDOWN_MESSAGE
                pod.disruption = {"reason": "TerminationByKubelet", "message": SHUTDOWN_MESSAGE}
            pod.terminated = terminated
            if not pod.deleted:
                pod.phase = "Succeeded" if terminated["exitCode"] == 0 and not pod.reason else "Failed"
            self._bump(pod)

    # -- the object as the API server returns it ----------------------------------------------

    def render(self, pod: Pod) -> dict[str, Any]:
        obj = copy.deepcopy(pod.body)
        obj["apiVersion"], obj["kind"] = "v1", "Pod"
        meta = obj.setdefault("metadata", {})
        meta.update(name=pod.name, namespace=pod.namespace, uid=pod.uid, resourceVersion=str(pod.resource_version),
                    creationTimestamp=rfc3339(pod.created))
        spec = obj.setdefault("spec", {})
        spec.setdefault("restartPolicy", "Always")
        spec.setdefault("serviceAccountName", "default")
        spec.setdefault("schedulerName", "default-scheduler")
        spec.setdefault("terminationGracePeriodSeconds", 30)
        spec.setdefault("dnsPolicy", "ClusterFirst")
        if pod.scheduled is not None:
            spec["nodeName"] = NODE
        obj["status"] = self._status(pod)
        return obj

    def _status(self, pod: Pod) -> dict[str, Any]:
        first = pod.first
        status: dict[str, Any] = {"phase": pod.phase, "qosClass": "BestEffort"}
        if pod.scheduled is None:
            return status

        def condition(kind: str, ok: bool, reason: str | None = None, message: str | None = None) -> dict[str, Any]:
            cond = {"type": kind, "status": "True" if ok else "False", "lastProbeTime": None,
                    "lastTransitionTime": rfc3339(pod.changed if not ok else pod.scheduled)}
            if reason:
                cond["reason"] = reason
            if message:
                cond["message"] = message
            return cond

        container = pod.container
        running = container is not None and pod.terminated is None
        ended_reason = {"Succeeded": "PodCompleted", "Failed": "PodFailed"}.get(pod.phase)
        conditions = [condition("PodReadyToStartContainers", container is not None), condition("Initialized", True)]
        if running:
            conditions += [condition("Ready", True), condition("ContainersReady", True)]
        else:
            unready = ended_reason or "ContainersNotReady"
            msg = None if ended_reason else f"containers with unready status: [{first.get('name')}]"
            conditions += [condition("Ready", False, unready, msg), condition("ContainersReady", False, unready, msg)]
        conditions.append(condition("PodScheduled", True))
        if pod.disruption:
            conditions.append(condition("DisruptionTarget", True, **pod.disruption))
            conditions[-1]["lastTransitionTime"] = rfc3339(pod.changed)
        status.update(conditions=conditions, hostIP="127.0.0.1", hostIPs=[{"ip": "127.0.0.1"}],
                      startTime=rfc3339(pod.scheduled))
        if container is not None:
            status.update(podIP="127.0.0.1", podIPs=[{"ip": "127.0.0.1"}])
        if pod.reason:
            status.update(reason=pod.reason, message=pod.message)
        state: dict[str, Any]
        if pod.terminated is not None:
            state = {"terminated": pod.terminated}
        elif container is not None:
            state = {"running": {"startedAt": container.started_at}}
        else:
            reason, message = pod.waiting or ("ContainerCreating", None)
            state = {"waiting": {"reason": reason, **({"message": message} if message else {})}}
        image = first.get("image", "")
        statuses = [{
            "name": first.get("name"), "image": image,
            "imageID": f"{image.split(':')[0]}@sha256:{'0' * 64}" if container is not None else "",
            "ready": running, "started": running, "restartCount": 0, "state": state, "lastState": {},
            **({"containerID": f"containerd://{pod.uid.replace('-', '')}"} if container is not None else {}),
        }]
        for other in (pod.body["spec"].get("containers") or [])[1:]:
            statuses.append({"name": other.get("name"), "image": other.get("image", ""), "imageID": "",
                             "ready": False, "started": False, "restartCount": 0,
                             "state": {"waiting": {"reason": "ContainerCreating"}}, "lastState": {}})
        status["containerStatuses"] = statuses
        return status


# -- selectors and patches --------------------------------------------------------------------

def parse_label_selector(selector: str) -> Callable[[dict[str, str]], bool]:
    """A predicate on labels for a label selector (``a=b``, ``a==b``, ``a!=b``, ``a``, ``!a``,
    ``a in (x,y)``, ``a notin (x,y)``, comma-separated)."""
    requirements: list[Callable[[dict[str, str]], bool]] = []
    for part in re.findall(r"(?:[^,(]|\([^)]*\))+", selector):
        part = part.strip()
        if not part:
            continue
        if m := re.fullmatch(r"([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)", part):
            key, op, values = m.group(1), m.group(2), {v.strip() for v in m.group(3).split(",")}
            requirements.append(lambda labels, k=key, o=op, vs=values: (labels.get(k) in vs) == (o == "in")
                                if k in labels else o == "notin")
        elif m := re.fullmatch(r"([^!=]+?)\s*(!=|==|=)\s*(.*)", part):
            key, op, value = m.group(1).strip(), m.group(2), m.group(3).strip()
            if op == "!=":
                requirements.append(lambda labels, k=key, v=value: labels.get(k) != v)
            else:
                requirements.append(lambda labels, k=key, v=value: labels.get(k) == v)
        elif part.startswith("!"):
            absent = part[1:].strip()
            requirements.append(lambda labels, k=absent: k not in labels)
        else:
            requirements.append(lambda labels, k=part: k in labels)
    return lambda labels: all(r(labels) for r in requirements)


def parse_field_selector(selector: str) -> Callable[[dict[str, Any]], bool]:
    """A predicate on an object for a field selector (``a.b=x``, ``a.b==x``, ``a.b!=x``)."""
    requirements = []
    for part in filter(None, (p.strip() for p in selector.split(","))):
        m = re.fullmatch(r"([^!=]+?)\s*(!=|==|=)\s*(.*)", part)
        if not m:
            raise ApiError(400, "BadRequest", f'invalid field selector: "{part}"')
        requirements.append((m.group(1).split("."), m.group(2) == "!=", m.group(3)))

    def value(obj: Any, path: list[str]) -> str:
        for key in path:
            obj = obj.get(key) if isinstance(obj, dict) else None
        return "" if obj is None else str(obj)

    return lambda obj: all((value(obj, path) == expected) != negate for path, negate, expected in requirements)


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion in command, args and env values (``$$`` escapes ``$``)."""
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)",
                  lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), text)


def merge_patch(target: dict[str, Any], patch: dict[str, Any]) -> None:
    """RFC 7386 JSON merge patch, in place."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            merge_patch(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def json_patch(target: dict[str, Any], op: dict[str, Any]) -> None:
    """One RFC 6902 operation (add, replace, remove) on an object path, in place."""
    keys = [k.replace("~1", "/").replace("~0", "~") for k in op["path"].lstrip("/").split("/")]
    parent = target
    for key in keys[:-1]:
        parent = parent.setdefault(key, {})
    if op["op"] in ("add", "replace"):
        parent[keys[-1]] = copy.deepcopy(op["value"])
    elif op["op"] == "remove":
        parent.pop(keys[-1], None)
    else:
        raise ApiError(422, "Invalid", f"the JSON patch operation {op['op']!r} is not supported here")


NS = r"/api/v1/namespaces/([^/]+)"
POD = NS + r"/pods/([^/]+)"
ROUTES: list[tuple[str, str, Callable[..., Any]]] = [
    (NS + "/pods", "POST", FakeKubernetes.create_pod),
    (NS + "/pods", "GET", FakeKubernetes.list_pods),
    (r"/api/v1/pods", "GET", FakeKubernetes.list_pods),
    (POD, "GET", FakeKubernetes.read_pod),
    (POD + "/status", "GET", FakeKubernetes.read_pod),
    (POD, "PATCH", FakeKubernetes.patch_pod),
    (POD, "DELETE", FakeKubernetes.delete_pod),
    (POD + "/log", "GET", FakeKubernetes.read_log),
    (NS + "/events", "GET", FakeKubernetes.list_events),
    (r"/api/v1/events", "GET", FakeKubernetes.list_events),
]


def _handler(fake: FakeKubernetes) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _send(self, code: int, content_type: str, data: bytes) -> None:
            send(self, code, data, content_type)

        def _serve(self) -> None:
            url = urlsplit(self.path)
            query = {key: values[0] for key, values in parse_qs(url.query, keep_blank_values=True).items()}
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw.strip() else None
            except ValueError:
                body = raw.decode("utf-8", "replace")
            if self.headers.get("Authorization") != f"Bearer {fake.token}":
                with fake._lock:
                    fake.requests.append({"method": self.command, "path": url.path, "query": query, "body": body})
                error = ApiError(401, "Unauthorized", "Unauthorized")
                self._send(401, "application/json", json.dumps(error.status()).encode())
                return
            try:
                answer = fake.handle(self.command, url.path, query, body)
            except ApiError as exc:
                self._send(exc.code, "application/json", json.dumps(exc.status()).encode())
                return
            except Exception as exc:  # a bug of the fake: say so, as a 500 Status
                error = ApiError(500, "InternalError", f"{type(exc).__name__}: {exc}")
                self._send(500, "application/json", json.dumps(error.status()).encode())
                raise
            if isinstance(answer, Stream):
                self.send_response(200)
                self.send_header("Content-Type", answer.content_type)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                try:
                    for chunk in answer.chunks:
                        if chunk:
                            self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                            self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True
            elif isinstance(answer, str):
                self._send(200, "text/plain", answer.encode())
            else:
                self._send(200, "application/json", json.dumps(answer).encode())

        do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            pass

    return Handler


@contextmanager
def serve_kubernetes(runner: ContainerRunner) -> Iterator[FakeKubernetes]:
    """A :class:`FakeKubernetes` serving on 127.0.0.1 for the block; its pods' processes are killed after it."""
    fake = FakeKubernetes(runner).start()
    try:
        yield fake
    finally:
        fake.stop()
