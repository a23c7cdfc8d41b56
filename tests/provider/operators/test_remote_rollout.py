"""Promotion, rejection and rollback move the remote target: the operators and the promotion and
rollback DAGs, with the component stubbed at the operator's boundary (what it decided), against a
fake Vertex AI endpoint and Cloud Run service on 127.0.0.1 reached by the real Google clients over
REST. The exact requests each decision sends are asserted."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_google_rollout import FakeGoogle, route_google_clients, serve

from airflow_mlops.provider.factory import promotion_dag, rollback_dag
from airflow_mlops.provider.operators import CanaryAnalysisOperator, ComponentOperator, RollbackModelOperator

VERTEX = {"project": "p", "region": "europe-west4", "endpoint_id": "123",
          "serving_container_image_uri": "europe-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-16:latest"}
ENDPOINT = "projects/p/locations/europe-west4/endpoints/123"
LOCATION = "projects/p/locations/europe-west4"
RUN = {"project": "p", "region": "europe-west1", "service": "penguin", "image": "europe-docker.pkg.dev/p/mlops/serving:1.4"}
SERVICE = "projects/p/locations/europe-west1/services/penguin"
ENDPOINT_PATH = f"/v1/{ENDPOINT}"
SERVICE_PATH = f"/v2/{SERVICE}"


@pytest.fixture
def cloud(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGoogle]:
    with serve() as fake:
        route_google_clients(monkeypatch, fake)
        yield fake


def decided(monkeypatch: pytest.MonkeyPatch, result: dict[str, Any]) -> None:
    """The component ran and decided ``result`` (registry and record changed); the operator does the rest."""
    monkeypatch.setattr(ComponentOperator, "execute", lambda self, context: result)


def canary_result(decision: str, challenger: str = "2", champion: str = "1") -> dict[str, Any]:
    return {"outputs": {"canary_report": {"properties": {"decision": decision, "reason": "the checks"}}},
            "metrics": {"decision": decision, "challenger": challenger, "champion": champion}}


def rollback_result(to: str = "1", current: str = "2") -> dict[str, Any]:
    return {"outputs": {"deployment": {"properties": {"action": "rollback", "version": to, "champion": to, "canary": None,
                                                      "reason": "bad model", "previous_champion": current}}},
            "metrics": {"champion": to, "rolled_back_from": current}}


def canary_operator(target: str, settings: dict) -> CanaryAnalysisOperator:
    return CanaryAnalysisOperator(task_id="canary_analysis", pipeline="penguin", artifact_root="file:///tmp/x",
                                  thresholds={}, target=target, target_settings=settings)


def rollback_operator(target: str, settings: dict) -> RollbackModelOperator:
    return RollbackModelOperator(task_id="rollback", pipeline="penguin", artifact_root="file:///tmp/x", reason="bad model",
                                 target=target, target_settings=settings)


def in_canary(cloud: FakeGoogle) -> None:
    """Champion v1 (deployed 111) at 90 %, challenger v2 (deployed 222) at 10 %."""
    cloud.add_endpoint(ENDPOINT, {"111": "penguin-v1", "222": "penguin-v2"}, {"111": 90, "222": 10})


def revision(name: str, percent: int) -> dict[str, Any]:
    return {"type": 2, "revision": name, "percent": percent}  # 2: TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION (REST sends enums as numbers)


def container(version: str) -> dict[str, Any]:
    return {"image": RUN["image"], "env": [{"name": "MLOPS_SERVING_PIN_VERSION", "value": version},
                                           {"name": "MLOPS_MODEL_NAME", "value": "penguin"}]}


# -- Vertex AI ------------------------------------------------------------------------------


def test_vertex_promotion_gives_the_challenger_all_traffic_and_undeploys_the_old_champion(cloud, monkeypatch):
    in_canary(cloud)
    decided(monkeypatch, canary_result("promote"))

    result = canary_operator("vertex", VERTEX).execute({})

    assert cloud.sent() == [
        {"method": "PATCH", "path": ENDPOINT_PATH, "query": {"updateMask": "trafficSplit"}, "body": {"trafficSplit": {"222": 100}}},
        {"method": "POST", "path": f"{ENDPOINT_PATH}:undeployModel", "query": {}, "body": {"deployedModelId": "111"}},
    ]
    assert cloud.traffic_split(ENDPOINT) == {"222": 100}
    assert cloud.deployed(ENDPOINT) == {"222": "penguin-v2"}
    assert result["target"]["traffic_split"] == {"222": 100} and result["target"]["action"] == "promote"
    assert set(cloud.hook_endpoints) == {"europe-west4-aiplatform.googleapis.com:443"}  # where the hook would have gone


def test_vertex_rejection_gives_the_champion_all_traffic_back_and_undeploys_the_challenger(cloud, monkeypatch):
    in_canary(cloud)
    decided(monkeypatch, canary_result("reject"))

    result = canary_operator("vertex", VERTEX).execute({})

    assert cloud.sent() == [
        {"method": "PATCH", "path": ENDPOINT_PATH, "query": {"updateMask": "trafficSplit"}, "body": {"trafficSplit": {"111": 100}}},
        {"method": "POST", "path": f"{ENDPOINT_PATH}:undeployModel", "query": {}, "body": {"deployedModelId": "222"}},
    ]
    assert cloud.deployed(ENDPOINT) == {"111": "penguin-v1"}
    assert result["target"]["action"] == "reject" and result["target"]["version"] == "1"


def test_vertex_rollback_redeploys_the_previous_champion_with_all_traffic(cloud, monkeypatch):
    cloud.add_endpoint(ENDPOINT, {"222": "penguin-v2"}, {"222": 100})
    model_v1 = cloud.add_model(LOCATION, "penguin-v1")  # uploaded when v1 was rolled out, undeployed at v2's promotion
    decided(monkeypatch, rollback_result(to="1", current="2"))

    result = rollback_operator("vertex", VERTEX).execute({})

    (deployed_id,) = cloud.deployed(ENDPOINT)
    assert cloud.sent() == [
        {"method": "POST", "path": f"{ENDPOINT_PATH}:deployModel", "query": {}, "body": {
            "deployedModel": {"model": model_v1, "displayName": "penguin-v1", "dedicatedResources": {
                "machineSpec": {"machineType": "n1-standard-2"}, "minReplicaCount": 1, "maxReplicaCount": 1}},
            "trafficSplit": {"0": 100}}},
        {"method": "POST", "path": f"{ENDPOINT_PATH}:undeployModel", "query": {}, "body": {"deployedModelId": "222"}},
    ]
    assert [r["query"] for r in cloud.sent("GET") if r["path"].endswith("/models")] == [{"filter": 'display_name="penguin-v1"'}]
    assert cloud.deployed(ENDPOINT) == {deployed_id: "penguin-v1"}
    assert cloud.traffic_split(ENDPOINT) == {deployed_id: 100}
    assert result["target"]["traffic_split"] == {deployed_id: 100}


@pytest.mark.parametrize("decision", ["wait", "none"])
def test_no_decision_sends_nothing(cloud, monkeypatch, decision):
    from airflow_mlops.provider.compat import AirflowSkipException

    in_canary(cloud)
    decided(monkeypatch, canary_result(decision))
    with pytest.raises(AirflowSkipException):
        canary_operator("vertex", VERTEX).execute({})
    assert cloud.requests == []


def test_a_local_target_sends_nothing(cloud, monkeypatch):
    decided(monkeypatch, rollback_result())
    assert "target" not in rollback_operator("local", {}).execute({})
    assert cloud.requests == []


def test_a_refused_request_fails_the_task(cloud, monkeypatch):
    from google.api_core.exceptions import NotFound

    in_canary(cloud)
    decided(monkeypatch, canary_result("promote"))
    with pytest.raises(NotFound, match="endpoint projects/p/locations/europe-west4/endpoints/999 not found"):
        canary_operator("vertex", {**VERTEX, "endpoint_id": "999"}).execute({})
    assert cloud.sent() == []


# -- Cloud Run ------------------------------------------------------------------------------


def cloud_run_canary(cloud: FakeGoogle) -> None:
    """Revision penguin-v2 (the template) at 10 %, penguin-v1 at 90 %."""
    cloud.add_service(SERVICE, {"penguin-v1": "1", "penguin-v2": "2"}, "penguin-v2", {"penguin-v2": 10, "penguin-v1": 90})


def service_update(traffic: list[dict[str, Any]]) -> dict[str, Any]:
    """The PATCH sent: the template stays revision penguin-v2 (no new revision), only the traffic changes."""
    return {"method": "PATCH", "path": SERVICE_PATH, "query": {}, "body": {
        "template": {"revision": "penguin-v2", "containers": [container("2")]},
        "traffic": traffic,
        "latestReadyRevision": f"{SERVICE}/revisions/penguin-v2",
        "etag": "etag-1",
    }}


@pytest.mark.parametrize(("decision", "traffic"), [
    ("promote", {"penguin-v2": 100}),
    ("reject", {"penguin-v1": 100}),
])
def test_cloud_run_canary_decision_moves_the_revision_traffic(cloud, monkeypatch, decision, traffic):
    cloud_run_canary(cloud)
    decided(monkeypatch, canary_result(decision))

    result = canary_operator("cloud_run", RUN).execute({})

    ((name, percent),) = traffic.items()
    assert cloud.sent() == [service_update([revision(name, percent)])]
    assert cloud.service_traffic(SERVICE) == traffic
    assert result["target"]["traffic"] == traffic


def test_cloud_run_rollback_moves_all_traffic_to_the_previous_revision(cloud, monkeypatch):
    cloud.add_service(SERVICE, {"penguin-v1": "1", "penguin-v2": "2"}, "penguin-v2", {"penguin-v2": 100})
    decided(monkeypatch, rollback_result(to="1", current="2"))

    rollback_operator("cloud_run", RUN).execute({})

    assert cloud.sent() == [service_update([revision("penguin-v1", 100)])]
    assert cloud.service_traffic(SERVICE) == {"penguin-v1": 100}


# -- through the DAGs -----------------------------------------------------------------------

BASE = """
pipeline: penguin
data: {source: data.csv, label: species}
features: {bill_length_mm: numeric, island: categorical}
"""


def pipeline(tmp_path: Path, target: str) -> Path:
    settings = {"vertex": VERTEX, "cloud_run": RUN}[target]
    path = tmp_path / "include" / "penguin" / "pipeline.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = "\n".join(f"    {key}: '{value}'" for key, value in settings.items())
    path.write_text(BASE + textwrap.dedent(f"""
        deployment:
          target: {target}
          {target}:
        """) + lines + "\n")
    return path


def test_the_dags_give_the_operators_the_target(tmp_path):
    for dag, task in ((promotion_dag(pipeline(tmp_path, "vertex")), "canary_analysis"),
                      (rollback_dag(pipeline(tmp_path, "vertex")), "rollback")):
        op = dag.get_task(task)
        assert (op.target, op.target_settings) == ("vertex", VERTEX)


@pytest.fixture(scope="module")
def airflow_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """dag.test() in this process against a fresh, migrated SQLite database (the ORM is pointed back
    afterwards) and a DAGs folder whose file builds the two DAGs from ``<folder>/include/penguin/pipeline.yaml``."""
    from airflow import settings
    from airflow.utils import db

    folder = tmp_path_factory.mktemp("airflow-dags")
    (folder / "penguin_rollout_dags.py").write_text(
        "from pathlib import Path\n"
        "from airflow_mlops.provider.factory import promotion_dag, rollback_dag\n"
        "CONFIG = Path(__file__).parent / 'include' / 'penguin' / 'pipeline.yaml'\n"
        "promotion, rollback = promotion_dag(CONFIG), rollback_dag(CONFIG)\n"
    )
    url = f"sqlite:///{folder}/airflow.db"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", url)
        env.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(folder))
        settings.configure_vars()
        settings.configure_orm()
        db.initdb()
        yield folder
    settings.configure_vars()
    settings.configure_orm()


def run_dag(dag, **conf: Any) -> str:
    run = dag.test(run_conf=conf or None)
    (ti,) = run.get_task_instances()
    return str(ti.state)


def test_the_promotion_dag_promotes_on_vertex(cloud, monkeypatch, airflow_db):
    in_canary(cloud)
    decided(monkeypatch, canary_result("promote"))

    assert run_dag(promotion_dag(pipeline(airflow_db, "vertex"))) == "success"

    assert [(r["method"], r["path"], r["body"]) for r in cloud.sent()] == [
        ("PATCH", ENDPOINT_PATH, {"trafficSplit": {"222": 100}}),
        ("POST", f"{ENDPOINT_PATH}:undeployModel", {"deployedModelId": "111"}),
    ]


def test_the_promotion_dag_rejects_on_cloud_run(cloud, monkeypatch, airflow_db):
    cloud_run_canary(cloud)
    decided(monkeypatch, canary_result("reject"))

    assert run_dag(promotion_dag(pipeline(airflow_db, "cloud_run")), force=True) == "success"

    assert cloud.sent() == [service_update([revision("penguin-v1", 100)])]


def test_the_rollback_dag_rolls_back_on_cloud_run(cloud, monkeypatch, airflow_db):
    cloud.add_service(SERVICE, {"penguin-v1": "1", "penguin-v2": "2"}, "penguin-v2", {"penguin-v2": 100})
    decided(monkeypatch, rollback_result(to="1", current="2"))

    assert run_dag(rollback_dag(pipeline(airflow_db, "cloud_run")), reason="bad model") == "success"

    assert cloud.sent() == [service_update([revision("penguin-v1", 100)])]
