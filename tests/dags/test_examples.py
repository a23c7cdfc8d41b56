"""The example pipelines' own models through `airflow dags test`: the diabetes regression (its
wide-and-deep module) and the penguins with their custom module, each trained, blessed,
registered, answering test rows in a real prediction server and deployed."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import AIRFLOW_BIN, REPO, registry_champion


def _dags_test(env: dict, *args: str) -> str:
    result = subprocess.run([str(AIRFLOW_BIN), "dags", "test", *args], env=env, capture_output=True, text=True, timeout=1200, cwd=REPO)
    return result.stdout + result.stderr


def _records(env: dict, pipeline: str) -> dict[str, dict]:
    root = Path(env["MLOPS_ARTIFACT_ROOT"].removeprefix("file://"))
    return {p.parent.parent.name: json.loads(p.read_text()) for p in root.glob(f"{pipeline}/*/*/execution.json")}


def test_the_diabetes_regression_runs_end_to_end(airflow_env):
    log = _dags_test(airflow_env, "diabetes_training", "2026-01-05")
    assert "state=success" in log, log[-6000:]
    assert "training module: model.py (task regression)" in log
    assert "BLESSED: all checks passed" in log
    assert "registered diabetes version 1" in log
    assert "answered 21 requests" in log  # infra validation: numeric answers from a real server
    assert "bootstrap: version 1; champion 1, canary none" in log
    records = _records(airflow_env, "diabetes")
    evaluation = records["evaluate"]["metrics"]
    assert evaluation["r2"] >= 0.25 and evaluation["rmse"] <= 66 and evaluation["blessed"] is True
    assert records["ingest"]["metrics"]["rows"] == 442
    model = Path(records["train"]["outputs"]["model"]["uri"].removeprefix("file://"))
    assert (model / "training_module.py").read_text() == (REPO / "include" / "diabetes" / "model.py").read_text()
    assert registry_champion(airflow_env["MLOPS_TRACKING_URI"], "diabetes") == "1"


@pytest.fixture
def custom_penguins(tmp_path, airflow_env) -> dict:
    """The penguin pipeline as `penguin_custom`, with `training.module: model.py` (the example's
    module, copied next to the YAML) and its own registered model."""
    project = tmp_path / "project"
    (project / "include" / "penguin_custom").mkdir(parents=True)
    (project / "dags").mkdir()
    config = (REPO / "include" / "penguin" / "pipeline.yaml").read_text()
    assert "  # module: model.py" in config and "model_name: penguin " in config
    config = (
        config.replace("pipeline: penguin", "pipeline: penguin_custom")
        .replace("  # module: model.py", "  module: model.py")
        .replace("model_name: penguin ", "model_name: penguin_custom ")
        .replace("schema: include/penguin/schema.pbtxt", f"schema: {REPO / 'include' / 'penguin' / 'schema.pbtxt'}")
        .replace("package://palmerpenguins/data/penguins.csv",
                 str(next((REPO / ".venv-runtime").glob("lib/python3.11/site-packages/palmerpenguins/data/penguins.csv"))))
    )
    (project / "include" / "penguin_custom" / "pipeline.yaml").write_text(config)
    shutil.copy(REPO / "include" / "penguin" / "model.py", project / "include" / "penguin_custom" / "model.py")
    (project / "dags" / "penguin_custom_training.py").write_text(
        (REPO / "dags" / "penguin_training.py").read_text().replace('"penguin"', '"penguin_custom"')
    )
    return {**airflow_env, "AIRFLOW__CORE__DAGS_FOLDER": str(project / "dags")}


def test_the_penguins_custom_module_is_trained_registered_and_served(custom_penguins):
    log = _dags_test(custom_penguins, "penguin_custom_training", "2026-01-05")
    assert "state=success" in log, log[-6000:]
    assert "training module: model.py (task classification)" in log
    assert "registered penguin_custom version 1" in log
    assert "answered 21 requests" in log  # the server loaded the model with its BillShape layer
    assert registry_champion(custom_penguins["MLOPS_TRACKING_URI"], "penguin_custom") == "1"
