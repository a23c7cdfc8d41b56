"""`make demo-loop` starts from a state of its own (scripts/demo_loop.py): whatever an earlier loop
or `make demo` left - labelled traffic that became training data, landed files, a champion - the
loop's pipeline neither reads nor changes it, and a second loop does not see the first one's."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from demo_loop import fresh_loop  # noqa: E402  (scripts/ is not a package)
from project_copy import own_environment  # noqa: E402

from airflow_mlops.contract.config import load_pipeline_config  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def test_the_loops_pipeline_keeps_every_state_under_its_own_directory(tmp_path):
    loop = tmp_path / "loop"
    config = load_pipeline_config(fresh_loop(loop, 3123))
    mine = f"file://{loop}"
    assert config.artifact_root_uri == f"{mine}/artifacts"
    assert config.registry.tracking_uri == f"sqlite:///{loop}/mlflow.db"
    assert config.landing_uri == f"{mine}/landing"
    assert config.source_uris == ["package://palmerpenguins/data/penguins.csv", str(loop / "landing")]
    assert config.deployment.serving.port == 3123
    assert sorted(p.name for p in (loop / "project" / "dags").iterdir()) == [
        "penguin_data_arrival.py", "penguin_monitoring.py", "penguin_promotion.py", "penguin_training.py"]
    # the rest of the pipeline is the repository's
    original = load_pipeline_config(REPO / "include" / "penguin" / "pipeline.yaml")
    assert config.features == original.features and config.training == original.training
    assert config.data.include_feedback and config.evaluation == original.evaluation


def test_a_second_loop_does_not_see_what_the_first_left(tmp_path):
    loop = tmp_path / "loop"
    fresh_loop(loop, 3123)
    left = [loop / "artifacts" / "penguin" / "feedback" / "drifted.csv", loop / "landing" / "batch-1.csv",
            loop / "artifacts" / "penguin" / "deployment" / "record.json", loop / "mlflow.db"]
    for path in left:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("from the first loop\n")
    config = fresh_loop(loop, 3124)
    assert [p for p in left if p.exists()] == []
    assert load_pipeline_config(config).deployment.serving.port == 3124


def test_the_machines_settings_do_not_reach_the_loop(tmp_path, monkeypatch):
    monkeypatch.setenv("MLOPS_ARTIFACT_ROOT", "gs://production/mlops")
    monkeypatch.setenv("AIRFLOW__MLOPS__TRACKING_URI", "http://mlflow.example")
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(REPO / "dags"))
    env = own_environment(tmp_path / "airflow", tmp_path / "project", MLOPS_SERVING_POLL_SECONDS="2")
    assert "MLOPS_ARTIFACT_ROOT" not in env and "AIRFLOW__MLOPS__TRACKING_URI" not in env
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(tmp_path / "project" / "dags")
    assert env["AIRFLOW_HOME"] == str(tmp_path / "airflow") and env["MLOPS_SERVING_POLL_SECONDS"] == "2"
