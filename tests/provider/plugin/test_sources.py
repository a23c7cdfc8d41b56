"""The MLOps view reads each pipeline from the artifact root its DAGs write to: its YAML's (found
as the DAG files find it), the machine's when the machine sets one or the pipeline has no YAML."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fake_root import FakeRoot, write_pipeline_yaml
from fastapi.testclient import TestClient
from plugin_fixtures import auth_manager, token_db, token_for  # noqa: F401  (fixtures)

from airflow_mlops.artifacts.store import ArtifactStore
from airflow_mlops.contract import join_uri
from airflow_mlops.contract.config import pipeline_config_path
from airflow_mlops.provider.plugin import sources
from airflow_mlops.provider.plugin.app import create_app
from airflow_mlops.provider.plugin.sources import PipelineConfigs

REPORT = "evaluate/e2/attempt-a/evaluation/report.html"
LEGACY_REPORT = "evaluate/l1/attempt-a/evaluation/report.html"


@pytest.fixture
def no_machine_setting(monkeypatch):
    monkeypatch.delenv("MLOPS_ARTIFACT_ROOT", raising=False)
    monkeypatch.delenv("AIRFLOW__MLOPS__ARTIFACT_ROOT", raising=False)
    monkeypatch.delenv("MLOPS_INCLUDE_DIR", raising=False)


class Layout:
    """``penguin`` with a YAML whose ``artifact_root`` is its own root (a FakeRoot there), and
    ``legacy``, without a YAML, under the machine root; a stale penguin report under the machine
    root that the view must not serve."""

    def __init__(self, tmp: Path) -> None:
        self.include = tmp / "include"
        self.own = FakeRoot("file://" + str(tmp / "own-root")).write()
        self.yaml = write_pipeline_yaml(self.include, "penguin", self.own.root)
        self.machine_root = "file://" + str(tmp / "machine-root")
        store = ArtifactStore()
        store.write_json(join_uri(self.machine_root, "legacy", "deployment", "record.json"),
                         {"pipeline": "legacy", "champion": "7", "history": []})
        store.write_text(join_uri(self.machine_root, "legacy", LEGACY_REPORT), "legacy report")
        store.write_json(join_uri(self.machine_root, "penguin", "deployment", "record.json"),
                         {"pipeline": "penguin", "champion": "99", "history": []})
        store.write_text(join_uri(self.machine_root, "penguin", REPORT), "stale report under the machine root")

    def client(self, token: str, machine_root: bool = True) -> TestClient:
        """The view with this machine root (else the machine's setting), over this include directory."""
        app = create_app(self.machine_root if machine_root else None, include=[self.include])
        client = TestClient(app, root_path="/mlops")
        client.headers["Authorization"] = f"Bearer {token}"
        return client


@pytest.fixture
def layout(tmp_path, no_machine_setting) -> Layout:
    return Layout(tmp_path)


def test_each_pipeline_is_read_from_its_own_root(layout, token_for):
    client = layout.client(token_for("viewer"))
    listed = {p["pipeline"]: p for p in client.get("/api/pipelines").json()["pipelines"]}
    assert set(listed) == {"penguin", "legacy"}
    assert (listed["penguin"]["artifact_root"], listed["penguin"]["root_source"]) == (layout.own.root, "pipeline.yaml")
    assert listed["penguin"]["config"] == str(layout.yaml) and listed["penguin"]["config_error"] is None
    assert listed["penguin"]["champion"] == "2"  # the own root's record, not the machine root's "99"
    assert (listed["legacy"]["artifact_root"], listed["legacy"]["root_source"]) == (layout.machine_root, "machine root")
    assert listed["legacy"]["champion"] == "7" and listed["legacy"]["config"] is None
    o = client.get("/api/pipelines/penguin").json()
    assert o["artifact_root"] == layout.own.root and o["aliases"]["champion"] == "2"
    index = client.get("/").text
    assert layout.own.root in index and layout.machine_root in index and "pipeline.yaml" in index
    assert layout.own.root in client.get("/pipelines/penguin").text
    assert "Deployment history" in client.get("/dags/legacy_training").text


def test_a_report_of_a_pipeline_with_its_own_root_is_served_from_there(layout, token_for):
    client = layout.client(token_for("viewer"))
    response = client.get(f"/reports/penguin/{REPORT}")
    assert response.status_code == 200 and response.text == layout.own.reports[REPORT]
    assert client.get(f"/reports/legacy/{LEGACY_REPORT}").text == "legacy report"


@pytest.mark.parametrize("path", ["%2E%2E/%2E%2E/secret.html", "evaluate/%2E%2E/%2E%2E/%2E%2E/secret.html",
                                  "%2E%2E/legacy/" + LEGACY_REPORT, "link.html"])
def test_a_path_out_of_the_pipelines_own_root_is_refused(layout, token_for, tmp_path, path):
    (tmp_path / "secret.html").write_text("secret")
    os.symlink(tmp_path / "secret.html", Path(layout.own.root.removeprefix("file://")) / "penguin" / "link.html")
    response = layout.client(token_for("admin")).get(f"/reports/penguin/{path}")
    assert 400 <= response.status_code < 500, (path, response.status_code)
    assert "secret" not in response.text.replace("secret.html", "") and "legacy report" not in response.text


def test_a_report_of_one_pipeline_is_not_served_through_anothers_name(layout, token_for):
    client = layout.client(token_for("admin"))
    assert client.get(f"/reports/legacy/{REPORT}").status_code == 404  # penguin's path, under legacy's directory
    assert client.get(f"/reports/legacy/%2E%2E/penguin/{REPORT}").status_code == 400
    assert client.get(f"/reports/penguin/{LEGACY_REPORT}").status_code == 404


def test_a_pipeline_whose_root_lies_in_another_pipelines_directory_cannot_reach_into_it(layout, token_for):
    # "evaluate"'s root is penguin's directory, so its own directory is penguin's evaluate/
    write_pipeline_yaml(layout.include, "evaluate", join_uri(layout.own.root, "penguin"))
    client = layout.client(token_for("admin"))
    assert client.get(f"/reports/evaluate/{REPORT.removeprefix('evaluate/')}").status_code == 400
    assert client.get(f"/reports/penguin/{REPORT}").status_code == 400  # nested both ways: served for neither
    assert client.get(f"/reports/legacy/{LEGACY_REPORT}").status_code == 200


def test_the_machines_setting_wins_over_the_yaml_as_in_the_dag_factory(layout, token_for, monkeypatch, tmp_path):
    override = FakeRoot("file://" + str(tmp_path / "override")).write()
    monkeypatch.setenv("MLOPS_ARTIFACT_ROOT", override.root)
    client = layout.client(token_for("viewer"), machine_root=False)
    listed = {p["pipeline"]: p for p in client.get("/api/pipelines").json()["pipelines"]}
    assert set(listed) == {"penguin"}  # legacy is under the machine root that is no longer the machine's
    assert (listed["penguin"]["artifact_root"], listed["penguin"]["root_source"]) == (override.root, "$MLOPS_ARTIFACT_ROOT")
    monkeypatch.delenv("MLOPS_ARTIFACT_ROOT")
    monkeypatch.setenv("AIRFLOW__MLOPS__ARTIFACT_ROOT", override.root)
    (penguin,) = layout.client(token_for("viewer"), machine_root=False).get("/api/pipelines").json()["pipelines"]
    assert (penguin["artifact_root"], penguin["root_source"]) == (override.root, "[mlops] artifact_root")


def test_a_yaml_that_does_not_load_lists_its_pipeline_with_the_error(layout, token_for):
    broken = layout.include / "broken" / "pipeline.yaml"
    broken.parent.mkdir()
    broken.write_text("pipeline: broken\ndata: {source: data.csv, label: y}\nfeatures: {x: float}\n")
    (layout.include / "garbled").mkdir()
    (layout.include / "garbled" / "pipeline.yaml").write_text("pipeline: [unclosed\n")
    client = layout.client(token_for("viewer"))
    listed = {p["pipeline"]: p for p in client.get("/api/pipelines").json()["pipelines"]}
    assert set(listed) == {"penguin", "legacy", "broken", "garbled"}
    assert "features.x.type: must be one of" in listed["broken"]["config_error"]
    assert "not valid YAML" in listed["garbled"]["config_error"]
    assert listed["broken"]["artifact_root"] == layout.machine_root and listed["broken"]["config"] == str(broken)
    assert listed["penguin"]["config_error"] is None
    assert "features.x.type: must be one of" in client.get("/").text
    page = client.get("/pipelines/broken")
    assert page.status_code == 200 and "config error" in page.text and "features.x.type" in page.text


def test_a_configured_pipeline_is_listed_before_it_wrote_anything(layout, token_for, tmp_path):
    write_pipeline_yaml(layout.include, "fresh", f"file://{tmp_path}/nothing-yet")
    client = layout.client(token_for("viewer"))
    fresh = {p["pipeline"]: p for p in client.get("/api/pipelines").json()["pipelines"]}["fresh"]
    assert fresh["artifact_root"] == f"file://{tmp_path}/nothing-yet" and fresh["champion"] is None
    assert client.get("/api/pipelines/fresh").json()["versions"] == []


def test_the_yamls_are_found_where_the_dag_files_find_them(tmp_path, monkeypatch, no_machine_setting, auth_manager, token_for):
    """``$MLOPS_INCLUDE_DIR``, then ``include/`` next to the DAGs folder, then inside it: the first that has a pipeline."""
    dags = tmp_path / "project" / "dags"
    dags.mkdir(parents=True)
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(dags))
    env_include, beside, inside = tmp_path / "env-include", tmp_path / "project" / "include", dags / "include"
    write_pipeline_yaml(env_include, "a", "file:///roots/env")
    write_pipeline_yaml(beside, "a", "file:///roots/beside-a")
    write_pipeline_yaml(beside, "b", "file:///roots/beside-b")
    write_pipeline_yaml(inside, "b", "file:///roots/inside-b")
    write_pipeline_yaml(inside, "c", "file:///roots/inside-c")
    monkeypatch.setenv("MLOPS_INCLUDE_DIR", str(env_include))
    client = TestClient(create_app(), root_path="/mlops")
    response = client.get("/api/pipelines", headers={"Authorization": f"Bearer {token_for('viewer')}"}).json()
    roots = {p["pipeline"]: (p["artifact_root"], p["config"]) for p in response["pipelines"]}
    assert roots == {"a": ("file:///roots/env", str(env_include / "a" / "pipeline.yaml")),
                     "b": ("file:///roots/beside-b", str(beside / "b" / "pipeline.yaml")),
                     "c": ("file:///roots/inside-c", str(inside / "c" / "pipeline.yaml"))}
    for name, (_, config) in roots.items():  # the DAG factory's own function agrees
        assert str(pipeline_config_path(dags / f"{name}_training.py", name)) == config
    assert response["include_dirs"] == [str(env_include), str(beside), str(inside)]
    assert response["artifact_root"] == f"file://{tmp_path}/project/.mlops/artifacts"


def test_the_pipeline_name_is_the_yamls_not_its_directorys(layout, token_for, tmp_path):
    renamed = FakeRoot(f"file://{tmp_path}/renamed-root", pipeline="renamed").write()
    write_pipeline_yaml(layout.include, "renamed", renamed.root, directory="folder")
    client = layout.client(token_for("viewer"))
    listed = [p["pipeline"] for p in client.get("/api/pipelines").json()["pipelines"]]
    assert "renamed" in listed and "folder" not in listed
    o = client.get("/api/pipelines/renamed").json()
    assert o["champion"] == "2" and o["versions"][0]["lineage"]["dag_run"]["dag_id"] == "renamed_training"
    assert client.get(f"/reports/renamed/{REPORT}").text == renamed.reports[REPORT]


def test_yamls_are_listed_once_per_ttl_and_parsed_again_only_when_changed(tmp_path, monkeypatch):
    loads: list[Path] = []
    real_load = sources.load_pipeline_config
    monkeypatch.setattr(sources, "load_pipeline_config", lambda path: loads.append(Path(path)) or real_load(path))
    now = [0.0]
    configs = PipelineConfigs([tmp_path], ttl=30, clock=lambda: now[0])
    first = write_pipeline_yaml(tmp_path, "first", "gs://b/one")
    assert [f.pipeline for f in configs.found()] == ["first"] and loads == [first]
    second = write_pipeline_yaml(tmp_path, "second")
    now[0] = 29.0
    assert [f.pipeline for f in configs.found()] == ["first"]  # not listed again within the TTL
    now[0] = 30.0
    assert [f.pipeline for f in configs.found()] == ["first", "second"] and loads == [first, second]
    first.write_text(first.read_text().replace("gs://b/one", "gs://b/two-changed"))
    now[0] = 60.0
    (changed, _) = configs.found()
    assert loads == [first, second, first] and changed.config is not None
    assert changed.config.artifact_root_uri == "gs://b/two-changed"
