"""The whole local cloud on 127.0.0.1, for `make demo-cloud` and the test of a whole run.

- GCS: the gcp-storage-emulator, with a bucket holding the artifact root, the landing prefix and
  the curated schema;
- Kubernetes: :class:`~local_cloud.kubernetes_api.FakeKubernetes`, reached through a kubeconfig
  in an Airflow connection of type ``kubernetes``;
- Vertex AI: :class:`~local_cloud.vertex_api.FakeVertex`, with credentials from an Airflow
  connection of type ``google_cloud_platform`` whose service-account key is exchanged for tokens
  at :class:`~local_cloud.google_auth.FakeTokenServer`;
- MLflow: a real ``mlflow server`` (the runtime environment's), as a team runs one for Composer.

Pods and jobs run the component command line as processes of the runtime environment
(:class:`~local_cloud.containers.ContainerRunner`), each in an empty working directory.
:func:`cloud_pipeline` writes the pipeline YAML variant that runs there.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local_cloud.containers import ContainerRunner
from local_cloud.google_auth import PROJECT, FakeTokenServer, serve_tokens
from local_cloud.kubernetes_api import FakeKubernetes, serve_kubernetes
from local_cloud.vertex_api import FakeVertex, serve_vertex

IMAGE = "europe-docker.pkg.dev/local-project/mlops/runtime:dev"
REGION = "europe-west4"
NAMESPACE = "mlops"
KUBERNETES_CONN_ID = "local_cloud_k8s"
GOOGLE_CONN_ID = "google_cloud_default"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, proc: subprocess.Popen, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout} s")


@contextmanager
def _process(command: list[str], port: int, what: str, log: Path, env: dict[str, str] | None = None) -> Iterator[None]:
    with log.open("w") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        try:
            _wait_for_port(port, proc, what)
            yield
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@dataclass
class LocalCloud:
    work: Path
    bucket: str
    gcs_url: str
    mlflow_url: str
    runner: ContainerRunner
    kubernetes: FakeKubernetes
    vertex: FakeVertex
    tokens: FakeTokenServer
    kubeconfig: Path

    @property
    def artifact_root(self) -> str:
        return f"gs://{self.bucket}/mlops"

    def env(self) -> dict[str, str]:
        """What Airflow (the worker and the triggerer) needs to reach this cloud."""
        return {
            "STORAGE_EMULATOR_HOST": self.gcs_url,
            "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false",
            f"AIRFLOW_CONN_{KUBERNETES_CONN_ID.upper()}": json.dumps(
                {"conn_type": "kubernetes", "extra": {"kube_config_path": str(self.kubeconfig)}}),
            f"AIRFLOW_CONN_{GOOGLE_CONN_ID.upper()}": json.dumps(self.tokens.connection()),
        }

    def upload(self, local: Path, key: str) -> str:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        client = storage.Client(project=PROJECT, credentials=AnonymousCredentials())
        client.bucket(self.bucket).blob(key).upload_from_filename(str(local))
        return f"gs://{self.bucket}/{key}"

    def requests_sent(self) -> list[dict[str, Any]]:
        """Each pod and CustomJob asked for, in order: what was requested of the machine."""
        sent = []
        for request in self.kubernetes.requests:
            if request["method"] == "POST" and request["path"].endswith("/pods"):
                container = request["body"]["spec"]["containers"][0]
                sent.append({
                    "kind": "pod", "name": request["body"]["metadata"]["name"], "image": container["image"],
                    "command": [*container.get("command", []), *container.get("args", [])],
                    "resources": container.get("resources", {}), "node_selector": request["body"]["spec"].get("nodeSelector"),
                })
        from google.cloud.aiplatform_v1 import AcceleratorType

        for request in self.vertex.requests:
            if request["method"] == "POST" and request["path"].endswith("/customJobs"):
                pool = request["body"]["jobSpec"]["workerPoolSpecs"][0]
                machine = dict(pool["machineSpec"])
                if isinstance(machine.get("acceleratorType"), int):  # the REST client sends enums as numbers
                    machine["acceleratorType"] = AcceleratorType(machine["acceleratorType"]).name
                spec = pool["containerSpec"]
                sent.append({
                    "kind": "vertex_custom_job", "name": request["body"]["displayName"], "image": spec["imageUri"],
                    "command": [*spec.get("command", []), *spec.get("args", [])], "machine_spec": machine,
                    "scheduling": request["body"]["jobSpec"].get("scheduling"),
                })
        return sent


@contextmanager
def local_cloud(work: Path, runtime_python: str, bucket: str = "mlops-local-cloud") -> Iterator[LocalCloud]:
    """Start everything; os.environ gets the GCS emulator's address (the containers inherit it)."""
    work.mkdir(parents=True, exist_ok=True)
    gcs_port, mlflow_port = free_port(), free_port()
    gcs_url = f"http://127.0.0.1:{gcs_port}"
    emulator = shutil.which("gcp-storage-emulator", path=str(Path(sys.executable).parent))
    if emulator is None:
        raise RuntimeError("gcp-storage-emulator is not installed in this environment (dev extra)")
    saved = {k: os.environ.get(k) for k in ("STORAGE_EMULATOR_HOST", "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT")}
    os.environ.update(STORAGE_EMULATOR_HOST=gcs_url, GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT="false")
    try:
        with ExitStack() as stack:
            stack.enter_context(_process([emulator, "start", "--host", "127.0.0.1", "--port", str(gcs_port), "--in-memory"],
                                         gcs_port, "the GCS emulator", work / "gcs-emulator.log"))
            from google.auth.credentials import AnonymousCredentials
            from google.cloud import storage

            storage.Client(project=PROJECT, credentials=AnonymousCredentials()).create_bucket(bucket)
            mlflow = str(Path(runtime_python).parent / "mlflow")
            stack.enter_context(_process(
                [mlflow, "server", "--host", "127.0.0.1", "--port", str(mlflow_port), "--workers", "1",
                 "--backend-store-uri", f"sqlite:///{work}/mlflow.db", "--default-artifact-root", f"gs://{bucket}/mlflow",
                 "--no-serve-artifacts"],
                mlflow_port, "the MLflow server", work / "mlflow-server.log", env={**os.environ}))
            tokens = stack.enter_context(serve_tokens())
            runner = ContainerRunner(runtime_python, [IMAGE], base_env=None, workdir_root=work / "containers")
            stack.callback(runner.stop_all)
            kubernetes = stack.enter_context(serve_kubernetes(runner))
            vertex = stack.enter_context(serve_vertex(runner))
            kubeconfig = kubernetes.write_kubeconfig(work / "kubeconfig.yaml")
            yield LocalCloud(work, bucket, gcs_url, f"http://127.0.0.1:{mlflow_port}", runner, kubernetes, vertex, tokens,
                             kubeconfig)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def cloud_pipeline(cloud: LocalCloud, source: Path, include_dir: Path, *, gpus: int = 1, name: str | None = None) -> Path:
    """``source`` (a pipeline YAML) rewritten for the local cloud, as ``<include_dir>/<pipeline>/pipeline.yaml``.

    What changes: the artifact root, the landing prefix (in ``data.source`` and
    ``monitoring.landing``) and the curated schema move to the bucket; the registry is the
    MLflow server; ``runtime`` sends every step to a pod and train to a Vertex AI job with
    ``gpus`` T4s. Everything else is ``source``'s, but for the name when ``name`` is given (the
    pipeline and its registered model).
    """
    import yaml

    data = yaml.safe_load(source.read_text())
    source_name = data["pipeline"]
    if name:
        data["pipeline"] = name
        data.setdefault("registry", {})["model_name"] = name
    name = data["pipeline"]
    landing = f"gs://{cloud.bucket}/landing/{name}"
    schema_path = source.parent.parent.parent / (data.get("validation", {}).get("schema") or f"include/{source_name}/schema.pbtxt")
    data["artifact_root"] = cloud.artifact_root
    sources = data["data"]["source"] if isinstance(data["data"]["source"], list) else [data["data"]["source"]]
    data["data"]["source"] = [s for s in sources if s.startswith("package://")] + [landing]
    data.setdefault("monitoring", {})["landing"] = landing
    data.setdefault("validation", {})["schema"] = cloud.upload(schema_path, f"include/{name}/schema.pbtxt")
    data.setdefault("registry", {})["tracking_uri"] = cloud.mlflow_url
    data.setdefault("training", {})["gpus"] = gpus
    data["runtime"] = {
        **data.get("runtime", {}),
        "launcher": "kubernetes",
        "image": IMAGE,
        "poll_seconds": 1,
        "kubernetes": {"namespace": NAMESPACE, "conn_id": KUBERNETES_CONN_ID, "service_account": "mlops-runtime",
                       "cpu": "1", "memory": "4Gi"},
        "vertex": {"project": PROJECT, "region": REGION, "machine_type": "n1-standard-8", "accelerator": "nvidia-tesla-t4",
                   "api_endpoint": cloud.vertex.url},
        "steps": {"train": {"launcher": "vertex"}},
    }
    target = include_dir / name / "pipeline.yaml"
    target.parent.mkdir(parents=True, exist_ok=True)
    header = f"# {source} for the local cloud (local_cloud/stack.py): gs:// artifacts, pods and a Vertex AI job.\n"
    target.write_text(header + yaml.safe_dump(data, sort_keys=False))
    return target
