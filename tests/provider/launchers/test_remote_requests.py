"""The exact pod and CustomJob each remote launcher asks for: a GPU step (train) and a CPU step."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from kubernetes.client import ApiClient
from kubernetes.client import models as k8s

from airflow_mlops.provider.launchers import KubernetesLauncher, LaunchRequest, VertexLauncher, launcher_for
from airflow_mlops.provider.launchers.kubernetes import pod_name, pod_state
from airflow_mlops.provider.launchers.vertex import console_url

SPEC = "gs://bucket/mlops/penguin/_invocations/penguin_training/manual_1/train/try-1/spec.json"
IMAGE = "europe-docker.pkg.dev/proj/mlops/runtime:3f2a1c"
LABELS = {"airflow-dag-id": "penguin_training", "airflow-task-id": "train", "airflow-run-id": "manual__2026-11-24T06:00:00+00:00",
          "airflow-try-number": "1"}
COMMAND = ["python", "-m", "airflow_mlops.runtime.components"]


def _k8s(gpus: int) -> KubernetesLauncher:
    return KubernetesLauncher(image=IMAGE, namespace="ml", service_account="mlops-runtime", cpu="4", memory="16Gi", gpus=gpus,
                              accelerator="nvidia-tesla-t4", node_selector={"pool": "ml"},
                              tolerations=[{"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"}],
                              env={"MLFLOW_TRACKING_URI": "http://mlflow:5000"})


def _pod_json(launcher: KubernetesLauncher, component: str) -> dict:
    return ApiClient().sanitize_for_serialization(launcher.pod(LaunchRequest(component, SPEC, env={"A": "1"}), LABELS))


def test_the_pod_of_a_gpu_step():
    pod = _pod_json(_k8s(gpus=1), "train")
    assert pod["metadata"] == {
        "name": pod_name("train", SPEC),
        "namespace": "ml",
        "labels": {"app.kubernetes.io/managed-by": "airflow-mlops", "mlops/component": "train",
                   "airflow-dag-id": "penguin_training", "airflow-task-id": "train",
                   "airflow-run-id": "manual__2026-11-24T06-00-00-00-00", "airflow-try-number": "1"},
        "annotations": {"mlops/spec-uri": SPEC},
    }
    assert pod["spec"] == {
        "restartPolicy": "Never",
        "serviceAccountName": "mlops-runtime",
        "nodeSelector": {"pool": "ml", "cloud.google.com/gke-accelerator": "nvidia-tesla-t4"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"},
                        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "fsGroup": 10001},
        "containers": [{
            "name": "component",
            "image": IMAGE,
            "imagePullPolicy": "IfNotPresent",
            "command": COMMAND,
            "args": ["train", "--spec", SPEC],
            "env": [{"name": "A", "value": "1"}, {"name": "MLFLOW_TRACKING_URI", "value": "http://mlflow:5000"},
                    {"name": "MLOPS_RUNTIME_IMAGE", "value": IMAGE}, {"name": "PYTHONUNBUFFERED", "value": "1"}],
            "resources": {"requests": {"cpu": "4", "memory": "16Gi"}, "limits": {"memory": "16Gi", "nvidia.com/gpu": "1"}},
        }],
    }
    assert len(pod["metadata"]["name"]) <= 63


def test_the_pod_of_a_cpu_step_has_no_gpu_limit_selector_or_toleration():
    pod = _pod_json(_k8s(gpus=0), "validate")
    spec = pod["spec"]
    assert spec["nodeSelector"] == {"pool": "ml"}
    assert spec["tolerations"] == [{"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"}]
    assert spec["containers"][0]["resources"] == {"requests": {"cpu": "4", "memory": "16Gi"}, "limits": {"memory": "16Gi"}}
    assert spec["containers"][0]["args"] == ["validate", "--spec", SPEC]


def _vertex(gpus: int, spot: bool = False) -> VertexLauncher:
    return VertexLauncher(image=IMAGE, project="proj", region="europe-west4", machine_type="n1-standard-8", gpus=gpus,
                          accelerator="nvidia-tesla-t4", service_account="runtime@proj.iam.gserviceaccount.com", spot=spot,
                          env={"MLFLOW_TRACKING_URI": "http://mlflow:5000"})


def test_the_custom_job_of_a_gpu_step_on_spot_vms():
    job = _vertex(gpus=1, spot=True).custom_job(LaunchRequest("train", SPEC), LABELS)
    assert job == {
        "display_name": "mlops-train-manual__2026-11-24T06-00-00-00-00",
        "job_spec": {
            "worker_pool_specs": [{
                "machine_spec": {"machine_type": "n1-standard-8", "accelerator_type": "NVIDIA_TESLA_T4", "accelerator_count": 1},
                "replica_count": 1,
                "container_spec": {
                    "image_uri": IMAGE,
                    "command": COMMAND,
                    "args": ["train", "--spec", SPEC],
                    "env": [{"name": "MLFLOW_TRACKING_URI", "value": "http://mlflow:5000"},
                            {"name": "MLOPS_RUNTIME_IMAGE", "value": IMAGE}, {"name": "PYTHONUNBUFFERED", "value": "1"}],
                },
            }],
            "scheduling": {"restart_job_on_worker_restart": True, "strategy": "SPOT"},
            "service_account": "runtime@proj.iam.gserviceaccount.com",
        },
        "labels": {"managed-by": "airflow-mlops", "mlops-component": "train", "airflow-dag-id": "penguin_training",
                   "airflow-task-id": "train", "airflow-run-id": "manual__2026-11-24t06-00-00-00-00", "airflow-try-number": "1"},
    }


def test_the_custom_job_of_a_cpu_step():
    job = _vertex(gpus=0).custom_job(LaunchRequest("evaluate", SPEC), LABELS)
    pool = job["job_spec"]["worker_pool_specs"][0]
    assert pool["machine_spec"] == {"machine_type": "n1-standard-8"}
    assert pool["container_spec"]["args"] == ["evaluate", "--spec", SPEC]
    assert job["job_spec"]["scheduling"] == {"restart_job_on_worker_restart": True}


def test_launchers_rebuild_from_their_options():
    """The trigger builds the same launcher in the triggerer from ``options()``."""
    for launcher in (_k8s(1), _vertex(1, spot=True)):
        again = launcher_for(launcher.name, **launcher.options())
        assert again.options() == launcher.options()
    assert console_url("projects/proj/locations/europe-west4/customJobs/123") == (
        "https://console.cloud.google.com/vertex-ai/locations/europe-west4/training/123/cpu?project=proj")


def _pod(phase, *, reason=None, message=None, terminated=None, waiting=None, conditions=(), age=5.0):
    created = datetime.now(UTC) - timedelta(seconds=age)
    state = k8s.V1ContainerState(terminated=terminated, waiting=waiting)
    return k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(name="p", creation_timestamp=created),
        spec=k8s.V1PodSpec(containers=[k8s.V1Container(name="component", resources=k8s.V1ResourceRequirements(limits={"memory": "4Gi"}))]),
        status=k8s.V1PodStatus(phase=phase, reason=reason, message=message, conditions=list(conditions),
                               container_statuses=[k8s.V1ContainerStatus(name="component", state=state, image="i", image_id="",
                                                                          ready=False, restart_count=0)]),
    )


@pytest.mark.parametrize(("pod", "state", "reason", "says"), [
    (_pod("Succeeded", terminated=k8s.V1ContainerStateTerminated(exit_code=0, reason="Completed")), "succeeded", "", ""),
    (_pod("Running"), "running", "", ""),
    (_pod("Pending", waiting=k8s.V1ContainerStateWaiting(reason="ContainerCreating")), "pending", "", ""),
    (_pod("Failed", terminated=k8s.V1ContainerStateTerminated(exit_code=137, reason="OOMKilled")), "failed", "OOMKilled",
     "ran out of memory (OOMKilled, limit 4Gi)"),
    (_pod("Failed", reason="Evicted", message="The node was low on resource: memory."), "failed", "Evicted",
     "evicted: The node was low on resource: memory."),
    (_pod("Failed", reason="Terminated", message="Pod was terminated in response to imminent node shutdown.",
          conditions=[k8s.V1PodCondition(type="DisruptionTarget", status="True", reason="TerminationByKubelet")]),
     "failed", "Preempted", "preempted or shut down: Pod was terminated in response to imminent node shutdown."),
    (_pod("Pending", waiting=k8s.V1ContainerStateWaiting(reason="ImagePullBackOff", message='Back-off pulling image "x"')),
     "failed", "ImagePullBackOff", "could not be pulled (ImagePullBackOff: Back-off pulling image \"x\")"),
    (_pod("Failed", terminated=k8s.V1ContainerStateTerminated(exit_code=3, reason="Error")), "failed", "Error", "exit code 3"),
    (_pod("Pending", conditions=[k8s.V1PodCondition(type="PodScheduled", status="False",
                                                     message="0/3 nodes are available: 3 Insufficient nvidia.com/gpu.")], age=900),
     "failed", "StartupTimeout", "did not start within 600 s: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu."),
])
def test_pod_states(pod, state, reason, says):
    found = pod_state(pod, startup_timeout_seconds=600)
    assert (found.state, found.reason) == (state, reason)
    assert says in found.message
