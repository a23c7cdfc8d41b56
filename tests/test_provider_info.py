"""Provider registration: Airflow finds the package through its entry point."""

from __future__ import annotations

import importlib
import json
import subprocess
from importlib.metadata import entry_points, version

from conftest import AIRFLOW_BIN

from airflow_mlops.get_provider_info import get_provider_info


def test_entry_point_and_provider_info():
    (ep,) = [e for e in entry_points(group="apache_airflow_provider") if e.value.startswith("airflow_mlops")]
    info = ep.load()()
    assert info == get_provider_info()
    assert info["package-name"] == "airflow-mlops"
    assert info["versions"] == [version("airflow-mlops")]
    for group in info["operators"]:
        for module in group["python-modules"]:
            importlib.import_module(module)
    assert set(info["config"]["mlops"]["options"]) == {"runtime_python", "artifact_root", "tracking_uri", "alert_webhook"}


def test_airflow_providers_list_shows_the_package(airflow_env):
    result = subprocess.run(
        [str(AIRFLOW_BIN), "providers", "list", "--output", "json"], env=airflow_env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    providers = {p["package_name"]: p["version"] for p in json.loads(result.stdout[result.stdout.index("[") :])}
    assert providers.get("airflow-mlops") == version("airflow-mlops"), sorted(providers)
