"""The DAG files: they import cleanly and lightly, and penguin_training runs end to end."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import AIRFLOW_BIN, OPENLINEAGE_EVENTS, REPO, registry_champion, registry_state

DAG_FILES = sorted((REPO / "dags").glob("*.py"))
HEAVY = ["tensorflow", "tensorflow_data_validation", "apache_beam", "evidently", "bentoml", "mlflow", "pandas", "keras", "pyarrow"]

PARSE_PROBE = textwrap.dedent(
    """
    import json, sys, time
    try:
        from airflow.dag_processing.dagbag import DagBag  # Airflow >= 3.2
    except ImportError:
        from airflow.models.dagbag import DagBag  # Airflow 3.1
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


def dag_bag(dag_folder: Path):
    """Airflow's DagBag of ``dag_folder`` (it moved to airflow.dag_processing in 3.2)."""
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.1
        from airflow.models.dagbag import DagBag

    return DagBag(dag_folder=str(dag_folder))


def test_there_are_dag_files():
    kinds = ("batch_prediction", "data_arrival", "monitoring", "promotion", "rollback", "training")
    assert [p.name for p in DAG_FILES] == [f"{pipeline}_{kind}.py" for pipeline in ("diabetes", "penguin") for kind in kinds]


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
    bag = dag_bag(REPO / "dags" / "penguin_training.py")
    dag = bag.dags["penguin_training"]
    # The weekly cron or new data or a retraining request from monitoring.
    assert dag.timetable.summary == "Asset or 0 0 * * 0"
    assert {a.uri for _, a in dag.timetable.asset_condition.iter_assets()} == {
        "mlops://penguin/new_examples", "mlops://penguin/retrain"
    }
    order = [t.task_id for t in dag.topological_sort()]
    assert order == ["why", "ingest", "validate", "transform", "train", "evaluate", "register", "infra_validate", "deploy"]
    assert set(dag.params) == {"cache", "canary_despite_drift", "epochs", "learning_rate"}
    assert dag.params["cache"] is True and dag.params["epochs"] == 20
    train = dag.get_task("train")
    assert (train.pool, train.pool_slots) == ("gpu", 1)
    assert train.component_params["epochs"] == "{{ params.epochs }}"
    assert dag.get_task("register").upstream_task_ids == {"ingest", "validate", "transform", "train", "evaluate"}
    for task in dag.tasks:
        assert task.retries == 2 and (task.doc_md or task.task_id == "why")
    ingest = dag.get_task("ingest")
    assert ingest.component_params["source"] == ["package://palmerpenguins/data/penguins.csv", f"file://{REPO}/.mlops/landing/penguin"]
    deploy = dag.get_task("deploy")
    assert deploy.component_params == {
        "action": "canary", "weight": 0.1, "window_minutes": 60,
        "on_drift": "{{ 'canary' if params.canary_despite_drift else 'hold' }}",
        "drifted_columns": "{{ ti.xcom_pull(task_ids='validate')['outputs']['anomalies']['properties']['drifted_columns'] }}",
        "started_because": "{{ ti.xcom_pull(task_ids='why')['reason'] }}",
    }
    assert (deploy.target, deploy.upstream_task_ids) == ("local", {"register", "infra_validate"})
    # a failed (or skipped) infra validation keeps deploy from running: nothing is rolled out
    assert (deploy.trigger_rule, dag.get_task("infra_validate").trigger_rule) == ("all_success", "all_success")
    assert dag.get_task("infra_validate").component_params["max_latency_ms"] == 1000


def test_promotion_and_rollback_structure():
    bag = dag_bag(REPO / "dags")
    promotion = bag.dags["penguin_promotion"]
    assert promotion.schedule == "@hourly" and set(promotion.params) == {"force"}
    analysis = promotion.get_task("canary_analysis")
    assert analysis.component_params == {
        "max_error_rate_increase": 0.01, "max_latency_ratio": 2.0, "max_accuracy_drop": 0.02, "max_mae_increase": 0.1,
        "min_requests": 50, "force": "{{ params.force }}", "task": "classification",
    }
    monitoring = bag.dags["penguin_monitoring"]
    assert monitoring.schedule == "@hourly"
    assert [t.task_id for t in monitoring.topological_sort()] == ["monitor", "request_retraining"]
    assert [o.uri for o in monitoring.get_task("request_retraining").outlets] == ["mlops://penguin/retrain"]
    monitor = monitoring.get_task("monitor")
    assert monitor.component_params["must_not_drift"] == ["body_mass_g"] and monitor.component_params["drift_share"] == 0.5
    arrival = bag.dags["penguin_data_arrival"]
    assert arrival.schedule == "@continuous" and arrival.max_active_runs == 1
    sensor = arrival.get_task("wait_for_new_data")
    assert (sensor.prefix, sensor.deferrable) == (f"file://{REPO}/.mlops/landing/penguin", True)
    assert [o.uri for o in arrival.get_task("announce").outlets] == ["mlops://penguin/new_examples"]
    rollback = bag.dags["penguin_rollback"]
    assert rollback.schedule is None and rollback.get_task("rollback").component_params == {"reason": "{{ params.reason }}"}


def _dags_test(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(AIRFLOW_BIN), "dags", "test", *args], env=env, capture_output=True, text=True, timeout=1200, cwd=REPO
    )


@pytest.fixture(scope="module")
def two_training_runs(airflow_env):
    """`airflow dags test penguin_training` twice on unchanged data (a fresh home and registry)."""
    first = _dags_test(airflow_env, "penguin_training", "2026-01-05")
    second = _dags_test(airflow_env, "penguin_training", "2026-01-12")
    return first, second


def test_the_first_run_trains_registers_and_deploys(airflow_env, two_training_runs):
    first, _ = two_training_runs
    log = first.stdout + first.stderr
    assert first.returncode == 0, log[-6000:]
    assert "state=success" in log
    for step in ("ingest", "validate", "transform", "train", "evaluate"):
        assert f"cache miss: {step}" in log
    assert "no champion in the registry yet" in log
    assert "BLESSED: all checks passed" in log
    assert "registered penguin version 1" in log
    assert "answered 21 requests" in log  # infra validation in a real server
    assert "bootstrap: version 1; champion 1, canary none" in log

    root = Path(airflow_env["MLOPS_ARTIFACT_ROOT"].removeprefix("file://"))
    records = {p.parent.parent.name: json.loads(p.read_text()) for p in root.glob("penguin/*/*/execution.json")}
    assert set(records) == {"ingest", "validate", "transform", "train", "evaluate", "register", "infra_validate", "deploy"}
    assert all(r["status"] == "succeeded" and r["run"]["dag_id"] == "penguin_training" for r in records.values())
    assert records["ingest"]["metrics"]["rows"] == 344  # the landing directory is the test project's, empty
    examples = Path(records["ingest"]["outputs"]["examples"]["uri"].removeprefix("file://"))
    assert sorted(p.name for p in examples.iterdir()) == ["eval.parquet", "test.parquet", "train.parquet"]
    model = Path(records["train"]["outputs"]["model"]["uri"].removeprefix("file://"))
    assert (model / "model.keras").exists() and (model / "training_curves.png").exists()
    assert registry_champion(airflow_env["MLOPS_TRACKING_URI"]) == "1"


def _first_run_xcoms(env: dict, log: str) -> dict[tuple[str, str], object]:
    """``{(task_id, key): value}`` of the first training run, from the metadata DB (SQLite)."""
    import sqlite3

    db = Path(env["AIRFLOW_HOME"]) / "airflow.db"
    assert db.exists(), "airflow_env is expected to use SQLite in its home"
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT task_id, key, value FROM xcom WHERE dag_id = 'penguin_training' AND run_id = ?",
                            (_run_id(log),)).fetchall()
    return {(task, key): json.loads(value) for task, key, value in rows}


def _dataset(uri: str) -> tuple[str, str]:
    assert uri.startswith("file://"), uri
    return ("file", uri.removeprefix("file://"))


def test_the_first_run_reports_its_lineage_to_openlineage(airflow_env, two_training_runs):
    """The OpenLineage listener's real events of the first run (file transport, airflow_env): each
    step's inputs and outputs chain the source CSV to the deployment record."""
    first, _ = two_training_runs
    log = first.stdout + first.stderr
    run_id, xcoms = _run_id(log), _first_run_xcoms(airflow_env, log)
    events = [json.loads(line) for line in (Path(airflow_env["AIRFLOW_HOME"]) / OPENLINEAGE_EVENTS).read_text().splitlines()]
    complete = {e["job"]["name"].removeprefix("penguin_training."): e for e in events if e["eventType"] == "COMPLETE"
                and e["run"]["facets"].get("airflow", {}).get("dagRun", {}).get("run_id") == run_id}
    assert set(complete) >= {"ingest", "validate", "transform", "train", "evaluate", "register", "infra_validate", "deploy"}
    lineage = {step: ({(d["namespace"], d["name"]) for d in e["inputs"]}, {(d["namespace"], d["name"]) for d in e["outputs"]})
               for step, e in complete.items()}

    def output(step: str, name: str) -> tuple[str, str]:
        return _dataset(xcoms[(step, "return_value")]["outputs"][name]["uri"])

    root = airflow_env["MLOPS_ARTIFACT_ROOT"].removeprefix("file://")
    (source,) = lineage["ingest"][0]
    assert source[0] == "file" and source[1].endswith("/site-packages/palmerpenguins/data/penguins.csv"), source
    assert lineage["ingest"][1] == {output("ingest", "examples")}
    assert output("ingest", "examples")[1].startswith(f"{root}/penguin/ingest/")
    assert output("ingest", "examples") in lineage["validate"][0]
    assert lineage["validate"][1] == {output("validate", n) for n in ("statistics", "schema", "anomalies")}
    assert lineage["transform"] == ({output("ingest", "examples"), output("validate", "schema")}, {output("transform", "transform")})
    assert lineage["train"] == ({output("ingest", "examples"), output("transform", "transform")}, {output("train", "model")})
    assert lineage["evaluate"] == ({output("ingest", "examples"), output("train", "model")},
                                   {output("evaluate", "evaluation"), output("evaluate", "blessing")})
    assert {output("train", "model"), output("evaluate", "blessing")} <= lineage["register"][0]
    assert lineage["register"][1] == {("mlflow", "models:/penguin/1")}
    assert ("mlflow", "models:/penguin/1") in lineage["infra_validate"][0]
    assert lineage["deploy"] == ({("mlflow", "models:/penguin/1"), output("infra_validate", "infra_blessing")},
                                 {output("deploy", "deployment"), ("file", f"{root}/penguin/deployment/record.json")})


def test_the_first_runs_extra_links_are_stored_for_the_ui(airflow_env, two_training_runs):
    """What the task runner stored for the API server (XCom ``_link_<class>``) after the first run: the
    reports in the MLOps view, the version's row (a sqlite registry has no MLflow UI), nothing else."""
    first, _ = two_training_runs
    xcoms = _first_run_xcoms(airflow_env, first.stdout + first.stderr)
    root = airflow_env["MLOPS_ARTIFACT_ROOT"]
    steps = ("ingest", "validate", "transform", "train", "evaluate", "register", "infra_validate", "deploy")
    stored = {step: {key.removeprefix("_link_"): value for (task, key), value in xcoms.items()
                     if task == step and key.startswith("_link_")} for step in steps}

    def report(step: str, output: str) -> str:
        uri = xcoms[(step, "return_value")]["outputs"][output]["properties"]["report"]
        return "/mlops/reports/penguin/" + uri.removeprefix(f"{root}/penguin/")

    expected = {step: dict.fromkeys(("ReportLink", "ModelVersionLink", "MlflowRunLink", "VertexJobLink", "GkePodLink",
                                     "DataflowJobLink"), "") for step in steps}
    expected["validate"]["ReportLink"] = report("validate", "anomalies")
    expected["evaluate"]["ReportLink"] = report("evaluate", "evaluation")
    for step in ("register", "infra_validate", "deploy"):
        expected[step]["ModelVersionLink"] = "/mlops/pipelines/penguin#v1"
    infra = xcoms[("infra_validate", "return_value")]["outputs"]["infra_blessing"]["uri"]
    expected["infra_validate"]["ReportLink"] = "/mlops/reports/penguin/" + infra.removeprefix(f"{root}/penguin/") + "/infra_validation.json"
    assert stored == expected


def test_the_second_run_reuses_the_cache_and_changes_nothing(airflow_env, two_training_runs):
    _, second = two_training_runs
    log = second.stdout + second.stderr
    assert second.returncode == 0, log[-6000:]
    # evaluate too: the champion now is this very model, judged as with no champion (the first run)
    for step in ("ingest", "validate", "transform", "train", "evaluate"):
        assert f"cache hit: {step}" in log
    assert "cache miss" not in log
    assert "this model (fingerprint" in log and "is already version 1" in log
    assert "version 1 is already the champion" in log
    assert registry_champion(airflow_env["MLOPS_TRACKING_URI"]) == "1"


def test_a_model_that_is_not_blessed_is_not_registered_and_the_run_succeeds(airflow_env, two_training_runs):
    """Epochs and learning rate from the trigger form (dag_run conf) make a poor model: the run
    succeeds, evaluation says why the model is not blessed, register and deployment are skipped."""
    result = _dags_test(airflow_env, "penguin_training", "2026-01-26", "-c", '{"epochs": 1, "learning_rate": 0.00001}')
    log = result.stdout + result.stderr
    assert "state=success" in log, log[-6000:]
    assert "epoch 1/1 " in log
    assert "NOT BLESSED: test accuracy" in log and "< minimum 0.9000" in log
    assert "model not blessed, not registered: test accuracy" in log
    states = {row["task_id"]: row["state"] for row in json.loads(_states_json(airflow_env, _run_id(log)))}
    assert states["evaluate"] == "success"
    assert states["register"] == states["infra_validate"] == states["deploy"] == "skipped"
    assert registry_champion(airflow_env["MLOPS_TRACKING_URI"]) == "1"


def _run_id(log: str) -> str:
    return re.search(r"DagRun Finished: .*?run_id=([^,]+),", log).group(1)


def _states_json(env: dict, run_id: str) -> str:
    out = subprocess.run(
        [str(AIRFLOW_BIN), "tasks", "states-for-dag-run", "penguin_training", run_id, "-o", "json"],
        env=env, capture_output=True, text=True, timeout=300,
    ).stdout
    return out[out.index("\n[") + 1 :] if "\n[" in out else out[out.index("[") :]


def _corrupted_penguins(path: Path) -> None:
    source = next((REPO / ".venv-runtime").glob("lib/python3.11/site-packages/palmerpenguins/data/penguins.csv"))
    with source.open() as f:
        rows = list(csv.DictReader(f))
    for i, row in enumerate(rows):
        del row["body_mass_g"]  # a column missing
        if i % 5 == 0:
            row["bill_length_mm"] = "forty-two"  # a string in a numeric column
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def pipeline_variant(tmp_path: Path, env: dict, name: str, source: Path) -> dict:
    """A copy of the penguin pipeline named ``name`` reading ``source``, with its own DAG folder;
    it shares the penguin schema and registered model. Returns the environment to run it in."""
    project = tmp_path / "project"
    (project / "include" / name).mkdir(parents=True)
    (project / "dags").mkdir()
    config = (REPO / "include" / "penguin" / "pipeline.yaml").read_text()
    config = (
        config.replace("pipeline: penguin", f"pipeline: {name}")
        .replace("package://palmerpenguins/data/penguins.csv", str(source))
        .replace("schema: include/penguin/schema.pbtxt", f"schema: {REPO / 'include' / 'penguin' / 'schema.pbtxt'}")
    )
    assert "model_name: penguin" in config
    (project / "include" / name / "pipeline.yaml").write_text(config)
    (project / "dags" / f"{name}_training.py").write_text(
        (REPO / "dags" / "penguin_training.py").read_text().replace('"penguin"', f'"{name}"')
    )
    return {**env, "AIRFLOW__CORE__DAGS_FOLDER": str(project / "dags")}


def _deployment_history(env: dict) -> list:
    path = Path(env["MLOPS_ARTIFACT_ROOT"].removeprefix("file://")) / "penguin" / "deployment" / "record.json"
    return json.loads(path.read_text())["history"]


def test_corrupted_data_fails_at_validate_and_the_champion_stays(airflow_env, two_training_runs, tmp_path):
    """The same pipeline on a corrupted file: the run fails at validate, at once (no retries),
    with a summary a data scientist can act on; nothing is trained, registered or deployed."""
    before, history = registry_state(airflow_env["MLOPS_TRACKING_URI"]), _deployment_history(airflow_env)
    assert before["aliases"].get("champion") == "1"
    corrupted = tmp_path / "penguins-corrupted.csv"
    _corrupted_penguins(corrupted)
    result = _dags_test(pipeline_variant(tmp_path, airflow_env, "broken", corrupted), "broken_training", "2026-01-19")
    log = result.stdout + result.stderr
    assert "validate failed (data error): data validation failed: 2 anomalies:" in log, log[-6000:]
    assert "column 'bill_length_mm' (eval, test, train): Unexpected data type" in log
    assert "column 'body_mass_g' (eval, test, train): Column dropped" in log
    assert "state=failed" in log
    assert "up_for_retry" not in log.lower()
    assert "cache miss: train" not in log and "[train]" not in log
    # no new version, no challenger, the same aliases and deployment history
    assert registry_state(airflow_env["MLOPS_TRACKING_URI"]) == before
    assert _deployment_history(airflow_env) == history


def test_bad_source_fails_the_run_with_the_components_message(airflow_env, tmp_path):
    """An empty source file: ingest fails at once, without retries, naming the file."""
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    result = _dags_test(pipeline_variant(tmp_path, airflow_env, "empty", empty), "empty_training", "2026-01-05")
    log = result.stdout + result.stderr
    assert f"ingest failed (data error): file is empty: file://{empty}" in log
    assert "state=failed" in log
    assert "up_for_retry" not in log.lower()


def test_promotion_without_a_canary_is_skipped_with_the_reason(airflow_env, two_training_runs):
    result = _dags_test(airflow_env, "penguin_promotion", "2026-01-13", "-c", '{"force": true}')
    log = result.stdout + result.stderr
    assert "no decision: no canary is running" in log, log[-6000:]
    assert "state=success" in log
    assert registry_champion(airflow_env["MLOPS_TRACKING_URI"]) == "1"


def test_rollback_with_a_single_champion_fails_clearly_and_changes_nothing(airflow_env, two_training_runs):
    result = _dags_test(airflow_env, "penguin_rollback", "2026-01-13", "-c", '{"reason": "test"}')
    log = result.stdout + result.stderr
    assert "rollback failed (config error): rollback: nothing to roll back to: version 1 is the only champion" in log, log[-6000:]
    assert "state=failed" in log and "up_for_retry" not in log.lower()
    assert registry_champion(airflow_env["MLOPS_TRACKING_URI"]) == "1"


def _penguins_to_score(path: Path, corrupt: bool = False) -> int:
    """The penguins without their species and with an id, as rows to predict arrive; ``corrupt``:
    every fourth body mass negative (impossible values)."""
    source = next((REPO / ".venv-runtime").glob("lib/python3.11/site-packages/palmerpenguins/data/penguins.csv"))
    with source.open() as f:
        rows = list(csv.DictReader(f))
    for i, row in enumerate(rows):
        del row["species"]
        row["penguin_id"] = f"p{i:03d}"
        if corrupt and i % 4 == 0 and row["body_mass_g"] != "NA":
            row["body_mass_g"] = str(-float(row["body_mass_g"]))
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


def _batch_log_lines(env: dict) -> list[dict]:
    root = Path(env["MLOPS_ARTIFACT_ROOT"].removeprefix("file://")) / "penguin" / "predictions"
    return [json.loads(line) for p in root.glob("date=*/hour=*/part-*-batch-*.jsonl") for line in p.read_text().splitlines()]


def test_batch_prediction_of_a_file_by_the_champion(airflow_env, two_training_runs, tmp_path):
    """penguin_batch_prediction on a file named in the trigger form: checked against champion
    version 1, predicted, and every row appended to the prediction log with its id."""
    rows = _penguins_to_score(tmp_path / "to_score.csv")
    conf = {"source": str(tmp_path / "to_score.csv")}
    result = _dags_test(airflow_env, "penguin_batch_prediction", "2026-01-20", "-c", json.dumps(conf))
    log = result.stdout + result.stderr
    assert "state=success" in log, log[-6000:]
    assert "checking against champion version 1" in log and f"predicted {rows} rows" in log
    root = Path(airflow_env["MLOPS_ARTIFACT_ROOT"].removeprefix("file://"))
    (record,) = [json.loads(p.read_text()) for p in root.glob("penguin/predict_batch/*/execution.json")]
    predictions = record["outputs"]["predictions"]["properties"]
    assert (predictions["rows"], predictions["model_version"]) == (rows, "1")
    assert sum(predictions["classes"].values()) == rows and set(predictions["classes"]) <= {"Adelie", "Chinstrap", "Gentoo"}
    logged = _batch_log_lines(airflow_env)
    assert len(logged) == rows and {r["model_role"] for r in logged} == {"batch"} and {r["model_version"] for r in logged} == {"1"}
    assert len({r["request_id"] for r in logged}) == rows and all(set(r["features"]) >= {"island", "body_mass_g"} for r in logged)


def test_a_batch_with_impossible_values_fails_before_anything_is_predicted(airflow_env, two_training_runs, tmp_path):
    _penguins_to_score(tmp_path / "bad.csv", corrupt=True)
    before = len(_batch_log_lines(airflow_env))
    result = _dags_test(airflow_env, "penguin_batch_prediction", "2026-01-21", "-c", json.dumps({"source": str(tmp_path / "bad.csv")}))
    log = result.stdout + result.stderr
    assert "check_batch failed (data error): the batch does not fit the champion's schema: 1 anomaly:" in log, log[-6000:]
    assert "column 'body_mass_g' (batch): Out-of-range values - 86 rows outside the schema's range" in log
    assert "state=failed" in log and "up_for_retry" not in log.lower()
    assert "[predict_batch]" not in log
    assert len(_batch_log_lines(airflow_env)) == before
