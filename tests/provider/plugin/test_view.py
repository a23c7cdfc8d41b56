"""What the MLOps view shows of a pipeline, from an artifact root as the runtime writes it."""

from __future__ import annotations

import re
from html import escape

import pytest
from fake_root import ALERT_REASON, HOLD_REASON, PROMOTE_REASON, FakeRoot
from fastapi.testclient import TestClient
from plugin_fixtures import auth_manager, client, fake_root, token_db, token_for  # noqa: F401  (fixtures)

from airflow_mlops.provider.plugin.app import create_app, pipeline_of_dag


@pytest.fixture
def viewer(client, token_for) -> TestClient:
    client.headers["Authorization"] = f"Bearer {token_for('viewer')}"
    return client


def test_the_api_gives_versions_aliases_lineage_and_reports(viewer):
    o = viewer.get("/api/pipelines/penguin").json()
    assert o["aliases"] == {"champion": "2", "challenger": "3", "previous": "1"}
    assert o["canary"]["version"] == "3" and o["canary"]["share"] == 0.1
    versions = {v["version"]: v for v in o["versions"]}
    assert [v["version"] for v in o["versions"]] == ["4", "3", "2", "1"]
    assert versions["2"]["aliases"] == ["champion"] and versions["3"]["aliases"] == ["challenger"]
    assert versions["4"]["held"] == HOLD_REASON and versions["2"]["held"] is None
    assert versions["3"]["metrics"] == {"accuracy": 0.97, "auc": 0.99}
    assert versions["3"]["blessing"]["blessed"] is True
    lineage = versions["3"]["lineage"]
    assert lineage["examples"].endswith("/penguin/ingest/x/attempt-a/examples") and lineage["rows"] == 302
    assert lineage["statistics"].endswith("/validate/v1/attempt-a/statistics")
    assert lineage["schema"].endswith("/validate/v1/attempt-a/schema")
    assert lineage["dag_run"] == {"dag_id": "penguin_training", "run_id": "manual__run31", "task_id": "register"}
    assert lineage["mlflow_run_id"] == "run3"
    assert versions["3"]["reports"] == {"evaluation": "evaluate/e3/attempt-a/evaluation/report.html",
                                        "validation": "validate/v1/attempt-a/anomalies/report.html",
                                        "statistics": "validate/v1/attempt-a/statistics/statistics.html"}


def test_the_api_gives_history_verdicts_and_every_report(viewer, fake_root):
    o = viewer.get("/api/pipelines/penguin").json()
    assert [(d["action"], d["version"]) for d in o["history"]] == [
        ("hold", "4"), ("canary", "3"), ("promote", "2"), ("canary", "2"), ("bootstrap", "1")]
    promote = o["history"][2]
    assert promote["reason"] == PROMOTE_REASON and promote["figures"]["challenger"]["error_rate"] == 0.005
    assert [m["status"] for m in o["monitoring"]] == ["ok", "alert"]
    alert = o["monitoring"][1]
    assert alert["reasons"] == [ALERT_REASON] and alert["by_version"] == {"2": 180, "3": 20}
    assert alert["features"]["body_mass_g"]["detected"] is True
    assert alert["report"] == "monitor/w1/attempt-a/monitoring/report.html"
    listed = {r["path"]: r["kind"] for r in o["reports"]}
    assert listed == {path: kind for path, kind in [(p, kind_of(p)) for p in fake_root.reports]}
    assert "validate/v1/attempt-killed/anomalies/report.html" not in listed  # no succeeded record names it


def kind_of(path: str) -> str:
    return {"validate": "validation", "evaluate": "evaluation", "infra_validate": "infra validation",
            "canary_analysis": "canary analysis", "monitor": "monitoring"}[path.split("/")[0]]


def test_the_pipeline_page_shows_it_all_with_pictures(viewer, fake_root):
    page = viewer.get("/pipelines/penguin").text
    for text in ("v2", "champion", "challenger", "previous", "held", "answers 10% of the requests",
                 PROMOTE_REASON, "error_rate", HOLD_REASON, ALERT_REASON, "manual__run31", "run3"):
        assert escape(text) in page, text
    # every report is linked, under the app's mount point, and the link serves it
    links = set(re.findall(r'href="(/mlops/reports/penguin/[^"]+)"', page))
    assert {f"/mlops/reports/penguin/{p}" for p in fake_root.reports} == links
    for link in links:
        assert viewer.get(link.removeprefix("/mlops")).text == fake_root.reports[link.split("/penguin/", 1)[1]]
    svgs = re.findall(r"<svg.*?</svg>", page, re.S)
    assert len(svgs) == 3
    metric, traffic, drift = svgs
    assert "accuracy per version" in metric and all(f">{a}<" in metric for a in ("0.91", "0.95", "0.97", "0.93"))
    assert "v3 10%" in traffic and "v2 90%" in traffic  # the canary's configured share, and the windows' rows
    assert "#f56565" in drift and "body_mass_g" in drift  # a red (drifted) cell


def test_the_dag_tab_shows_the_pipeline_of_the_dag(viewer):
    assert "Deployment history" in viewer.get("/dags/penguin_monitoring").text
    other = viewer.get("/dags/some_other_dag")
    assert other.status_code == 200 and "belongs to no MLOps pipeline" in other.text


def test_the_index_lists_pipelines(viewer):
    page = viewer.get("/").text
    assert 'href="/mlops/pipelines/penguin"' in page and "v3 at 10%" in page
    (summary,) = viewer.get("/api/pipelines").json()["pipelines"]
    assert summary["champion"] == "2" and summary["last_verdict"]["status"] == "alert"
    assert viewer.get("/pipelines/unknown").status_code == 404


def test_an_empty_root_shows_no_pipeline(tmp_path, auth_manager, token_for):
    client = TestClient(create_app("file://" + str(tmp_path / "nothing"), include=[tmp_path / "include"]), root_path="/mlops")
    response = client.get("/", headers={"Authorization": f"Bearer {token_for('viewer')}"})
    assert response.status_code == 200 and "No pipeline YAML found and nothing written under" in response.text


def test_values_are_escaped(tmp_path, auth_manager, token_for):
    root = FakeRoot("file://" + str(tmp_path / "artifacts")).write()
    record = root.store.read_json(root.uri("deployment", "record.json"))
    record["history"][0]["reason"] = "<script>alert(1)</script>"
    root.store.write_json(root.uri("deployment", "record.json"), record)
    client = TestClient(create_app(root.root, include=[]))
    page = client.get("/pipelines/penguin", headers={"Authorization": f"Bearer {token_for('viewer')}"}).text
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


@pytest.mark.parametrize(("dag_id", "pipeline"), [("penguin_training", "penguin"), ("my_model_data_arrival", "my_model"),
                                                  ("penguin_rollback", "penguin"), ("_training", None), ("other", None)])
def test_pipeline_of_dag(dag_id, pipeline):
    assert pipeline_of_dag(dag_id) == pipeline


def test_a_gcs_root(gcs_bucket, auth_manager, token_for):
    root = FakeRoot(f"gs://{gcs_bucket.name}/artifacts").write()
    client = TestClient(create_app(root.root, include=[]), root_path="/mlops")
    client.headers["Authorization"] = f"Bearer {token_for('viewer')}"
    o = client.get("/api/pipelines/penguin").json()
    assert o["aliases"] == {"champion": "2", "challenger": "3", "previous": "1"}
    assert [m["status"] for m in o["monitoring"]] == ["ok", "alert"]
    assert {r["path"] for r in o["reports"]} == set(root.reports)
    path = "monitor/w1/attempt-a/monitoring/report.html"
    assert client.get(f"/reports/penguin/{path}").text == root.reports[path]
    assert client.get("/reports/penguin/%2E%2E/%2E%2E/x.html").status_code == 400
    assert "Deployment history" in client.get("/pipelines/penguin").text
