"""Provider registration: Airflow finds the package through its entry point."""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
import textwrap
import tomllib
from importlib.metadata import entry_points, version
from pathlib import Path

import pytest
from conftest import AIRFLOW_BIN, REPO

from airflow_mlops.get_provider_info import AIRFLOW_REQUIREMENT, get_provider_info
from airflow_mlops.provider.compat import AIRFLOW_V_3_2_PLUS, MIN_AIRFLOW_VERSION


def test_entry_point_and_provider_info():
    (ep,) = [e for e in entry_points(group="apache_airflow_provider") if e.value.startswith("airflow_mlops")]
    info = ep.load()()
    assert info == get_provider_info()
    assert info["package-name"] == "airflow-mlops"
    assert info["versions"] == [version("airflow-mlops")]
    for kind in ("operators", "sensors", "triggers", "hooks"):
        for group in info[kind]:
            for module in group["python-modules"]:
                importlib.import_module(module)
    assert info["sensors"][0]["python-modules"] == ["airflow_mlops.provider.sensors.new_data"]
    assert info["triggers"][0]["python-modules"] == ["airflow_mlops.provider.triggers.new_data", "airflow_mlops.provider.triggers.remote_job"]
    assert info["hooks"][0]["python-modules"] == ["airflow_mlops.provider.hooks.mlflow", "airflow_mlops.provider.hooks.storage"]
    from airflow_mlops.provider.links import LINK_CLASSES

    assert info["extra-links"] == list(LINK_CLASSES)
    assert len(LINK_CLASSES) == 6
    assert set(info["config"]["mlops"]["options"]) == {"runtime_python", "artifact_root", "tracking_uri", "runtime_image", "alert_webhook"}


def test_provider_info_matches_airflows_schema():
    import airflow
    import jsonschema

    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_connection_types_name_their_hooks():
    for entry in get_provider_info()["connection-types"]:
        module, name = entry["hook-class-name"].rsplit(".", 1)
        hook = getattr(importlib.import_module(module), name)
        assert (hook.conn_type, hook.hook_name) == (entry["connection-type"], entry["hook-name"])
    (mlflow,) = get_provider_info()["connection-types"]
    assert set(mlflow["conn-fields"]) == {"tracking_uri", "token", "insecure_tls"}
    assert mlflow["conn-fields"]["token"]["schema"]["format"] == "password"  # masked in the UI


def airflow_json(env: dict[str, str], *command: str) -> list[dict]:
    result = subprocess.run(
        [str(AIRFLOW_BIN), "providers", *command, "--output", "json"], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout[result.stdout.index("[") :])


def test_the_supported_airflow_range_is_declared_once():
    """pyproject's airflow extra, the provider info, the compat module and the lowest-Airflow lock agree."""
    extra = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["airflow"]
    assert AIRFLOW_REQUIREMENT in extra
    info = get_provider_info()
    assert info["dependencies"] == [AIRFLOW_REQUIREMENT]
    assert AIRFLOW_REQUIREMENT in info["description"]
    assert AIRFLOW_REQUIREMENT.startswith(f"apache-airflow>={MIN_AIRFLOW_VERSION},")
    pins = dict(re.findall(r"^(apache-airflow)==(\S+)$", (REPO / "requirements" / "airflow-min.lock.txt").read_text(), re.M))
    assert pins == {"apache-airflow": MIN_AIRFLOW_VERSION}


def test_airflow_providers_hooks_shows_the_mlflow_connection_type(airflow_env):
    hooks = {h["connection_type"]: h for h in airflow_json(airflow_env, "hooks")}
    assert hooks["mlflow"]["class"] == "airflow_mlops.provider.hooks.mlflow.MlflowHook"
    assert hooks["mlflow"]["package_name"] == "airflow-mlops"


@pytest.mark.skipif(not AIRFLOW_V_3_2_PLUS, reason="Airflow < 3.2 builds the CLI's widgets and behaviours from "
                    "the hook's WTForms fields, and WTForms (Flask-AppBuilder) is not installed with Airflow 3; "
                    "the UI's form is tested by test_the_ui_shows_the_mlflow_connection_form on every version")
def test_airflow_providers_widgets_and_behaviours_show_the_mlflow_form(airflow_env):
    widgets = {w["connection_parameter_name"] for w in airflow_json(airflow_env, "widgets")}
    assert {"extra__mlflow__tracking_uri", "extra__mlflow__token", "extra__mlflow__insecure_tls"} <= widgets
    behaviours = {b["field_behaviours"] for b in airflow_json(airflow_env, "behaviours")}
    assert "mlflow" in behaviours


UI_FORM_PROBE = textwrap.dedent(
    """
    import json
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService
    (meta,) = [h for h in HookMetaService.hook_meta_data() if h.connection_type == "mlflow"]
    print(json.dumps(meta.model_dump(mode="json"), default=str))
    """
)


def test_the_ui_shows_the_mlflow_connection_form(airflow_env):
    """The connection form Airflow's UI gets for type mlflow: the provider info's conn-fields and
    ui-field-behaviour (Airflow >= 3.2 reads them; 3.1 asks the hook, which builds them from the same)."""
    result = subprocess.run([sys.executable, "-c", UI_FORM_PROBE], env=airflow_env, capture_output=True, text=True,
                            timeout=300, cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    meta = json.loads(result.stdout.strip().splitlines()[-1])
    (declared,) = get_provider_info()["connection-types"]
    shown = {
        name: (f["schema"].get("title"), f["schema"]["type"], f["schema"].get("format"), f["value"], f["description"])
        for name, f in meta["extra_fields"].items()
    }
    assert shown == {
        name: (d["label"], d["schema"]["type"], d["schema"].get("format"), d["schema"].get("default"), d.get("description"))
        for name, d in declared["conn-fields"].items()
    }
    behaviour = declared["ui-field-behaviour"]
    standard = meta["standard_fields"]
    names = {"url_schema": "schema", "host": "host", "port": "port", "login": "login", "password": "password"}
    for field, name in names.items():
        assert standard[field]["title"] == behaviour["relabeling"].get(name), field
        assert standard[field]["placeholder"] == behaviour["placeholders"].get(name), field
        assert standard[field]["hidden"] is (name in behaviour["hidden-fields"]), field


def test_airflow_providers_links_lists_the_step_links(airflow_env):
    """Airflow's ProvidersManager imports every class of the provider info's ``extra-links``."""
    links = airflow_json(airflow_env, "links")
    ours = sorted(link["extra_link_class_name"] for link in links if "airflow_mlops" in json.dumps(link))
    assert ours == sorted(f"airflow_mlops.provider.links.{name}" for name in (
        "ReportLink", "ModelVersionLink", "MlflowRunLink", "VertexJobLink", "GkePodLink", "DataflowJobLink"))


def test_airflow_providers_list_shows_the_package(airflow_env):
    result = subprocess.run(
        [str(AIRFLOW_BIN), "providers", "list", "--output", "json"], env=airflow_env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    providers = {p["package_name"]: p["version"] for p in json.loads(result.stdout[result.stdout.index("[") :])}
    assert providers.get("airflow-mlops") == version("airflow-mlops"), sorted(providers)
