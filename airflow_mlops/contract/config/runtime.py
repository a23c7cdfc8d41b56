"""YAML ``runtime:``: where each step runs - a local subprocess, a Kubernetes pod, a Vertex AI job.

``runtime.launcher`` is every step's launcher; ``runtime.steps.<step>`` changes it, and the
resources, for one step (e.g. train on Vertex AI with a GPU, the rest as pods). What a step is
launched with is :meth:`RuntimeSettings.for_step`, a :class:`StepLaunch`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from airflow_mlops.contract.typed import Record, option

LAUNCHERS = ("local", "kubernetes", "vertex")
REMOTE_LAUNCHERS = ("kubernetes", "vertex")
#: the component tasks of the training, monitoring, deployment and batch-prediction DAGs, by task id
STEPS = (
    "ingest", "validate", "transform", "tune", "train", "evaluate", "register", "infra_validate", "deploy",
    "monitor", "ingest_batch", "canary_analysis", "rollback", "check_batch", "predict_batch",
)
#: GPU label of a GKE node pool (``cloud.google.com/gke-accelerator``), e.g. ``nvidia-tesla-t4``
ACCELERATOR = re.compile(r"^nvidia-[a-z0-9-]+$")
#: Kubernetes quantities: ``500m``, ``2``, ``4Gi``, ``512Mi``
QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")


def vertex_accelerator_type(accelerator: str) -> str:
    """The Vertex AI ``AcceleratorType`` of a GKE accelerator label (``nvidia-tesla-t4`` -> ``NVIDIA_TESLA_T4``)."""
    return accelerator.upper().replace("-", "_")


def _quantity(value: str) -> list[str]:
    return [] if QUANTITY.match(value) else [f"not a Kubernetes quantity like 500m, 2, 4Gi (got {value!r})"]


def _accelerator(value: str) -> list[str]:
    return [] if ACCELERATOR.match(value) else [f"a GKE accelerator like nvidia-tesla-t4 or nvidia-l4 (got {value!r})"]


def _tolerations(value: tuple[dict[str, Any], ...]) -> list[str]:
    allowed = {"key", "operator", "value", "effect", "tolerationSeconds"}
    return [f"{i}: unknown fields {sorted(set(t) - allowed)} (allowed: {', '.join(sorted(allowed))})"
            for i, t in enumerate(value) if set(t) - allowed]


@dataclass(frozen=True, kw_only=True)
class KubernetesSettings(Record):
    """``runtime.kubernetes``: the pods of steps with launcher ``kubernetes``."""

    namespace: str = option("composer-user-workloads", "namespace of the step pods (Composer 3 runs user pods there, without GPUs: GPU steps need a GKE cluster of your own)")
    conn_id: str = option("kubernetes_default", "Airflow connection of type kubernetes: in-cluster, a kubeconfig, or your GKE cluster's")
    service_account: str | None = option(None, "Kubernetes service account of the pods (bound to a Google service account by Workload Identity)")
    image_pull_policy: str = option("IfNotPresent", "when the node pulls the runtime image", choices=PULL_POLICIES)
    cpu: str = option("1", "CPU request of a pod", check=_quantity)
    memory: str = option("4Gi", "memory request and limit of a pod", check=_quantity)
    accelerator: str = option("nvidia-tesla-t4", "GPU of GPU steps: node selector cloud.google.com/gke-accelerator", check=_accelerator)
    node_selector: dict[str, str] = option(doc="more node labels every pod must match", factory=dict)
    tolerations: tuple[dict[str, Any], ...] = option((), "tolerations of every pod (GPU pods also tolerate nvidia.com/gpu)", check=_tolerations)
    startup_timeout_seconds: int = option(600, "a pod still not running after this (no node, image pull error) fails the try", gt=0)


@dataclass(frozen=True, kw_only=True)
class VertexSettings(Record):
    """``runtime.vertex``: the custom jobs of steps with launcher ``vertex``."""

    project: str | None = option(None, "Google Cloud project of the jobs (required for launcher vertex)")
    region: str | None = option(None, "Vertex AI region, e.g. europe-west4 (required for launcher vertex)")
    machine_type: str = option("n1-standard-4", "machine type of the job's worker")
    accelerator: str = option("nvidia-tesla-t4", "GPU of GPU steps (as on GKE; NVIDIA_TESLA_T4 for Vertex AI)", check=_accelerator)
    service_account: str | None = option(None, "Google service account the job runs as")
    spot: bool = option(False, "run on Spot VMs (cheaper, may be preempted)")
    restart_on_preemption: bool = option(True, "restart the job on a new VM when its VM is preempted")
    api_endpoint: str | None = option(None, "Vertex AI API endpoint (default <region>-aiplatform.googleapis.com)")


@dataclass(frozen=True, kw_only=True)
class StepSettings(Record):
    """``runtime.steps.<step>``: one step's launcher and resources, over ``runtime``'s."""

    launcher: str | None = option(None, "this step's launcher", choices=LAUNCHERS)
    cpu: str | None = option(None, "kubernetes: CPU request", check=_quantity)
    memory: str | None = option(None, "kubernetes: memory request and limit", check=_quantity)
    machine_type: str | None = option(None, "vertex: machine type")
    accelerator: str | None = option(None, "the GPU type (kubernetes and vertex)", check=_accelerator)
    spot: bool | None = option(None, "vertex: Spot VMs")


@dataclass(frozen=True)
class StepLaunch:
    """How one step is launched: its launcher, that launcher's settings and its GPUs."""

    launcher: str
    gpus: int = 0
    kubernetes: KubernetesSettings = field(default_factory=KubernetesSettings)
    vertex: VertexSettings = field(default_factory=VertexSettings)

    @property
    def remote(self) -> bool:
        return self.launcher in REMOTE_LAUNCHERS


def _known_steps(value: dict[str, Any]) -> list[str]:
    return [f"{step}: not a step (steps: {', '.join(STEPS)})" for step in value if step not in STEPS]


@dataclass(frozen=True, kw_only=True)
class RuntimeSettings(Record):
    """How components are launched (YAML ``runtime:``)."""

    launcher: str = option("local", "where steps run: local (a subprocess in the runtime environment), kubernetes (a pod), vertex (a Vertex AI custom job)", choices=LAUNCHERS)
    image: str | None = option(None, "the runtime image for kubernetes and vertex (Artifact Registry; $MLOPS_RUNTIME_IMAGE or [mlops] runtime_image win)")
    deferrable: bool = option(True, "a remote step frees its worker slot while it runs; the triggerer watches it")
    poll_seconds: float = option(10.0, "how often a remote step's state is looked at", gt=0)
    timeout_minutes: int = option(60, "a component still running after this is killed (and retried)", gt=0)
    retries: int = option(2, "Airflow retries for infrastructure failures (data errors are never retried)", ge=0)
    retry_delay_seconds: int = option(60, "wait before a retry", ge=0)
    kubernetes: KubernetesSettings = option(doc="pods", factory=KubernetesSettings)
    vertex: VertexSettings = option(doc="Vertex AI custom jobs", factory=VertexSettings)
    steps: dict[str, StepSettings] = option(doc="per step (e.g. train: {launcher: vertex}): launcher, cpu, memory, machine_type, accelerator, spot",
                                            factory=dict, check=_known_steps)

    def for_step(self, step: str, gpus: int = 0) -> StepLaunch:
        """The launcher and settings of ``step`` (a task id), ``runtime.steps.<step>`` applied."""
        own = self.steps.get(step) or StepSettings()
        k8s_overrides: dict[str, Any] = {"cpu": own.cpu, "memory": own.memory, "accelerator": own.accelerator}
        vertex_overrides: dict[str, Any] = {"machine_type": own.machine_type, "accelerator": own.accelerator, "spot": own.spot}
        kubernetes = replace(self.kubernetes, **{k: v for k, v in k8s_overrides.items() if v is not None})
        vertex = replace(self.vertex, **{k: v for k, v in vertex_overrides.items() if v is not None})
        return StepLaunch(own.launcher or self.launcher, gpus, kubernetes, vertex)

    def launchers_used(self) -> dict[str, str]:
        """``{step: launcher}`` of every step."""
        return {step: self.for_step(step).launcher for step in STEPS}


def is_on_this_machine(uri: str) -> bool:
    """A path or ``file://`` URI: what a pod or a Vertex AI job cannot read (``package://`` data
    ships in the runtime image)."""
    return "://" not in uri or uri.startswith("file://")


def runtime_problems(runtime: RuntimeSettings, *, image: str | None, artifact_root: str, tracking_uri: str | None,
                     registry_steps: tuple[str, ...], gpus: dict[str, int],
                     step_inputs: dict[str, list[tuple[str, str]]] | None = None) -> list[str]:
    """Combinations that cannot work, with their field paths (the launchers as the machine resolves them:
    ``image``, ``artifact_root`` and ``tracking_uri`` after machine-level overrides; ``tracking_uri``
    ``None`` when it comes from an Airflow connection at run time). ``step_inputs``: the locations
    each step reads, ``{step: [(field path, uri)]}``, which a remote step cannot read from this machine."""
    problems: list[str] = []
    used = runtime.launchers_used()

    def where(launchers: tuple[str, ...]) -> str:
        steps = [s for s, name in used.items() if name in launchers]
        if runtime.launcher in launchers:
            return "runtime.launcher"
        return ", ".join(f"runtime.steps.{s}.launcher" for s in steps)

    remote = [s for s, name in used.items() if name in REMOTE_LAUNCHERS]
    if not remote:
        return problems
    for step, count in gpus.items():
        settings = runtime.for_step(step)
        if count and settings.launcher == "kubernetes" and settings.kubernetes.namespace == "composer-user-workloads":
            problems.append(f"runtime.steps.{step}.launcher: {step} asks for {count} GPU(s), and Composer runs pods in "
                            "composer-user-workloads without GPUs; set runtime.kubernetes.conn_id and namespace to a "
                            f"GKE cluster with a GPU node pool, or run {step} on vertex")
    if not image:
        problems.append(f"runtime.image: required when steps run remotely ({where(REMOTE_LAUNCHERS)}); "
                        "or set $MLOPS_RUNTIME_IMAGE / [mlops] runtime_image")
    if any(used[s] == "vertex" for s in STEPS):
        for key in ("project", "region"):
            if not getattr(runtime.vertex, key):
                problems.append(f"runtime.vertex.{key}: required when steps run on Vertex AI ({where(('vertex',))})")
    for step, inputs in (step_inputs or {}).items():
        if used.get(step) in REMOTE_LAUNCHERS:
            problems += [f"{path}: {uri} is on this machine, which {step} on {used[step]} cannot read; put it in a "
                         "gs:// bucket" for path, uri in inputs if is_on_this_machine(uri)]
    if not artifact_root.startswith(("gs://", "gcs://")):
        problems.append(f"artifact_root: {artifact_root} is on this machine, which pods and Vertex AI jobs cannot "
                        f"read ({where(REMOTE_LAUNCHERS)}); use a gs:// bucket")
    if tracking_uri is not None and not tracking_uri.startswith(("http://", "https://", "databricks")):
        reaching = [s for s in remote if s in registry_steps]
        if reaching:
            problems.append(f"registry.tracking_uri: {tracking_uri} is on this machine, which remote steps cannot "
                            f"reach ({', '.join(reaching)}); use an MLflow server (registry.mlflow_conn_id or an "
                            "http(s) tracking_uri), or run these steps with launcher local")
    return problems
