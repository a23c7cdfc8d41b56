"""The ``kubernetes`` launcher: the component in a pod of the runtime image.

The pod is built with the Kubernetes client's models and run through the cncf-kubernetes
provider's :class:`KubernetesHook` (its connection: in-cluster, a kubeconfig, a GKE cluster).
GPU steps get ``nvidia.com/gpu`` limits, the GKE accelerator node selector and the GPU
toleration. How a pod ended is read from its status (:func:`pod_state`): OOMKilled, evicted,
preempted node, image pull errors become infrastructure failures that say which.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow_mlops.contract import RemoteJob
from airflow_mlops.provider.launchers.base import JobState, LaunchRequest, RemoteLauncher, component_command

if TYPE_CHECKING:
    from kubernetes.client import CoreV1Api, V1Pod

CONTAINER = "component"
GPU_RESOURCE = "nvidia.com/gpu"
GKE_ACCELERATOR_LABEL = "cloud.google.com/gke-accelerator"
#: the runtime image's user (docker/runtime.Dockerfile)
RUNTIME_UID = 10001
#: waiting reasons after which a pod never starts by itself
STUCK = {
    "ErrImagePull": "the runtime image could not be pulled",
    "ImagePullBackOff": "the runtime image could not be pulled",
    "InvalidImageName": "the runtime image name is invalid",
    "CreateContainerConfigError": "the container could not be configured (a missing secret or config map?)",
    "CreateContainerError": "the container could not be created",
}


def label_value(value: str) -> str:
    """A Kubernetes label value: at most 63 of ``[A-Za-z0-9-_.]``, alphanumeric at both ends."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", value).strip("-_.")
    if len(cleaned) > 63:
        cleaned = cleaned[:54].rstrip("-_.") + "-" + hashlib.sha1(value.encode()).hexdigest()[:8]
    return cleaned


def pod_name(component: str, spec_uri: str) -> str:
    """``mlops-<component>-<hash of the spec URI>``: one name per invocation, DNS-1123."""
    digest = hashlib.sha1(spec_uri.encode()).hexdigest()[:10]
    return f"mlops-{re.sub(r'[^a-z0-9-]+', '-', component.lower()).strip('-')[:40]}-{digest}"


class KubernetesLauncher(RemoteLauncher):
    """Run the component in a pod.

    :param image: the runtime image.
    :param namespace: where the pod is created.
    :param conn_id: the Airflow connection of type ``kubernetes``.
    :param service_account: the pod's service account (Workload Identity).
    :param image_pull_policy: ``Always``, ``IfNotPresent`` or ``Never``.
    :param cpu: CPU request.
    :param memory: memory request and limit.
    :param gpus: GPUs (``nvidia.com/gpu`` limit); 0 for a CPU step.
    :param accelerator: the GKE accelerator of GPU nodes (``nvidia-tesla-t4``).
    :param node_selector: more node labels.
    :param tolerations: the pod's tolerations.
    :param env: extra environment variables.
    :param startup_timeout_seconds: a pod not running after this fails.
    :param poll_seconds: how often the pod is looked at.
    """

    name = "kubernetes"

    def __init__(
        self,
        *,
        image: str,
        namespace: str = "default",
        conn_id: str = "kubernetes_default",
        service_account: str | None = None,
        image_pull_policy: str = "IfNotPresent",
        cpu: str = "1",
        memory: str = "4Gi",
        gpus: int = 0,
        accelerator: str = "nvidia-tesla-t4",
        node_selector: Mapping[str, str] | None = None,
        tolerations: Sequence[Mapping[str, Any]] = (),
        env: Mapping[str, str] | None = None,
        startup_timeout_seconds: int = 600,
        poll_seconds: float = 10.0,
    ) -> None:
        super().__init__(
            poll_seconds=poll_seconds, image=image, namespace=namespace, conn_id=conn_id, service_account=service_account,
            image_pull_policy=image_pull_policy, cpu=cpu, memory=memory, gpus=gpus, accelerator=accelerator,
            node_selector=dict(node_selector or {}), tolerations=[dict(t) for t in tolerations], env=dict(env or {}),
            startup_timeout_seconds=startup_timeout_seconds,
        )
        self.image, self.namespace, self.conn_id = image, namespace, conn_id
        self.service_account, self.image_pull_policy = service_account, image_pull_policy
        self.cpu, self.memory, self.gpus, self.accelerator = cpu, memory, gpus, accelerator
        self.node_selector = dict(node_selector or {})
        self.tolerations = [dict(t) for t in tolerations]
        self.env = dict(env or {})
        self.startup_timeout_seconds = startup_timeout_seconds

    # -- the pod -------------------------------------------------------------------------------

    def pod(self, request: LaunchRequest, labels: Mapping[str, str]) -> V1Pod:
        """The pod that runs ``request``."""
        from kubernetes.client import models as k8s

        env = {**self.env, **request.env, "MLOPS_RUNTIME_IMAGE": self.image, "PYTHONUNBUFFERED": "1"}
        limits = {"memory": self.memory}
        node_selector = dict(self.node_selector)
        tolerations = [k8s.V1Toleration(**_snake(t)) for t in self.tolerations]
        if self.gpus:
            limits[GPU_RESOURCE] = str(self.gpus)
            node_selector[GKE_ACCELERATOR_LABEL] = self.accelerator
            tolerations.append(k8s.V1Toleration(key=GPU_RESOURCE, operator="Exists", effect="NoSchedule"))
        command = component_command("python", request.component, request.spec_uri)
        return k8s.V1Pod(
            api_version="v1",
            kind="Pod",
            metadata=k8s.V1ObjectMeta(
                name=pod_name(request.component, request.spec_uri),
                namespace=self.namespace,
                labels={"app.kubernetes.io/managed-by": "airflow-mlops", "mlops/component": label_value(request.component),
                        **{k: label_value(v) for k, v in labels.items()}},
                annotations={"mlops/spec-uri": request.spec_uri},
            ),
            spec=k8s.V1PodSpec(
                restart_policy="Never",
                service_account_name=self.service_account,
                node_selector=node_selector or None,
                tolerations=tolerations or None,
                security_context=k8s.V1PodSecurityContext(run_as_non_root=True, run_as_user=RUNTIME_UID, fs_group=RUNTIME_UID),
                containers=[
                    k8s.V1Container(
                        name=CONTAINER,
                        image=self.image,
                        image_pull_policy=self.image_pull_policy,
                        command=command[:3],
                        args=command[3:],
                        env=[k8s.V1EnvVar(name=k, value=v) for k, v in sorted(env.items())],
                        resources=k8s.V1ResourceRequirements(requests={"cpu": self.cpu, "memory": self.memory}, limits=limits),
                    )
                ],
            ),
        )

    def client(self) -> CoreV1Api:
        from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook

        return KubernetesHook(conn_id=self.conn_id).core_v1_client

    # -- RemoteLauncher ------------------------------------------------------------------------

    def submit(self, request: LaunchRequest, labels: Mapping[str, str]) -> RemoteJob:
        from kubernetes.client.exceptions import ApiException

        pod = self.pod(request, labels)
        client = self.client()
        name = pod.metadata.name
        try:
            client.create_namespaced_pod(self.namespace, pod)
        except ApiException as exc:
            if exc.status != 409:
                raise
            # a pod of this invocation is left from a try that was interrupted: start afresh
            client.delete_namespaced_pod(name, self.namespace, grace_period_seconds=0)
            client.create_namespaced_pod(self.namespace, pod)
        details = {"namespace": self.namespace, "image": self.image, "cpu": self.cpu, "memory": self.memory, "gpus": self.gpus}
        if self.gpus:
            details["accelerator"] = self.accelerator
        self._job = RemoteJob(kind="kubernetes_pod", name=f"{self.namespace}/{name}", details=details)
        return self._job

    def status(self, job: RemoteJob) -> JobState:
        from kubernetes.client.exceptions import ApiException

        namespace, name = job.name.split("/", 1)
        try:
            pod = self.client().read_namespaced_pod(name, namespace)
        except ApiException as exc:
            if exc.status == 404:
                return JobState("failed", "Deleted", f"pod {job.name} was deleted before it finished")
            raise
        return pod_state(pod, self.startup_timeout_seconds)

    def cancel_job(self, job: RemoteJob) -> None:
        from kubernetes.client.exceptions import ApiException

        namespace, name = job.name.split("/", 1)
        try:
            self.client().delete_namespaced_pod(name, namespace, grace_period_seconds=10)
        except ApiException as exc:
            if exc.status != 404:
                raise

    def logs(self, job: RemoteJob) -> list[str]:
        from kubernetes.client.exceptions import ApiException

        namespace, name = job.name.split("/", 1)
        try:
            # the raw response: the client's own decoding turns text/plain into "b'...'"
            response = self.client().read_namespaced_pod_log(name, namespace, container=CONTAINER, _preload_content=False)
        except ApiException as exc:
            return [f"(the pod's log could not be read: {exc.status} {exc.reason})"]
        return response.data.decode("utf-8", errors="replace").splitlines()

    def finish(self, job: RemoteJob) -> None:
        self.cancel_job(job)  # the pod has ended: deleting it frees its record


def pod_state(pod: V1Pod, startup_timeout_seconds: float, now: datetime | None = None) -> JobState:
    """How the pod is doing, and if it failed, why, in words people act on."""
    status = pod.status
    phase = (status.phase if status else None) or "Pending"
    container = next((c for c in (status.container_statuses or []) if c.name == CONTAINER), None) if status else None
    terminated = container.state.terminated if container and container.state else None
    exit_code = terminated.exit_code if terminated else None
    if phase == "Succeeded":
        return JobState("succeeded", exit_code=exit_code or 0)
    if phase == "Failed":
        conditions = {c.type: c for c in (status.conditions or [])}
        if status.reason == "Evicted":
            return JobState("failed", "Evicted", f"the pod was evicted: {status.message}", exit_code)
        if "DisruptionTarget" in conditions or status.reason in ("Terminated", "Shutdown", "NodeShutdown", "Preempted"):
            why = status.message or (conditions["DisruptionTarget"].message if "DisruptionTarget" in conditions else "")
            return JobState("failed", "Preempted", f"the pod's node was preempted or shut down: {why}".rstrip(": "), exit_code)
        if terminated and terminated.reason == "OOMKilled":
            limit = _memory_limit(pod)
            return JobState("failed", "OOMKilled", f"the component ran out of memory (OOMKilled, limit {limit}); "
                            "raise runtime.kubernetes.memory or the step's memory", exit_code)
        detail = (terminated.message or terminated.reason) if terminated else (status.message or status.reason or "")
        return JobState("failed", "Error", f"the pod failed with exit code {exit_code}: {detail}".rstrip(": "), exit_code)
    waiting = container.state.waiting if container and container.state else None
    if waiting and waiting.reason in STUCK:
        return JobState("failed", waiting.reason, f"{STUCK[waiting.reason]} ({waiting.reason}: {waiting.message or ''})".replace(": )", ")"))
    if phase == "Pending":
        started = status.start_time if status and status.start_time else pod.metadata.creation_timestamp
        now = now or datetime.now(UTC)
        if started is not None and (now - started).total_seconds() > startup_timeout_seconds:
            scheduled = next((c for c in (status.conditions or []) if c.type == "PodScheduled"), None) if status else None
            why = scheduled.message if scheduled is not None and scheduled.status != "True" else (waiting.reason if waiting else "")
            return JobState("failed", "StartupTimeout", f"the pod did not start within {startup_timeout_seconds:g} s: {why}".rstrip(": "))
        return JobState("pending")
    return JobState("running")


def _memory_limit(pod: V1Pod) -> str:
    for container in pod.spec.containers if pod.spec else []:
        if container.name == CONTAINER and container.resources and container.resources.limits:
            return str(container.resources.limits.get("memory", "?"))
    return "?"


def _snake(toleration: Mapping[str, Any]) -> dict[str, Any]:
    return {re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), k): v for k, v in toleration.items()}
