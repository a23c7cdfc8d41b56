"""The DAG files: they import cleanly and lightly, and penguin_training runs end to end."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import AIRFLOW_BIN, REPO

DAG_FILES = sorted((REPO / "dags").glob("*.py"))
HEAVY = ["tensorflow", "tensorflow_data_validation", "apache_beam", "evidently", "bentoml", "mlflow", "pandas", "keras", "pyarrow"]

PARSE_PROBE = textwrap.dedent(
    """
    import json, sys, time
    from airflow.dag_processing.dagbag import DagBag
    heavy = json.loads(sys.argv[2])
    start = time.perf_counter()
    bag = DagBag(dag_folder=sys.argv[1])
    elapsed = time.perf_counter() - start
    print(json.dumps({
        "seconds": elapsed,
        "dag_ids": sorted(bag.dag_ids),
        "errors": {k: str(v) for k, v in bag.import_errors.items()},
        "heavy": [m for m in heavy if m in sys.modules],
    }))
    """
)


def test_there_are_dag_files():
    assert [p.name for p in DAG_FILES] == ["penguin_training.py"]


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda p: p.name)
def test_dag_file_imports_lightly(dag_file, capsys):
    """Each file parses with no error, in a fresh interpreter, without any heavy ML library."""
    result = subprocess.run(
        [sys.executable, "-c", PARSE_PROBE, str(dag_file), json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    with capsys.disabled():
        print(f"\n  parse time of {dag_file.name}: {report['seconds'] * 1000:.0f} ms ({', '.join(report['dag_ids'])})")
    assert report["errors"] == {}
    assert report["dag_ids"], "the file defines no DAG"
    assert report["heavy"] == [], f"{dag_file.name} imports {report['heavy']} at parse time"


def test_penguin_training_structure():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags" / "penguin_training.py"))
    dag = bag.dags["penguin_training"]
    assert dag.schedule == "@weekly"
    assert [t.task_id for t in dag.tasks] == ["ingest"]
    assert dag.params["cache"] is True
    ingest = dag.get_task("ingest")
    assert ingest.component_params["source"] == "package://palmerpenguins/data/penguins.csv"
    assert ingest.retries == 2


def _dags_test(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(AIRFLOW_BIN), "dags", "test", *args], env=env, capture_output=True, text=True, timeout=900, cwd=REPO
    )


def test_airflow_dags_test_penguin_training_writes_the_snapshot(airflow_env):
    root = Path(airflow_env["MLOPS_ARTIFACT_ROOT"].removeprefix("file://"))
    first = _dags_test(airflow_env, "penguin_training", "2026-01-05")
    assert first.returncode == 0, first.stdout[-5000:] + first.stderr[-5000:]
    log = first.stdout + first.stderr
    assert "state=success" in log
    assert "cache miss: ingest" in log

    records = list((root / "penguin" / "ingest").glob("*/execution.json"))
    assert len(records) == 1
    record = json.loads(records[0].read_text())
    assert record["status"] == "succeeded" and record["metrics"]["rows"] == 344
    assert record["run"]["dag_id"] == "penguin_training"
    examples = Path(record["outputs"]["examples"]["uri"].removeprefix("file://"))
    assert sorted(p.name for p in examples.iterdir()) == ["eval.parquet", "test.parquet", "train.parquet"]

    second = _dags_test(airflow_env, "penguin_training", "2026-01-12")
    assert second.returncode == 0, second.stdout[-5000:] + second.stderr[-5000:]
    assert "cache hit: ingest" in second.stdout + second.stderr


def test_bad_source_fails_the_run_with_the_components_message(airflow_env, tmp_path):
    """A DAG of another pipeline config whose source file is empty: the task fails at once,
    without retries, and the message names the file."""
    project = tmp_path / "project"
    (project / "include" / "broken").mkdir(parents=True)
    (project / "dags").mkdir()
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    config = (REPO / "include" / "penguin" / "pipeline.yaml").read_text()
    config = config.replace("pipeline: penguin", "pipeline: broken").replace(
        "package://palmerpenguins/data/penguins.csv", str(empty)
    )
    (project / "include" / "broken" / "pipeline.yaml").write_text(config)
    (project / "dags" / "broken_training.py").write_text(
        (REPO / "dags" / "penguin_training.py").read_text().replace('"penguin"', '"broken"')
    )
    env = {**airflow_env, "AIRFLOW__CORE__DAGS_FOLDER": str(project / "dags")}
    result = _dags_test(env, "broken_training", "2026-01-05")
    log = result.stdout + result.stderr
    assert f"ingest failed (data error): file is empty: file://{empty}" in log
    assert "state=failed" in log
    assert "up_for_retry" not in log.lower()
