"""A local Vertex AI endpoint and Cloud Run service on 127.0.0.1, for the rollout targets' tests.

Real Google clients (``google-cloud-aiplatform`` and ``google-cloud-run`` with their REST
transport) talk real HTTP to :class:`FakeGoogle`, which records every request exactly (method,
path, query, JSON body) and keeps the state a rollout changes: the endpoint's deployed models and
``trafficSplit``, the service's revisions, template and ``traffic``. Like the real services it
refuses a traffic split that does not add up to 100 or names an unknown model or revision, and
undeploying a model that still gets traffic. Long-running operations are returned done.

The Google provider's hooks build their clients with the production endpoint and the default
(gRPC) transport; :func:`route_google_clients` patches the narrowest point, the client class each
hook module instantiates, so that it is built with ``transport="rest"`` and this server as
``api_endpoint`` (the endpoint the hook asked for is recorded in ``FakeGoogle.hook_endpoints``).
Credentials are anonymous.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

VERTEX_TYPES = "type.googleapis.com/google.cloud.aiplatform.v1."
RUN_SERVICE_TYPE = "type.googleapis.com/google.cloud.run.v2.Service"
REVISION = "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION"


class Refused(Exception):
    def __init__(self, code: int, status: str, message: str) -> None:
        super().__init__(message)
        self.code, self.status, self.message = code, status, message


class FakeGoogle:
    """State and request log of the fake Vertex AI and Cloud Run APIs."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.hook_endpoints: list[str | None] = []
        self.endpoints: dict[str, dict[str, Any]] = {}
        self.models: dict[str, dict[str, Any]] = {}  # Vertex Models by resource name
        self.services: dict[str, dict[str, Any]] = {}
        self.revisions: dict[str, dict[str, Any]] = {}  # Cloud Run revisions by full name
        self._ids = 200
        self.url = ""
        self._lock = threading.Lock()

    # -- set-up ---------------------------------------------------------------------------

    def add_endpoint(self, name: str, deployed: dict[str, str], traffic: dict[str, int]) -> None:
        """An endpoint with deployed models ``{id: display_name}`` (each from an uploaded Model) and ``traffic``."""
        location = name.split("/endpoints/")[0]
        models = []
        for deployed_id, display in deployed.items():
            model = self.add_model(location, display)
            models.append({"id": deployed_id, "displayName": display, "model": model})
        self.endpoints[name] = {"name": name, "deployedModels": models, "trafficSplit": dict(traffic)}

    def add_model(self, location: str, display_name: str) -> str:
        for name, model in self.models.items():
            if model["displayName"] == display_name:
                return name
        name = f"{location}/models/{self._next_id()}"
        self.models[name] = {"name": name, "displayName": display_name}
        return name

    def add_service(self, name: str, revisions: dict[str, str], template: str, traffic: dict[str, int],
                    image: str = "europe-docker.pkg.dev/p/mlops/serving:1.4") -> None:
        """A service with revisions ``{revision: pinned version}``, its template revision and traffic."""
        for revision, version in revisions.items():
            self.revisions[f"{name}/revisions/{revision}"] = {"version": version}
        env = [{"name": "MLOPS_SERVING_PIN_VERSION", "value": revisions[template]}, {"name": "MLOPS_MODEL_NAME", "value": "penguin"}]
        self.services[name] = {
            "name": name,
            "etag": "etag-1",
            "template": {"revision": template, "containers": [{"image": image, "env": env}]},
            "traffic": [{"type": REVISION, "revision": r, "percent": p} for r, p in traffic.items()],
            "latestReadyRevision": f"{name}/revisions/{template}",
        }

    # -- what the tests read --------------------------------------------------------------

    def sent(self, method: str | None = None) -> list[dict[str, Any]]:
        """The requests received (without the reads, unless ``method`` is ``GET``)."""
        return [r for r in self.requests if (r["method"] == method if method else r["method"] != "GET")]

    def traffic_split(self, endpoint: str) -> dict[str, int]:
        return dict(self.endpoints[endpoint]["trafficSplit"])

    def deployed(self, endpoint: str) -> dict[str, str]:
        return {m["id"]: m["displayName"] for m in self.endpoints[endpoint]["deployedModels"]}

    def service_traffic(self, service: str) -> dict[str, int]:
        return {t["revision"]: t["percent"] for t in self.services[service]["traffic"]}

    # -- the APIs -------------------------------------------------------------------------

    def _next_id(self) -> str:
        self._ids += 1
        return str(self._ids)

    def handle(self, method: str, path: str, query: dict[str, Any], body: Any) -> dict[str, Any]:
        with self._lock:
            self.requests.append({"method": method, "path": path, "query": query, "body": body})
            for pattern, verb, action in ROUTES:
                match = re.fullmatch(pattern, path)
                if match and verb == method:
                    return action(self, query, body, *match.groups())
        raise Refused(404, "NOT_FOUND", f"no route for {method} {path}")

    def _endpoint(self, name: str) -> dict[str, Any]:
        if name not in self.endpoints:
            raise Refused(404, "NOT_FOUND", f"endpoint {name} not found")
        return self.endpoints[name]

    @staticmethod
    def _check_split(endpoint: dict[str, Any], split: dict[str, int]) -> dict[str, int]:
        split = {key: int(value) for key, value in split.items()}
        ids = {m["id"] for m in endpoint["deployedModels"]}
        unknown = set(split) - ids
        if unknown or sum(split.values()) != 100:
            raise Refused(400, "INVALID_ARGUMENT", f"bad traffic split {split} for deployed models {sorted(ids)}")
        return split

    def get_endpoint(self, query: dict, body: Any, name: str) -> dict[str, Any]:
        return self._endpoint(name)

    def update_endpoint(self, query: dict, body: Any, name: str) -> dict[str, Any]:
        endpoint = self._endpoint(name)
        if query.get("updateMask") != "trafficSplit":
            raise Refused(400, "INVALID_ARGUMENT", f"only trafficSplit is updated here, got {query.get('updateMask')}")
        endpoint["trafficSplit"] = self._check_split(endpoint, body.get("trafficSplit", {}))
        return endpoint

    def deploy_model(self, query: dict, body: Any, name: str) -> dict[str, Any]:
        endpoint = self._endpoint(name)
        model = body["deployedModel"]
        if model["model"] not in self.models:
            raise Refused(404, "NOT_FOUND", f"model {model['model']} not found")
        deployed_id = self._next_id()
        deployed = {**model, "id": deployed_id}
        endpoint["deployedModels"].append(deployed)
        split = {(deployed_id if key == "0" else key): value for key, value in body.get("trafficSplit", {"0": 100}).items()}
        endpoint["trafficSplit"] = self._check_split(endpoint, split)
        return self._done(name, VERTEX_TYPES + "DeployModelResponse", {"deployedModel": deployed})

    def undeploy_model(self, query: dict, body: Any, name: str) -> dict[str, Any]:
        endpoint = self._endpoint(name)
        deployed_id = body["deployedModelId"]
        if deployed_id not in {m["id"] for m in endpoint["deployedModels"]}:
            raise Refused(404, "NOT_FOUND", f"deployed model {deployed_id} not found")
        if endpoint["trafficSplit"].get(deployed_id, 0) > 0 and "trafficSplit" not in body:
            raise Refused(400, "FAILED_PRECONDITION", f"deployed model {deployed_id} still gets traffic")
        endpoint["deployedModels"] = [m for m in endpoint["deployedModels"] if m["id"] != deployed_id]
        endpoint["trafficSplit"].pop(deployed_id, None)
        return self._done(name, VERTEX_TYPES + "UndeployModelResponse", {})

    def list_models(self, query: dict, body: Any, parent: str) -> dict[str, Any]:
        wanted = re.fullmatch(r'display_name="(.*)"', query.get("filter", ""))
        models = [m for name, m in self.models.items()
                  if name.startswith(parent + "/") and (wanted is None or m["displayName"] == wanted.group(1))]
        return {"models": models}

    def upload_model(self, query: dict, body: Any, parent: str) -> dict[str, Any]:
        name = f"{parent}/models/{self._next_id()}"
        self.models[name] = {**body["model"], "name": name}
        return self._done(parent, VERTEX_TYPES + "UploadModelResponse", {"model": name})

    def get_service(self, query: dict, body: Any, name: str) -> dict[str, Any]:
        if name not in self.services:
            raise Refused(404, "NOT_FOUND", f"service {name} not found")
        return self.services[name]

    def update_service(self, query: dict, body: Any, name: str) -> dict[str, Any]:
        current = self.get_service(query, None, name)
        if body.get("etag") != current["etag"]:
            raise Refused(409, "ABORTED", f"etag {body.get('etag')} is not {current['etag']}")
        template = body["template"]
        revision = f"{name}/revisions/{template['revision']}"
        if revision not in self.revisions:
            env = {e["name"]: e.get("value") for e in template["containers"][0].get("env", [])}
            self.revisions[revision] = {"version": env.get("MLOPS_SERVING_PIN_VERSION")}
        elif template != current["template"]:
            raise Refused(409, "ALREADY_EXISTS", f"revision {template['revision']} exists with another template")
        traffic = body.get("traffic", [])
        targets = {t.get("revision") for t in traffic}
        if sum(int(t.get("percent", 0)) for t in traffic) != 100 or not all(
                f"{name}/revisions/{r}" in self.revisions for r in targets):
            raise Refused(400, "INVALID_ARGUMENT", f"bad traffic {traffic}")
        etag = f"etag-{int(current['etag'].split('-')[1]) + 1}"
        self.services[name] = {**body, "etag": etag, "latestReadyRevision": revision}
        return self._done(name, RUN_SERVICE_TYPE, self.services[name])

    def _done(self, resource: str, kind: str, response: dict[str, Any]) -> dict[str, Any]:
        return {"name": f"{resource}/operations/{self._next_id()}", "done": True, "response": {"@type": kind, **response}}


V1 = r"/v1/(projects/[^/]+/locations/[^/]+/endpoints/[^/:]+)"
MODELS = r"/v1/(projects/[^/]+/locations/[^/]+)/models"
SERVICE = r"/v2/(projects/[^/]+/locations/[^/]+/services/[^/:]+)"
ROUTES = [
    (V1, "GET", FakeGoogle.get_endpoint),
    (V1, "PATCH", FakeGoogle.update_endpoint),
    (V1 + ":deployModel", "POST", FakeGoogle.deploy_model),
    (V1 + ":undeployModel", "POST", FakeGoogle.undeploy_model),
    (MODELS, "GET", FakeGoogle.list_models),
    (MODELS + ":upload", "POST", FakeGoogle.upload_model),
    (SERVICE, "GET", FakeGoogle.get_service),
    (SERVICE, "PATCH", FakeGoogle.update_service),
]


def _handler(fake: FakeGoogle) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            url = urlsplit(self.path)
            query = {key: values[0] for key, values in parse_qs(url.query).items() if key != "$alt"}
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            try:
                code, answer = 200, fake.handle(self.command, url.path, query, body)
            except Refused as exc:
                code, answer = exc.code, {"error": {"code": exc.code, "status": exc.status, "message": exc.message}}
            data = json.dumps(answer).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = _serve

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            pass

    return Handler


@contextmanager
def serve() -> Iterator[FakeGoogle]:
    fake = FakeGoogle()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def route_google_clients(monkeypatch: pytest.MonkeyPatch, fake: FakeGoogle) -> None:
    """Make the Google provider's Vertex AI and Cloud Run hooks talk REST to ``fake`` with anonymous credentials."""
    from airflow.providers.google.cloud.hooks import cloud_run
    from airflow.providers.google.cloud.hooks.vertex_ai import endpoint_service, model_service
    from airflow.providers.google.common.hooks.base_google import GoogleBaseHook
    from google.auth.credentials import AnonymousCredentials

    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", '{"conn_type": "google_cloud_platform", "extra": {"project": "p"}}')
    monkeypatch.setattr(GoogleBaseHook, "get_credentials", lambda self: AnonymousCredentials())

    def rest(client_class: type) -> Any:
        def build(*, credentials: Any = None, client_info: Any = None, client_options: Any = None) -> Any:
            fake.hook_endpoints.append(getattr(client_options, "api_endpoint", None))
            return client_class(credentials=credentials, client_info=client_info, transport="rest",
                                client_options={"api_endpoint": fake.url})
        return build

    for module, name in ((endpoint_service, "EndpointServiceClient"), (model_service, "ModelServiceClient"),
                         (cloud_run, "ServicesClient")):
        monkeypatch.setattr(module, name, rest(getattr(module, name)))
