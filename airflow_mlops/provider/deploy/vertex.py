"""The ``vertex`` deployment target: one Vertex AI Model per version, served from one endpoint.

Uses the Google provider's ``ModelServiceHook`` and ``EndpointServiceHook`` the way its
``UploadModelOperator`` and ``DeployModelOperator`` do.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_mlops.contract.config.model import REMOTE_REQUIRED
from airflow_mlops.contract.params import CanaryRollout

if TYPE_CHECKING:
    from airflow.providers.google.cloud.hooks.vertex_ai.endpoint_service import EndpointServiceHook
    from airflow.providers.google.cloud.hooks.vertex_ai.model_service import ModelServiceHook

#: canary and promote deploy ``version`` (uploading it if needed); reject and rollback move all traffic to
#: a ``version`` that is deployed or was uploaded before
ACTIONS = ("canary", "promote", "reject", "rollback")
DEPLOYS = ("canary", "promote")
VERTEX_REQUIRED = REMOTE_REQUIRED["vertex"]
DEFAULT_MACHINE_TYPE = "n1-standard-2"
OPERATION_TIMEOUT = 3600


def check_request(target: str, action: str, settings: dict[str, Any], required: Sequence[str], weight: float) -> None:
    """Raise :class:`ValueError` for an unknown action, missing ``deployment.<target>`` settings or a bad weight.

    :param target: ``vertex`` or ``cloud_run``.
    :param action: the rollout action.
    :param settings: the ``deployment.<target>`` section of the pipeline YAML.
    :param required: the keys that must be set.
    :param weight: the canary's share of traffic (checked for ``canary`` only).
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown rollout action {action!r}: expected one of {', '.join(ACTIONS)}")
    missing = [key for key in required if not settings.get(key)]
    if missing:
        raise ValueError(f"deployment.{target} is missing {', '.join(missing)} (needed to {action} on {target})")
    if action == "canary":
        canary_percent(weight)


def canary_percent(weight: float) -> int:
    """The canary's share of traffic as an integer percentage between 1 and 99.

    :param weight: the canary's share, strictly between 0 and 1.
    """
    if not 0 < weight < 1:
        raise ValueError(f"canary weight must be between 0 and 1 (exclusive), got {weight}")
    return min(99, max(1, round(weight * 100)))


def display_name(model_name: str, version: str) -> str:
    """The display name of a version's Vertex Model and DeployedModel."""
    return f"{model_name}-v{version}"


def _label(value: str) -> str:
    return re.sub(r"[^a-z0-9_-]", "-", value.lower())[:63]


def _canary_split(traffic: dict[str, int], new_id: str | None, weight: float) -> dict[str, int]:
    """``new_id`` (or ``"0"``, the model being deployed) gets ``weight``; the current champion the rest."""
    new_key = new_id or "0"
    others = {key: share for key, share in traffic.items() if key != new_id and share > 0}
    if not others:
        return {new_key: 100}
    percent = canary_percent(weight)
    champion = max(others, key=others.__getitem__)
    return {new_key: percent, champion: 100 - percent}


def _find_model(models: ModelServiceHook, where: dict[str, str], name: str) -> str | None:
    for model in models.list_models(filter=f'display_name="{name}"', **where):
        return model.name
    return None


def _upload(models: ModelServiceHook, where: dict[str, str], settings: dict[str, Any], model_name: str,
            version: str, artifact_uri: str) -> str:
    from google.cloud.aiplatform_v1.types import Model, ModelContainerSpec

    model = Model(
        display_name=display_name(model_name, version),
        artifact_uri=artifact_uri,
        container_spec=ModelContainerSpec(image_uri=settings["serving_container_image_uri"]),
        labels={"mlops-model": _label(model_name), "mlops-version": _label(version)},
    )
    operation = models.upload_model(model=model, **where)
    return models.wait_for_operation(operation=operation, timeout=OPERATION_TIMEOUT).model


def _deploy(endpoints: EndpointServiceHook, where: dict[str, str], settings: dict[str, Any], model: str,
            name: str, split: dict[str, int]) -> str:
    from google.cloud.aiplatform_v1.types import DedicatedResources, DeployedModel, MachineSpec

    deployed = DeployedModel(
        model=model,
        display_name=name,
        dedicated_resources=DedicatedResources(
            machine_spec=MachineSpec(machine_type=settings.get("machine_type") or DEFAULT_MACHINE_TYPE),
            min_replica_count=1,
            max_replica_count=1,
        ),
    )
    operation = endpoints.deploy_model(
        endpoint=str(settings["endpoint_id"]), deployed_model=deployed, traffic_split=split, **where
    )
    return endpoints.wait_for_operation(operation=operation, timeout=OPERATION_TIMEOUT).deployed_model.id


def vertex_rollout(
    action: str,
    settings: dict[str, Any],
    model_name: str,
    version: str,
    artifact_uri: str,
    weight: float = CanaryRollout.weight,
    gcp_conn_id: str = "google_cloud_default",
    impersonation_chain: str | Sequence[str] | None = None,
    log: logging.Logger | logging.LoggerAdapter | Any | None = None,
) -> dict[str, Any]:
    """Canary, promote, reject or roll back ``version`` of ``model_name`` on the endpoint ``settings["endpoint_id"]``.

    A version not yet on the endpoint is deployed from its Vertex Model (uploaded first unless a Model
    with its display name exists; only canary and promote upload); one already deployed only gets a new
    traffic split.

    :param action: ``canary`` (``version`` gets ``weight``, the current champion the rest), ``promote``
        (``version`` gets all traffic, other deployed models are undeployed), ``reject`` (a canary ends:
        all traffic to the champion ``version``, the challenger is undeployed) or ``rollback`` (all
        traffic back to the earlier ``version``, the others are undeployed).
    :param settings: ``deployment.vertex``: project, region, endpoint_id, serving_container_image_uri,
        machine_type (default ``n1-standard-2``).
    :param model_name: the registered model's name.
    :param version: the model version to act on.
    :param artifact_uri: the version's SavedModel directory (``gs://.../saved_model``); needed for canary,
        and for promote when the version was never uploaded.
    :param weight: the canary's share of traffic, between 0 and 1.
    :param gcp_conn_id: the Google Cloud connection.
    :param impersonation_chain: service account(s) to impersonate.
    :param log: where to log (this module's logger by default).
    :return: the endpoint, the deployed model ids, the traffic split and what was uploaded or undeployed.
    """
    from airflow.providers.google.cloud.hooks.vertex_ai.endpoint_service import EndpointServiceHook
    from airflow.providers.google.cloud.hooks.vertex_ai.model_service import ModelServiceHook

    check_request("vertex", action, settings, VERTEX_REQUIRED, weight)
    if (action == "canary" or (action in DEPLOYS and artifact_uri)) and not str(artifact_uri).startswith("gs://"):
        raise ValueError(f"Vertex AI serves models from Cloud Storage: artifact_uri must be gs://..., got {artifact_uri!r}")
    log = log or logging.getLogger(__name__)
    version, endpoint_id = str(version), str(settings["endpoint_id"])
    where = {"project_id": settings["project"], "region": settings["region"]}
    endpoints = EndpointServiceHook(gcp_conn_id=gcp_conn_id, impersonation_chain=impersonation_chain)
    endpoint = endpoints.get_endpoint(endpoint=endpoint_id, **where)
    name = display_name(model_name, version)
    deployed_ids = [model.id for model in endpoint.deployed_models]
    target_id = next((model.id for model in endpoint.deployed_models if model.display_name == name), None)
    if action == "canary":
        split = _canary_split(dict(endpoint.traffic_split), target_id, weight)
    else:
        split = {target_id or "0": 100}

    uploaded = None
    if target_id is None:
        models = ModelServiceHook(gcp_conn_id=gcp_conn_id, impersonation_chain=impersonation_chain)
        model = _find_model(models, where, name)
        if model is None and (action not in DEPLOYS or not artifact_uri):
            what = "roll back to" if action == "rollback" else action
            raise ValueError(f"cannot {what} {name}: it is neither deployed on endpoint {endpoint_id} nor uploaded")
        if model is None:
            model = uploaded = _upload(models, where, settings, model_name, version, artifact_uri)
            log.info("Uploaded %s from %s as %s", name, artifact_uri, model)
        target_id = _deploy(endpoints, where, settings, model, name, split)
        split = {(target_id if key == "0" else key): share for key, share in split.items()}
        log.info("Deployed %s to endpoint %s as %s with traffic %s", model, endpoint_id, target_id, split)
    else:
        endpoints.update_endpoint(
            endpoint_id=endpoint_id, endpoint={"traffic_split": split}, update_mask={"paths": ["traffic_split"]}, **where
        )
        log.info("%s is already deployed on endpoint %s: traffic now %s", name, endpoint_id, split)

    undeployed = [] if action == "canary" else [d for d in deployed_ids if d != target_id]
    for deployed_id in undeployed:
        operation = endpoints.undeploy_model(endpoint=endpoint_id, deployed_model_id=deployed_id, **where)
        endpoints.wait_for_operation(operation=operation, timeout=OPERATION_TIMEOUT)
        log.info("Undeployed %s from endpoint %s", deployed_id, endpoint_id)
    return {
        "target": "vertex",
        "action": action,
        "version": version,
        "endpoint": endpoint.name or endpoint_id,
        "deployed_model_id": target_id,
        "deployed_model_ids": [d for d in deployed_ids if d not in undeployed] + ([] if target_id in deployed_ids else [target_id]),
        "traffic_split": split,
        "uploaded_model": uploaded,
        "undeployed": undeployed,
    }
