"""The diabetes example through `airflow dags test`: its own training module (wide and deep), a
regression, trained, blessed, registered, answering test rows in a real prediction server
(infra validation) and deployed. (The penguins' custom module - a layer of its own, loaded in a
fresh interpreter as the server loads it - is tested in tests/runtime/components/test_training_module.py.)"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

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
