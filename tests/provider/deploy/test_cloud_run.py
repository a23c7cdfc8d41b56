"""The ``cloud_run`` rollout target at the Google client boundary: the exact Service sent to update_service."""

from __future__ import annotations

from unittest import mock

import pytest
from airflow.providers.google.cloud.hooks.cloud_run import CloudRunServiceHook
from airflow.providers.google.common.hooks.base_google import GoogleBaseHook
from google.cloud.run_v2 import (
    Container,
    EnvVar,
    GetServiceRequest,
    RevisionTemplate,
    Service,
    TrafficTarget,
    TrafficTargetAllocationType,
    UpdateServiceRequest,
)

from airflow_mlops.provider.deploy.cloud_run import cloud_run_rollout

SETTINGS = {"project": "p", "region": "europe-west1", "service": "penguins", "image": "europe-docker.pkg.dev/p/mlops/serving:1.4"}
NAME = "projects/p/locations/europe-west1/services/penguins"
LATEST = TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST
REVISION = TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION


def to(revision: str, percent: int) -> TrafficTarget:
    return TrafficTarget(type_=REVISION, revision=revision, percent=percent)


def service(revision: str, version: str, traffic: list[TrafficTarget], image: str = "europe-docker.pkg.dev/p/mlops/serving:1.3") -> Service:
    env = [EnvVar(name="LOG_LEVEL", value="info"), EnvVar(name="MLOPS_SERVING_PIN_VERSION", value=version),
           EnvVar(name="MLOPS_MODEL_NAME", value="penguins")]
    return Service(
        name=NAME,
        etag="etag-7",
        template=RevisionTemplate(revision=revision, containers=[Container(image=image, env=env)]),
        traffic=traffic,
        latest_ready_revision=f"{NAME}/revisions/{revision}",
    )


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> mock.MagicMock:
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", '{"conn_type": "google_cloud_platform", "extra": {"project": "p"}}')
    monkeypatch.setattr(GoogleBaseHook, "get_credentials", mock.Mock(side_effect=AssertionError("no authentication in tests")))
    client = mock.MagicMock(name="services")
    client.update_service.return_value.result.return_value = Service(name=NAME)
    monkeypatch.setattr(CloudRunServiceHook, "get_conn", mock.Mock(return_value=client))
    return client


def sent(client: mock.MagicMock) -> Service:
    client.get_service.assert_called_once_with(GetServiceRequest(name=NAME))
    client.update_service.assert_called_once()
    client.update_service.return_value.result.assert_called_once()
    request = client.update_service.call_args.kwargs["request"]
    assert isinstance(request, UpdateServiceRequest)
    return request.service


def test_canary_creates_the_pinned_revision_and_splits_traffic(client: mock.MagicMock) -> None:
    client.get_service.return_value = service("penguins-v1", "1", [TrafficTarget(type_=LATEST, percent=100)])

    result = cloud_run_rollout("canary", SETTINGS, "penguins", "2", weight=0.1)

    update = sent(client)
    assert update.name == NAME and update.etag == "etag-7"
    assert update.template.revision == "penguins-v2"
    assert list(update.template.containers) == [Container(image=SETTINGS["image"], env=[
        EnvVar(name="LOG_LEVEL", value="info"),
        EnvVar(name="MLOPS_SERVING_PIN_VERSION", value="2"),
        EnvVar(name="MLOPS_MODEL_NAME", value="penguins"),
    ])]
    assert list(update.traffic) == [to("penguins-v2", 10), to("penguins-v1", 90)]
    CloudRunServiceHook.get_conn.assert_called_with(location="europe-west1")
    assert result["traffic"] == {"penguins-v2": 10, "penguins-v1": 90}
    assert result["template_revision"] == "penguins-v2"


def test_canary_keeps_the_given_current_version(client: mock.MagicMock) -> None:
    client.get_service.return_value = service("penguins-v3", "3", [to("penguins-v3", 20), to("penguins-v1", 80)])

    cloud_run_rollout("canary", SETTINGS, "penguins", "4", weight=0.25, current_version="1")

    update = sent(client)
    assert update.template.revision == "penguins-v4"
    assert list(update.traffic) == [to("penguins-v4", 25), to("penguins-v1", 75)]


def test_canary_defaults_to_the_revision_with_most_traffic(client: mock.MagicMock) -> None:
    client.get_service.return_value = service("penguins-v3", "3", [to("penguins-v3", 20), to("penguins-v1", 80)])

    cloud_run_rollout("canary", SETTINGS, "penguins", "4", weight=0.25)

    assert list(sent(client).traffic) == [to("penguins-v4", 25), to("penguins-v1", 75)]


def test_promote_of_the_canary_keeps_its_revision_and_moves_all_traffic(client: mock.MagicMock) -> None:
    canary = service("penguins-v2", "2", [to("penguins-v2", 10), to("penguins-v1", 90)], image=SETTINGS["image"])
    client.get_service.return_value = canary
    template = RevisionTemplate(canary.template)

    cloud_run_rollout("promote", SETTINGS, "penguins", "2")

    update = sent(client)
    assert update.template == template
    assert list(update.traffic) == [to("penguins-v2", 100)]


def test_promote_without_canary_creates_the_revision(client: mock.MagicMock) -> None:
    client.get_service.return_value = service("penguins-v1", "1", [TrafficTarget(type_=LATEST, percent=100)])

    cloud_run_rollout("promote", SETTINGS, "penguins", "2")

    update = sent(client)
    assert update.template.revision == "penguins-v2"
    assert update.template.containers[0].image == SETTINGS["image"]
    assert list(update.traffic) == [to("penguins-v2", 100)]


def test_rollback_moves_all_traffic_to_the_earlier_revision(client: mock.MagicMock) -> None:
    current = service("penguins-v2", "2", [to("penguins-v2", 100)], image=SETTINGS["image"])
    client.get_service.return_value = current
    template = RevisionTemplate(current.template)

    result = cloud_run_rollout("rollback", SETTINGS, "penguins", "1")

    update = sent(client)
    assert update.template == template
    assert list(update.traffic) == [to("penguins-v1", 100)]
    assert result["traffic"] == {"penguins-v1": 100}


@pytest.mark.parametrize(
    ("action", "settings", "weight", "message"),
    [
        ("canary", {k: v for k, v in SETTINGS.items() if k != "image"}, 0.1, "deployment.cloud_run is missing image"),
        ("rollback", {}, 0.1, "missing project, region, service, image"),
        ("undo", SETTINGS, 0.1, "unknown rollout action 'undo'"),
        ("canary", SETTINGS, 0.0, "canary weight must be between 0 and 1"),
    ],
)
def test_bad_requests_fail_before_any_call(
    client: mock.MagicMock, action: str, settings: dict, weight: float, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        cloud_run_rollout(action, settings, "penguins", "2", weight=weight)
    client.get_service.assert_not_called()
    client.update_service.assert_not_called()
