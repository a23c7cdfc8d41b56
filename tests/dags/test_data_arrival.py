"""penguin_data_arrival end to end, with `airflow dags test` in a project of its own: a CSV that
lands in the landing directory is found by the DAG's sensor, claimed, ingested and announced as
an event of the new-examples Asset; the next run claims only what landed after it (found by the
deferred sensor's trigger), never the first batch again."""

from __future__ import annotations

import csv
import json
import re
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from conftest import AIRFLOW_BIN, REPO

DAG_ID = "penguin_data_arrival"
NEW_EXAMPLES = "mlops://penguin/new_examples"


@pytest.fixture
def arrival(airflow_env, tmp_path):
    """``airflow_env`` with a project and an artifact root of its own (the training tests' landing
    directory stays empty), the sensor looking every second; its env, landing directory and root."""
    project = tmp_path / "project"
    shutil.copytree(REPO / "include", project / "include")
    config = project / "include" / "penguin" / "pipeline.yaml"
    data = yaml.safe_load(config.read_text())
    data["monitoring"]["poll_seconds"] = 1
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    landing = project / ".mlops" / "landing" / "penguin"
    landing.mkdir(parents=True)
    root = tmp_path / "artifacts"
    env = {**airflow_env, "MLOPS_INCLUDE_DIR": str(project / "include"), "MLOPS_ARTIFACT_ROOT": f"file://{root}"}
    return env, landing, root


def _land(path: Path, rows: slice) -> int:
    """Penguin rows ``rows`` as a CSV at ``path``, written under a partial name and renamed (as an
    upload tool does); the number of rows."""
    source = next((REPO / ".venv-runtime").glob("lib/python3.11/site-packages/palmerpenguins/data/penguins.csv"))
    with source.open() as f:
        reader = csv.DictReader(f)
        fields, selected = reader.fieldnames, list(reader)[rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    with partial.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(selected)
    partial.rename(path)
    return len(selected)


def _dags_test(env: dict, log: Path) -> subprocess.Popen:
    """`airflow dags test` of the DAG, its output to ``log`` (a pipe nobody reads would fill up
    and stop the run)."""
    with log.open("w") as out:
        return subprocess.Popen([str(AIRFLOW_BIN), "dags", "test", DAG_ID], env=env, stdout=out,
                                stderr=subprocess.STDOUT, text=True, cwd=REPO)


def _finished(proc: subprocess.Popen, log: Path) -> tuple[str, str]:
    """The run's log and run id, once it succeeded."""
    try:
        proc.wait(timeout=600)
    finally:
        proc.kill()
    text = log.read_text()
    assert proc.returncode == 0 and "state=success" in text, text[-6000:]
    return text, re.search(r"DagRun Finished: .*?run_id=([^,]+),", text).group(1)


def _query(env: dict, sql: str, *args: str) -> list[tuple]:
    """Rows from Airflow's metadata database (the SQLite file of airflow_env's home)."""
    with sqlite3.connect(Path(env["AIRFLOW_HOME"]) / "airflow.db", timeout=30) as db:
        return db.execute(sql, args).fetchall()


def _announced(env: dict, run_id: str) -> list[dict]:
    """The extras of the new-examples Asset events run ``run_id`` emitted."""
    rows = _query(env, "SELECT e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id "
                       "WHERE a.uri = ? AND e.source_dag_id = ? AND e.source_run_id = ?", NEW_EXAMPLES, DAG_ID, run_id)
    return [json.loads(extra) for (extra,) in rows]


def _wait_until_deferred(proc: subprocess.Popen, log: Path) -> str:
    """The id of the run, once its sensor is deferred and its trigger runs (in line, as `dags
    test` runs triggers; its task state in the database says queued meanwhile)."""
    deadline = time.monotonic() + 300
    while "[DAG TEST] running trigger in line" not in (text := log.read_text()):
        assert proc.poll() is None, f"the run ended without deferring:\n{text[-6000:]}"
        assert time.monotonic() < deadline, f"the sensor was not deferred within 300 s:\n{text[-6000:]}"
        time.sleep(0.5)
    return re.search(r"Pausing task as DEFERRED\..*? run_id=(\S+) task_id=wait_for_new_data", text).group(1)


def test_a_landed_csv_is_claimed_ingested_and_announced_and_never_claimed_again(arrival, tmp_path):
    env, landing, root = arrival
    logs = tmp_path / "run-1.log", tmp_path / "run-2.log"
    first = landing / "2026-03-01" / "a.csv"
    first_rows = _land(first, slice(0, 30))

    log, run_1 = _finished(_dags_test(env, logs[0]), logs[0])
    assert f"claimed 1 object(s) under file://{landing}" in log
    [event] = _announced(env, run_1)
    assert (event["objects"], event["rows"]) == ([f"file://{first}"], first_rows)
    examples = Path(event["examples_uri"].removeprefix("file://"))
    assert examples.is_relative_to(root)
    assert sorted(p.name for p in examples.iterdir()) == ["eval.parquet", "test.parquet", "train.parquet"]

    # The next run finds nothing unclaimed and waits in its trigger; a second file lands then.
    proc = _dags_test(env, logs[1])
    run_2 = _wait_until_deferred(proc, logs[1])
    assert run_2 != run_1
    second = landing / "2026-03-02" / "b.csv"
    second_rows = _land(second, slice(100, 120))
    log, finished = _finished(proc, logs[1])
    assert finished == run_2
    [event] = _announced(env, run_2)
    assert (event["objects"], event["rows"]) == ([f"file://{second}"], second_rows)

    state = json.loads((root / "penguin" / "landing" / "state.json").read_text())
    assert [(b["objects"], b["run_id"]) for b in state["batches"]] == [([f"file://{first}"], run_1), ([f"file://{second}"], run_2)]
    assert set(state["claimed"]) == {f"file://{first}", f"file://{second}"}
