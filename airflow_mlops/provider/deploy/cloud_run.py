"""The ``cloud_run`` deployment target: model version N runs as revision ``<service>-vN`` of an existing service.

Read the service with the Google provider's ``CloudRunServiceHook``, change its template and traffic,
and send it back with the hook's ``ServicesClient`` (the hook has no update of its own).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_mlops.contract.config.model import REMOTE_REQUIRED
from airflow_mlops.contract.params import CanaryRollout
from airflow_mlops.provider.deploy.vertex import DEPLOYS, canary_percent, check_request

if TYPE_CHECKING:
    from google.cloud.run_v2 import RevisionTemplate, Service, TrafficTarget

CLOUD_RUN_REQUIRED = REMOTE_REQUIRED["cloud_run"]
PIN_VERSION_ENV = "MLOPS_SERVING_PIN_VERSION"
MODEL_NAME_ENV = "MLOPS_MODEL_NAME"
OPERATION_TIMEOUT = 1800


def revision_name(service: str, version: str) -> str:
    """The revision that serves ``version``."""
    return f"{service}-v{version}"


def _pin(template: RevisionTemplate, revision: str, image: str, model_name: str, version: str) -> None:
    """Make the template a new revision ``revision`` that serves ``version`` of ``model_name`` from ``image``."""
    from google.cloud.run_v2 import Container, EnvVar

    template.revision = revision
    if not template.containers:
        template.containers.append(Container())
    container = template.containers[0]
    container.image = image
    kept = [var for var in container.env if var.name not in (PIN_VERSION_ENV, MODEL_NAME_ENV)]
    container.env = [*kept, EnvVar(name=PIN_VERSION_ENV, value=version), EnvVar(name=MODEL_NAME_ENV, value=model_name)]


def _serving_revision(service: Service, exclude: str) -> str | None:
    """The revision (other than ``exclude``) that gets the most traffic now, if any."""
    from google.cloud.run_v2 import TrafficTargetAllocationType

    latest = service.latest_ready_revision.rpartition("/")[-1]
    shares: dict[str, int] = {}
    for target in service.traffic:
        latest_type = target.type_ == TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST
        revision = latest if latest_type else target.revision
        if revision and revision != exclude and target.percent > 0:
            shares[revision] = shares.get(revision, 0) + target.percent
    return max(shares, key=shares.__getitem__) if shares else None


def _traffic(split: dict[str, int]) -> list[TrafficTarget]:
    from google.cloud.run_v2 import TrafficTarget, TrafficTargetAllocationType

    kind = TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION
    return [TrafficTarget(type_=kind, revision=revision, percent=percent) for revision, percent in split.items()]


def cloud_run_rollout(
    action: str,
    settings: dict[str, Any],
    model_name: str,
    version: str,
    weight: float = CanaryRollout.weight,
    current_version: str | None = None,
    gcp_conn_id: str = "google_cloud_default",
    impersonation_chain: str | Sequence[str] | None = None,
    log: logging.Logger | logging.LoggerAdapter | Any | None = None,
) -> dict[str, Any]:
    """Canary, promote, reject or roll back ``version`` of ``model_name`` on the Cloud Run service ``settings["service"]``.

    For canary and promote the service template becomes revision ``<service>-v<version>`` (image
    ``settings["image"]``, ``MLOPS_SERVING_PIN_VERSION`` and ``MLOPS_MODEL_NAME`` set) unless it already
    is; reject and rollback only move all traffic to the existing revision ``<service>-v<version>``
    (for reject: the champion's; the challenger's revision leaves the traffic split).

    :param action: ``canary``, ``promote``, ``reject`` or ``rollback``.
    :param settings: ``deployment.cloud_run``: project, region, service, image.
    :param model_name: the registered model's name.
    :param version: the model version to act on (for reject: the champion that keeps all traffic; for
        rollback: the version to go back to).
    :param weight: the canary's share of traffic, between 0 and 1.
    :param current_version: the champion version that keeps the rest during a canary; by default the
        revision that gets the most traffic now.
    :param gcp_conn_id: the Google Cloud connection.
    :param impersonation_chain: service account(s) to impersonate.
    :param log: where to log (this module's logger by default).
    :return: the service, its template revision and the traffic split sent.
    """
    from airflow.providers.google.cloud.hooks.cloud_run import CloudRunServiceHook
    from google.cloud.run_v2 import UpdateServiceRequest

    check_request("cloud_run", action, settings, CLOUD_RUN_REQUIRED, weight)
    log = log or logging.getLogger(__name__)
    version, region, name = str(version), settings["region"], settings["service"]
    hook = CloudRunServiceHook(gcp_conn_id=gcp_conn_id, impersonation_chain=impersonation_chain)
    service = hook.get_service(service_name=name, region=region, project_id=settings["project"])
    revision = revision_name(name, version)
    if action in DEPLOYS and service.template.revision != revision:
        _pin(service.template, revision, settings["image"], model_name, version)

    split = {revision: 100}
    if action == "canary":
        champion = revision_name(name, current_version) if current_version else _serving_revision(service, revision)
        if champion and champion != revision:
            percent = canary_percent(weight)
            split = {revision: percent, champion: 100 - percent}
    service.traffic = _traffic(split)

    operation = hook.get_conn(location=region).update_service(request=UpdateServiceRequest(service=service))
    operation.result(timeout=OPERATION_TIMEOUT)
    log.info("%s %s: service %s template %s, traffic %s", action, version, name, service.template.revision, split)
    return {
        "target": "cloud_run",
        "action": action,
        "version": version,
        "service": service.name,
        "revision": revision,
        "template_revision": service.template.revision,
        "traffic": split,
    }
