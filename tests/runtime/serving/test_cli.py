"""The server CLI as an operator runs it: ``python -m airflow_mlops.runtime.serving start|status|stop
--pipeline <yaml>``, on a copy of the penguin pipeline YAML in a project of its own, against the
registry of the serving tests; ``$MLOPS_SERVING_PIN_VERSION`` pins the version it serves."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from serving_helpers import ROW

from airflow_mlops.runtime.components.infra_validate import free_port
from airflow_mlops.runtime.serving.config import CONFIG_ENV
from airflow_mlops.runtime.serving.server import http_post_json

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def project(tmp_path) -> Path:
    """A project with the penguin pipeline YAML and schema: its state goes to ``.mlops/serving/penguin``."""
    for name in ("pipeline.yaml", "schema.pbtxt"):
        target = tmp_path / "include" / "penguin" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / "include" / "penguin" / name, target)
    return tmp_path


def cli(project: Path, env: dict, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "airflow_mlops.runtime.serving", *args, "--pipeline", str(project / "include/penguin/pipeline.yaml")],
        env=env, capture_output=True, text=True, timeout=timeout, cwd=project,
    )


def server_processes(project: Path) -> list[int]:
    """The running processes of this project's server (they have its config file in their environment)."""
    import psutil

    config = str(project / ".mlops" / "serving" / "penguin" / "config.json")
    found = []
    for p in psutil.process_iter():
        try:
            if p.environ().get(CONFIG_ENV) == config and p.status() != psutil.STATUS_ZOMBIE:
                found.append(p.pid)
        except psutil.Error:
            pass
    return found


def environment(artifact_root: str, tracking_uri: str, **extra: str) -> dict[str, str]:
    return {**os.environ, "MLOPS_ARTIFACT_ROOT": artifact_root, "MLOPS_TRACKING_URI": tracking_uri,
            "MLOPS_SERVING_PORT": str(free_port()), "MLOPS_SERVING_POLL_SECONDS": "0.3", **extra}


def test_start_status_stop_of_a_server_pinned_to_a_version(models, rollout, project):
    record = rollout.record()
    if record.canary is not None:
        rollout.reject_canary("test reset")
    if record.champion != "1":
        rollout.promote("1", "test reset")
    env = environment(models.root, models.tracking_uri, MLOPS_SERVING_PIN_VERSION="2")
    url = f"http://127.0.0.1:{env['MLOPS_SERVING_PORT']}"
    started = cli(project, env, "start", "--wait", "180")
    try:
        assert started.returncode == 0, started.stdout + started.stderr[-3000:]
        assert f"serving penguin at {url} (pid " in started.stdout
        assert len(server_processes(project)) >= 1

        # Pinned: version 2 answers although the registry's champion is version 1.
        code, answers = http_post_json(url + "/predict", {"instances": [ROW] * 3})
        assert code == 200 and {(a["model_version"], a["model_role"]) for a in answers} == {("2", "champion")}

        status = cli(project, env, "status")
        assert status.returncode == 0, status.stderr[-3000:]
        shown = json.loads(status.stdout)
        assert shown["server"]["champion"] == "2" and shown["server"]["served_rows"] == 3
        assert shown["deployment_record"]["champion"] == "1"

        again = cli(project, env, "start", "--wait", "180")
        assert again.returncode == 0 and "already running" in again.stdout
    finally:
        stopped = cli(project, env, "stop")
    assert stopped.returncode == 0 and stopped.stdout.startswith("stopped (pid "), stopped.stdout + stopped.stderr
    assert server_processes(project) == []
    assert not (project / ".mlops" / "serving" / "penguin" / "server.pid").exists()
    assert "not reachable" in json.loads(cli(project, env, "status").stdout)["server"]
    assert cli(project, env, "stop").stdout.strip() == "not running"


def test_a_start_that_never_gets_healthy_stops_what_it_started(project):
    """Half a second is too short for any server to come up: ``start`` fails, says why and leaves
    no server process behind (one that came up later would serve with nobody knowing)."""
    env = environment(f"file://{project}/artifacts", f"sqlite:///{project}/mlflow.db")
    started = cli(project, env, "start", "--wait", "0.5")
    assert started.returncode != 0
    assert "the prediction server was not up after" in started.stderr, started.stderr[-3000:]
    assert server_processes(project) == []
    assert not (project / ".mlops" / "serving" / "penguin" / "server.pid").exists()
