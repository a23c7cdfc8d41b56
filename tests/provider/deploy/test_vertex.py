"""The ``vertex`` rollout target at the Google client boundary: the exact requests sent to Vertex AI."""

from __future__ import annotations

from types import SimpleNamespace
from unittest import mock

import pytest
from airflow.providers.google.cloud.hooks.vertex_ai.endpoint_service import EndpointServiceHook
from airflow.providers.google.cloud.hooks.vertex_ai.model_service import ModelServiceHook
from airflow.providers.google.common.hooks.base_google import GoogleBaseHook
from google.cloud.aiplatform_v1 import EndpointServiceClient, ModelServiceClient
from google.cloud.aiplatform_v1.types import (
    DedicatedResources,
    DeployedModel,
    DeployModelResponse,
    Endpoint,
    MachineSpec,
    Model,
    ModelContainerSpec,
    UploadModelResponse,
)

from airflow_mlops.provider.deploy.vertex import vertex_rollout

SETTINGS = {
    "project": "p",
    "region": "europe-west4",
    "endpoint_id": "123",
    "serving_container_image_uri": "europe-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-16:latest",
}
ENDPOINT = "projects/p/locations/europe-west4/endpoints/123"
LOCATION = "projects/p/locations/europe-west4"
ARTIFACT = "gs://bucket/penguins/2/saved_model"
MODEL_V2 = "projects/p/locations/europe-west4/models/900"


def operation(result: object) -> mock.Mock:
    return mock.Mock(**{"result.return_value": result})


def endpoint(traffic: dict[str, int], **deployed: str) -> Endpoint:
    """An endpoint with deployed models ``id=display_name`` and ``traffic``."""
    models = [DeployedModel(id=key, display_name=name, model=f"{LOCATION}/models/{key}") for key, name in deployed.items()]
    return Endpoint(name=ENDPOINT, deployed_models=models, traffic_split=traffic)


def deployed_model(model: str, name: str) -> DeployedModel:
    return DeployedModel(
        model=model,
        display_name=name,
        dedicated_resources=DedicatedResources(
            machine_spec=MachineSpec(machine_type="n1-standard-2"), min_replica_count=1, max_replica_count=1
        ),
    )


@pytest.fixture
def gcp(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", '{"conn_type": "google_cloud_platform", "extra": {"project": "p"}}')
    monkeypatch.setattr(GoogleBaseHook, "get_credentials", mock.Mock(side_effect=AssertionError("no authentication in tests")))
    models, endpoints = mock.MagicMock(name="models"), mock.MagicMock(name="endpoints")
    for client, real in ((models, ModelServiceClient), (endpoints, EndpointServiceClient)):
        client.common_location_path.side_effect = real.common_location_path
    models.model_path.side_effect = ModelServiceClient.model_path
    endpoints.endpoint_path.side_effect = EndpointServiceClient.endpoint_path
    models.list_models.return_value = []
    models.upload_model.return_value = operation(UploadModelResponse(model=MODEL_V2, model_version_id="1"))
    endpoints.deploy_model.return_value = operation(DeployModelResponse(deployed_model=DeployedModel(id="222")))
    endpoints.undeploy_model.return_value = operation(None)
    monkeypatch.setattr(ModelServiceHook, "get_model_service_client", mock.Mock(return_value=models))
    monkeypatch.setattr(EndpointServiceHook, "get_endpoint_service_client", mock.Mock(return_value=endpoints))
    return SimpleNamespace(models=models, endpoints=endpoints)


def request(method: mock.Mock, index: int = -1) -> dict:
    return method.call_args_list[index].kwargs["request"]


def undeployed(gcp: SimpleNamespace) -> list[tuple[str, object]]:
    return [(call.kwargs["request"]["deployed_model_id"], call.kwargs["request"]["endpoint"])
            for call in gcp.endpoints.undeploy_model.call_args_list]


def test_canary_uploads_and_deploys_with_a_traffic_split(gcp: SimpleNamespace) -> None:
    gcp.endpoints.get_endpoint.return_value = endpoint({"111": 100}, **{"111": "penguins-v1"})

    result = vertex_rollout("canary", SETTINGS, "penguins", "2", ARTIFACT, weight=0.1)

    assert request(gcp.endpoints.get_endpoint) == {"name": ENDPOINT}
    assert request(gcp.models.list_models)["filter"] == 'display_name="penguins-v2"'
    assert request(gcp.models.upload_model) == {
        "parent": LOCATION,
        "model": Model(
            display_name="penguins-v2",
            artifact_uri=ARTIFACT,
            container_spec=ModelContainerSpec(image_uri=SETTINGS["serving_container_image_uri"]),
            labels={"mlops-model": "penguins", "mlops-version": "2"},
        ),
    }
    assert request(gcp.endpoints.deploy_model) == {
        "endpoint": ENDPOINT,
        "deployed_model": deployed_model(MODEL_V2, "penguins-v2"),
        "traffic_split": {"0": 10, "111": 90},
    }
    gcp.endpoints.undeploy_model.assert_not_called()
    gcp.endpoints.update_endpoint.assert_not_called()
    ModelServiceHook.get_model_service_client.assert_called_with("europe-west4")
    assert result["traffic_split"] == {"222": 10, "111": 90}
    assert result["deployed_model_ids"] == ["111", "222"]
    assert result["uploaded_model"] == MODEL_V2


def test_canary_keeps_the_champion_and_drops_an_old_canary(gcp: SimpleNamespace) -> None:
    gcp.endpoints.get_endpoint.return_value = endpoint({"111": 80, "333": 20}, **{"111": "penguins-v1", "333": "penguins-v3"})

    vertex_rollout("canary", {**SETTINGS, "machine_type": "n1-standard-4"}, "penguins", "2", ARTIFACT, weight=0.25)

    sent = request(gcp.endpoints.deploy_model)
    assert sent["traffic_split"] == {"0": 25, "111": 75}
    assert sent["deployed_model"].dedicated_resources.machine_spec.machine_type == "n1-standard-4"


def test_promote_deploys_at_100_percent_then_undeploys_the_others(gcp: SimpleNamespace) -> None:
    gcp.endpoints.get_endpoint.return_value = endpoint({"111": 100}, **{"111": "penguins-v1"})

    result = vertex_rollout("promote", SETTINGS, "penguins", "2", ARTIFACT)

    assert request(gcp.endpoints.deploy_model)["traffic_split"] == {"0": 100}
    assert undeployed(gcp) == [("111", ENDPOINT)]
    assert result["traffic_split"] == {"222": 100}
    assert result["deployed_model_ids"] == ["222"]
    assert result["undeployed"] == ["111"]


def test_promote_of_the_deployed_canary_only_moves_traffic(gcp: SimpleNamespace) -> None:
    gcp.endpoints.get_endpoint.return_value = endpoint({"111": 90, "222": 10}, **{"111": "penguins-v1", "222": "penguins-v2"})

    result = vertex_rollout("promote", SETTINGS, "penguins", "2", ARTIFACT)

    gcp.models.upload_model.assert_not_called()
    gcp.endpoints.deploy_model.assert_not_called()
    assert request(gcp.endpoints.update_endpoint) == {
        "endpoint": {"traffic_split": {"222": 100}, "name": ENDPOINT},
        "update_mask": {"paths": ["traffic_split"]},
    }
    assert undeployed(gcp) == [("111", ENDPOINT)]
    assert result["uploaded_model"] is None


def test_canary_of_a_deployed_version_updates_the_split(gcp: SimpleNamespace) -> None:
    gcp.endpoints.get_endpoint.return_value = endpoint({"111": 90, "222": 10}, **{"111": "penguins-v1", "222": "penguins-v2"})

    vertex_rollout("canary", SETTINGS, "penguins", "2", ARTIFACT, weight=0.3)

    gcp.models.upload_model.assert_not_called()
    gcp.endpoints.deploy_model.assert_not_called()
    assert request(gcp.endpoints.update_endpoint)["endpoint"]["traffic_split"] == {"222": 30, "111": 70}
    gcp.endpoints.undeploy_model.assert_not_called()


def test_rollback_to_a_deployed_version(gcp: SimpleNamespace) -> None:
    gcp.endpoints.get_endpoint.return_value = endpoint({"222": 100}, **{"111": "penguins-v1", "222": "penguins-v2"})

    result = vertex_rollout("rollback", SETTINGS, "penguins", "1", ARTIFACT)

    assert request(gcp.endpoints.update_endpoint)["endpoint"]["traffic_split"] == {"111": 100}
    assert undeployed(gcp) == [("222", ENDPOINT)]
    assert result["deployed_model_id"] == "111"


def test_rollback_redeploys_an_undeployed_version_without_uploading(gcp: SimpleNamespace) -> None:
    gcp.endpoints.get_endpoint.return_value = endpoint({"222": 100}, **{"222": "penguins-v2"})
    gcp.models.list_models.return_value = [Model(name=f"{LOCATION}/models/555", display_name="penguins-v1")]
    gcp.endpoints.deploy_model.return_value = operation(DeployModelResponse(deployed_model=DeployedModel(id="444")))

    result = vertex_rollout("rollback", SETTINGS, "penguins", "1", "")

    assert request(gcp.models.list_models)["filter"] == 'display_name="penguins-v1"'
    gcp.models.upload_model.assert_not_called()
    assert request(gcp.endpoints.deploy_model) == {
        "endpoint": ENDPOINT,
        "deployed_model": deployed_model(f"{LOCATION}/models/555", "penguins-v1"),
        "traffic_split": {"0": 100},
    }
    assert undeployed(gcp) == [("222", ENDPOINT)]
    assert result["traffic_split"] == {"444": 100}


def test_rollback_to_an_unknown_version_fails(gcp: SimpleNamespace) -> None:
    gcp.endpoints.get_endpoint.return_value = endpoint({"222": 100}, **{"222": "penguins-v2"})

    with pytest.raises(ValueError, match="cannot roll back to penguins-v1"):
        vertex_rollout("rollback", SETTINGS, "penguins", "1", "")
    gcp.endpoints.deploy_model.assert_not_called()
    gcp.endpoints.undeploy_model.assert_not_called()


@pytest.mark.parametrize(
    ("action", "settings", "artifact", "weight", "message"),
    [
        ("canary", {k: v for k, v in SETTINGS.items() if k != "endpoint_id"}, ARTIFACT, 0.1, "deployment.vertex is missing endpoint_id"),
        ("promote", {}, ARTIFACT, 0.1, "missing project, region, endpoint_id, serving_container_image_uri"),
        ("deploy", SETTINGS, ARTIFACT, 0.1, "unknown rollout action 'deploy'"),
        ("canary", SETTINGS, "/tmp/saved_model", 0.1, "artifact_uri must be gs://"),
        ("canary", SETTINGS, ARTIFACT, 1.5, "canary weight must be between 0 and 1"),
    ],
)
def test_bad_requests_fail_before_any_call(
    gcp: SimpleNamespace, action: str, settings: dict, artifact: str, weight: float, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        vertex_rollout(action, settings, "penguins", "2", artifact, weight=weight)
    gcp.endpoints.get_endpoint.assert_not_called()
    gcp.models.upload_model.assert_not_called()
