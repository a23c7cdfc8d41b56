"""The MLOps view's registration: provider info -> plugin -> FastAPI app and UI entries, the app
built on the first request, and modules light enough for the scheduler and the DAG processor."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

from fake_root import FakeRoot
from fastapi.testclient import TestClient
from plugin_fixtures import auth_manager, client, fake_root, token_db, token_for  # noqa: F401  (fixtures)

from airflow_mlops.get_provider_info import get_provider_info

HEAVY = ["tensorflow", "tensorflow_data_validation", "apache_beam", "evidently", "bentoml", "mlflow", "pandas"]


def plugin_class():
    (entry,) = get_provider_info()["plugins"]
    module, name = entry["plugin-class"].rsplit(".", 1)
    return entry, getattr(importlib.import_module(module), name)


def test_the_provider_info_registers_a_valid_plugin():
    from airflow.plugins_manager import AirflowPlugin
    from airflow.providers_manager import ProvidersManager

    entry, plugin = plugin_class()
    assert entry["name"] == plugin.name == "mlops_view"
    assert issubclass(plugin, AirflowPlugin)
    plugin.validate()
    manager = ProvidersManager()
    manager.initialize_providers_plugins()  # what the plugins manager asks the providers for
    assert [(p.name, p.provider_name) for p in manager.plugins if p.plugin_class == entry["plugin-class"]] == [
        ("mlops_view", "airflow-mlops")]
    # ... which Airflow loads only with [core] lazy_discover_providers = False; the entry point always
    (entry_point,) = [e for e in entry_points(group="airflow.plugins") if e.value.startswith("airflow_mlops")]
    assert entry_point.load() is plugin
    (app,) = plugin.fastapi_apps
    assert app["url_prefix"] == "/mlops"


def test_the_external_views_are_what_airflows_ui_reads():
    """Checked with the API server's own response model of this Airflow (3.1.8 or 3.3)."""
    from airflow.api_fastapi.core_api.datamodels.plugins import ExternalViewResponse

    _, plugin = plugin_class()
    views = {v["destination"]: ExternalViewResponse.model_validate(v) for v in plugin.external_views}
    assert set(views) == {"nav", "dag"}
    assert views["nav"].href == "/mlops/" and views["nav"].name == "MLOps"
    assert views["dag"].href == "/mlops/dags/{DAG_ID}"  # the UI fills in the DAG id
    assert len({v.url_route for v in views.values()}) == 2


def test_the_app_is_built_on_the_first_request(fake_root: FakeRoot, monkeypatch, token_for, tmp_path):
    from airflow_mlops.provider.plugin.plugin import LazyApp

    monkeypatch.setenv("MLOPS_ARTIFACT_ROOT", fake_root.root)
    monkeypatch.delenv("MLOPS_INCLUDE_DIR", raising=False)
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(tmp_path / "dags"))  # no include/ there: no pipeline YAML
    app = LazyApp("airflow_mlops.provider.plugin.app:create_app")
    assert app._app is None
    client = TestClient(app, root_path="/mlops")
    assert client.get("/api/pipelines").status_code == 401
    response = client.get("/api/pipelines", headers={"Authorization": f"Bearer {token_for('viewer')}"})
    assert response.json()["artifact_root"] == fake_root.root
    assert [p["pipeline"] for p in response.json()["pipelines"]] == ["penguin"]


def test_the_default_root_is_next_to_the_dags_folder(monkeypatch, tmp_path):
    from airflow_mlops.provider.plugin.app import configured_artifact_root

    monkeypatch.delenv("MLOPS_ARTIFACT_ROOT", raising=False)
    monkeypatch.delenv("AIRFLOW__MLOPS__ARTIFACT_ROOT", raising=False)
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(tmp_path / "dags"))
    assert configured_artifact_root() == f"file://{tmp_path}/.mlops/artifacts"
    monkeypatch.setenv("AIRFLOW__MLOPS__ARTIFACT_ROOT", "gs://bucket/mlops/")
    assert configured_artifact_root() == "gs://bucket/mlops"


PROBE = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    heavy = json.loads(sys.argv[1])
    import airflow_mlops.provider.plugin.plugin
    after_plugin = [m for m in heavy + ["fastapi"] if m in sys.modules]
    import airflow_mlops.provider.plugin.app
    after_app = [m for m in heavy if m in sys.modules]
    from airflow_mlops.provider.plugin.sources import PipelineConfigs, yaml_sources
    found = PipelineConfigs([Path(sys.argv[2])]).found()
    assert [f.pipeline for f in found if f.config] == ["diabetes", "penguin"], found
    yaml_sources(found, "file:///machine-root", "machine root")
    after_yamls = [m for m in heavy if m in sys.modules]
    print(json.dumps({"plugin": after_plugin, "app": after_app, "yamls": after_yamls}))
    """
)


def test_the_plugin_and_the_app_import_nothing_heavy():
    """... nor does loading the pipeline YAMLs (this repository's) and resolving their roots."""
    include = Path(__file__).resolve().parents[3] / "include"
    result = subprocess.run([sys.executable, "-c", PROBE, json.dumps(HEAVY), str(include)], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded == {"plugin": [], "app": [], "yamls": []}
