"""The ``vertex`` launcher: the component as a Vertex AI CustomJob of the runtime image.

One worker pool: the machine type, the accelerator type and count, the runtime image with the
component command line, the environment, the service account, optionally Spot VMs with a
restart on preemption. Credentials come from the Google Cloud connection (``gcp_conn_id``);
the client uses the REST transport against ``<region>-aiplatform.googleapis.com`` or the
configured ``api_endpoint``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_mlops.contract import RemoteJob
from airflow_mlops.contract.config.runtime import vertex_accelerator_type
from airflow_mlops.provider.launchers.base import JobState, LaunchRequest, RemoteLauncher, component_command
from airflow_mlops.provider.launchers.kubernetes import label_value

if TYPE_CHECKING:
    from google.cloud.aiplatform_v1 import JobServiceClient

CONSOLE = "https://console.cloud.google.com/vertex-ai/locations/{region}/training/{job_id}/cpu?project={project}"
RUNNING_STATES = {"JOB_STATE_RUNNING", "JOB_STATE_CANCELLING", "JOB_STATE_UPDATING"}


def console_url(resource_name: str) -> str:
    """The Cloud console page of ``projects/<p>/locations/<r>/customJobs/<id>``."""
    parts = resource_name.split("/")
    return CONSOLE.format(project=parts[1], region=parts[3], job_id=parts[5])


class VertexLauncher(RemoteLauncher):
    """Run the component as a Vertex AI CustomJob.

    :param image: the runtime image.
    :param project: the Google Cloud project.
    :param region: the Vertex AI region.
    :param machine_type: the worker's machine type.
    :param gpus: accelerator count; 0 for a CPU job.
    :param accelerator: the GPU (GKE spelling ``nvidia-tesla-t4``; sent as ``NVIDIA_TESLA_T4``).
    :param service_account: the Google service account the job runs as.
    :param spot: Spot VMs.
    :param restart_on_preemption: restart the job when its VM is preempted.
    :param api_endpoint: the API endpoint (default ``<region>-aiplatform.googleapis.com``).
    :param gcp_conn_id: the Google Cloud connection with the credentials.
    :param env: extra environment variables.
    :param poll_seconds: how often the job is looked at.
    """

    name = "vertex"

    def __init__(
        self,
        *,
        image: str,
        project: str,
        region: str,
        machine_type: str = "n1-standard-4",
        gpus: int = 0,
        accelerator: str = "nvidia-tesla-t4",
        service_account: str | None = None,
        spot: bool = False,
        restart_on_preemption: bool = True,
        api_endpoint: str | None = None,
        gcp_conn_id: str = "google_cloud_default",
        env: Mapping[str, str] | None = None,
        poll_seconds: float = 10.0,
    ) -> None:
        super().__init__(
            poll_seconds=poll_seconds, image=image, project=project, region=region, machine_type=machine_type, gpus=gpus,
            accelerator=accelerator, service_account=service_account, spot=spot,
            restart_on_preemption=restart_on_preemption, api_endpoint=api_endpoint, gcp_conn_id=gcp_conn_id,
            env=dict(env or {}),
        )
        self.image, self.project, self.region, self.machine_type = image, project, region, machine_type
        self.gpus, self.accelerator, self.service_account = gpus, accelerator, service_account
        self.spot, self.restart_on_preemption = spot, restart_on_preemption
        self.api_endpoint = api_endpoint or f"{region}-aiplatform.googleapis.com"
        self.gcp_conn_id = gcp_conn_id
        self.env = dict(env or {})

    def custom_job(self, request: LaunchRequest, labels: Mapping[str, str]) -> dict[str, Any]:
        """The CustomJob resource (REST field names) that runs ``request``."""
        command = component_command("python", request.component, request.spec_uri)
        env = {**self.env, **request.env, "MLOPS_RUNTIME_IMAGE": self.image, "PYTHONUNBUFFERED": "1"}
        machine: dict[str, Any] = {"machine_type": self.machine_type}
        if self.gpus:
            machine.update(accelerator_type=vertex_accelerator_type(self.accelerator), accelerator_count=self.gpus)
        job_spec: dict[str, Any] = {
            "worker_pool_specs": [{
                "machine_spec": machine,
                "replica_count": 1,
                "container_spec": {
                    "image_uri": self.image,
                    "command": command[:3],
                    "args": command[3:],
                    "env": [{"name": k, "value": v} for k, v in sorted(env.items())],
                },
            }],
            "scheduling": {"restart_job_on_worker_restart": self.restart_on_preemption,
                           **({"strategy": "SPOT"} if self.spot else {})},
        }
        if self.service_account:
            job_spec["service_account"] = self.service_account
        name = re.sub(r"[^A-Za-z0-9_-]+", "-", f"mlops-{request.component}-{labels.get('airflow-run-id', '')}").strip("-")
        return {
            "display_name": name[:128],
            "job_spec": job_spec,
            "labels": {"managed-by": "airflow-mlops", "mlops-component": _gcp_label(request.component),
                       **{k: _gcp_label(v) for k, v in labels.items()}},
        }

    def client(self) -> JobServiceClient:
        from airflow.providers.google.common.hooks.base_google import GoogleBaseHook
        from google.cloud.aiplatform_v1 import JobServiceClient

        credentials = GoogleBaseHook(gcp_conn_id=self.gcp_conn_id).get_credentials()
        return JobServiceClient(credentials=credentials, transport="rest", client_options={"api_endpoint": self.api_endpoint})

    def submit(self, request: LaunchRequest, labels: Mapping[str, str]) -> RemoteJob:
        job = self.client().create_custom_job(parent=f"projects/{self.project}/locations/{self.region}",
                                              custom_job=self.custom_job(request, labels))  # type: ignore[arg-type]
        details: dict[str, Any] = {"region": self.region, "machine_type": self.machine_type, "image": self.image, "spot": self.spot}
        if self.gpus:
            details.update(accelerator_type=vertex_accelerator_type(self.accelerator), accelerator_count=self.gpus)
        self._job = RemoteJob(kind="vertex_custom_job", name=job.name, console_url=console_url(job.name), details=details)
        return self._job

    def status(self, job: RemoteJob) -> JobState:
        found = self.client().get_custom_job(name=job.name)
        state = found.state.name
        if state == "JOB_STATE_SUCCEEDED":
            return JobState("succeeded")
        if state in ("JOB_STATE_FAILED", "JOB_STATE_EXPIRED"):
            message = found.error.message if found.error else ""
            if "preempt" in message.lower():
                return JobState("failed", "Preempted", f"the job's VM was preempted: {message}")
            if "image" in message.lower() and "pull" in message.lower():
                return JobState("failed", "ImagePullError", f"the runtime image could not be pulled: {message}")
            return JobState("failed", "Error", f"the job failed: {message or state}")
        if state == "JOB_STATE_CANCELLED":
            return JobState("failed", "Cancelled", "the job was cancelled")
        return JobState("running" if state in RUNNING_STATES else "pending")

    def cancel_job(self, job: RemoteJob) -> None:
        from google.api_core.exceptions import FailedPrecondition, NotFound

        try:
            self.client().cancel_custom_job(name=job.name)
        except (NotFound, FailedPrecondition):  # gone, or already ended
            pass


def _gcp_label(value: str) -> str:
    """A Google Cloud label value: lowercase letters, digits, ``_`` and ``-``, at most 63."""
    return re.sub(r"[^a-z0-9_-]+", "-", label_value(value).lower())[:63].strip("-")
