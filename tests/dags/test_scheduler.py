"""With a real scheduler, DAG processor, triggerer and API server (`airflow standalone`): a backfill
of penguin_training over several logical dates runs to success; drift found by monitoring starts
retraining; and a copy of the pipeline on the local cloud (local_cloud/stack.py) shows a remote step
deferred while its pod runs, and a kill from the REST API deleting the pod."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from pathlib import Path

from conftest import DAG_ID, REPO, airflow_cli, api_token, cli_json, registry_champion

from airflow_mlops.provider.launchers.kubernetes import label_value


def test_backfill_over_two_weeks_runs_every_date_to_success(airflow_services):
    env, paths = airflow_services
    airflow_cli(env, "backfill", "create", "--dag-id", DAG_ID, "--from-date", "2026-01-01", "--to-date", "2026-01-13")
    airflow_cli(env, "dags", "unpause", DAG_ID)
    deadline = time.monotonic() + 900
    while True:
        runs = [r for r in cli_json(airflow_cli(env, "dags", "list-runs", DAG_ID, "-o", "json")) if r["run_id"].startswith("backfill__")]
        if len(runs) == 2 and all(r["state"] in ("success", "failed") for r in runs):
            break
        assert time.monotonic() < deadline, f"backfill not finished: {[(r['run_id'], r['state']) for r in runs]}"
        time.sleep(5)
    assert sorted(r["logical_date"][:10] for r in runs) == ["2026-01-04", "2026-01-11"]
    assert {r["state"] for r in runs} == {"success"}, runs
    # One training did the work, the other runs reused it; one model version, the champion.
    # Each train task's invocation says whether it executed or hit the cache, and every
    # execution leaves an attempt directory (one execution.json whatever the count). The
    # scheduled run that unpausing starts trains on the same data: it may be the one that executed.
    root = Path(paths["artifact_root"].removeprefix("file://"))
    results = {p.parts[-4]: json.loads(p.read_text()) for p in root.glob("penguin/_invocations/penguin_training/*/train/try-*/result.json")}
    assert sum(run.startswith("backfill__") for run in results) == 2, sorted(results)
    assert [r["cache_hit"] for r in results.values()].count(False) == 1, {run: r["cache_hit"] for run, r in results.items()}
    assert len({r["fingerprint"] for r in results.values()}) == 1
    assert len(list(root.glob("penguin/train/*/attempt-*"))) == 1
    assert len(list(root.glob("penguin/train/*/execution.json"))) == 1
    assert registry_champion(paths["tracking_uri"]) == "1"


def _drifted_prediction_log(root: Path, rows: int = 200) -> None:
    """Predictions of the last minutes whose body mass and bill length are far from the
    training data, in the prediction log's layout (as the server writes it)."""
    import csv
    import random
    from datetime import UTC, datetime, timedelta

    source = next((REPO / ".venv-runtime").glob("lib/python3.11/site-packages/palmerpenguins/data/penguins.csv"))
    with source.open() as f:
        penguins = [r for r in csv.DictReader(f) if "NA" not in r.values()]
    now = datetime.now(UTC)
    rng = random.Random(7)
    lines = []
    for i in range(rows):
        row = rng.choice(penguins)
        features = {k: row[k] for k in ("island", "sex")}
        features.update({k: float(row[k]) for k in ("bill_depth_mm", "flipper_length_mm")})
        features["body_mass_g"] = float(row["body_mass_g"]) + 2500
        features["bill_length_mm"] = float(row["bill_length_mm"]) * 1.6
        at = (now - timedelta(minutes=10) + timedelta(seconds=i)).isoformat(timespec="milliseconds")
        lines.append(json.dumps({"timestamp": at, "request_id": f"d{i}", "features": features, "prediction": "Gentoo",
                                 "probabilities": {"Adelie": 0.0, "Chinstrap": 0.0, "Gentoo": 1.0}, "model_version": "1",
                                 "model_role": "champion", "latency_ms": 9.0, "batch_rows": 1}))
    hour = now - timedelta(minutes=10)
    part = root / "penguin" / "predictions" / f"date={hour:%Y-%m-%d}" / f"hour={hour:%H}"
    part.mkdir(parents=True, exist_ok=True)
    (part / "part-drifted.jsonl").write_text("\n".join(lines) + "\n")


def test_drift_found_by_monitoring_starts_a_training_run_through_the_retrain_asset(airflow_services):
    """penguin_monitoring, run by the scheduler on drifted traffic, updates the retrain Asset;
    the scheduler then creates a penguin_training run, which says it started because of drift."""
    env, paths = airflow_services
    assert registry_champion(paths["tracking_uri"]) == "1"  # from the backfill above
    root = Path(paths["artifact_root"].removeprefix("file://"))
    _drifted_prediction_log(root)
    before = {r["run_id"] for r in cli_json(airflow_cli(env, "dags", "list-runs", DAG_ID, "-o", "json"))}
    airflow_cli(env, "dags", "unpause", "penguin_monitoring")
    airflow_cli(env, "dags", "trigger", "penguin_monitoring")
    deadline = time.monotonic() + 600
    while True:
        runs = [r for r in cli_json(airflow_cli(env, "dags", "list-runs", DAG_ID, "-o", "json")) if r["run_id"] not in before]
        if runs:
            break
        monitoring = cli_json(airflow_cli(env, "dags", "list-runs", "penguin_monitoring", "-o", "json"))
        assert time.monotonic() < deadline, f"no training run; monitoring runs: {monitoring}"
        assert not any(r["state"] == "failed" for r in monitoring), monitoring
        time.sleep(5)
    run = runs[0]
    assert run["run_id"].startswith("asset_triggered__"), run
    verdicts = list((root / "penguin" / "monitoring" / "verdicts").glob("*.json"))
    assert any(json.loads(v.read_text())["drift"] for v in verdicts)
    # The run's first task records why it started.
    deadline = time.monotonic() + 300
    logs = Path(env["AIRFLOW_HOME"]) / "logs" / "dag_id=penguin_training" / f"run_id={run['run_id']}" / "task_id=why"
    while not any("this run started because of: drift" in p.read_text() for p in logs.glob("*.log")):
        assert time.monotonic() < deadline, f"no 'why' log in {logs}"
        time.sleep(3)


def test_a_second_alert_about_the_same_traffic_requests_no_second_retraining(airflow_services):
    """Follows the test above: monitoring runs again over the same drifted predictions; the
    retrain Asset was updated after the newest of them, so request_retraining skips, saying why."""
    env, paths = airflow_services
    before = {r["run_id"] for r in cli_json(airflow_cli(env, "dags", "list-runs", "penguin_monitoring", "-o", "json"))}
    assert before, "the drift test above must have run monitoring"
    airflow_cli(env, "dags", "trigger", "penguin_monitoring")
    deadline = time.monotonic() + 600
    while True:
        runs = [r for r in cli_json(airflow_cli(env, "dags", "list-runs", "penguin_monitoring", "-o", "json")) if r["run_id"] not in before]
        if runs and runs[0]["state"] in ("success", "failed"):
            break
        assert time.monotonic() < deadline, f"monitoring did not finish: {runs}"
        time.sleep(5)
    run_id = runs[0]["run_id"]
    assert runs[0]["state"] == "success", runs
    states = {t["task_id"]: t["state"] for t in cli_json(airflow_cli(env, "tasks", "states-for-dag-run", "penguin_monitoring", run_id, "-o", "json"))}
    assert states == {"monitor": "success", "request_retraining": "skipped"}
    folder = Path(env["AIRFLOW_HOME"]) / "logs" / "dag_id=penguin_monitoring" / f"run_id={run_id}" / "task_id=request_retraining"
    text = "".join(p.read_text() for p in folder.glob("*.log"))
    assert "retraining was already requested at" in text and "must-not-drift" in text, text[-3000:]
    # Every monitoring run so far (the scheduled one on unpause too) saw the same drift; one asked.
    root = Path(paths["artifact_root"].removeprefix("file://"))
    verdicts = [json.loads(v.read_text()) for v in (root / "penguin" / "monitoring" / "verdicts").glob("*.json")]
    assert sum(v["status"] == "alert" for v in verdicts) >= 2
    requests = [
        t["state"]
        for r in cli_json(airflow_cli(env, "dags", "list-runs", "penguin_monitoring", "-o", "json"))
        for t in cli_json(airflow_cli(env, "tasks", "states-for-dag-run", "penguin_monitoring", r["run_id"], "-o", "json"))
        if t["task_id"] == "request_retraining"
    ]
    assert requests.count("success") == 1, requests


def test_a_remote_step_is_deferred_while_its_pod_runs_and_a_kill_deletes_the_pod(airflow_services, local_cloud_stack):
    """penguin_remote_training's ingest runs as a pod that does not end by itself: the task is
    deferred (its worker slot free; the triggerer watches the pod) for as long as the pod runs.
    Marking the task failed through the REST API - what a person does in the UI - deletes the pod."""
    env, paths = airflow_services
    cloud = local_cloud_stack
    dag_id = "penguin_remote_training"
    cloud.kubernetes.inject("hold", match="ingest")
    airflow_cli(env, "dags", "unpause", dag_id)  # (unpausing may also start the latest scheduled run)
    airflow_cli(env, "dags", "trigger", dag_id)

    def held() -> tuple[str, dict] | None:
        """The run whose ingest is deferred while its pod (the held one) runs."""
        pods = [p for p in cloud.kubernetes.created_pods() if p["spec"]["containers"][0]["args"][0] == "ingest"]
        running = [c for c in cloud.runner.containers if c.poll() is None]
        for run in cli_json(airflow_cli(env, "dags", "list-runs", dag_id, "-o", "json")):
            states = {t["task_id"]: t["state"] for t in cli_json(airflow_cli(env, "tasks", "states-for-dag-run", dag_id, run["run_id"], "-o", "json"))}
            pod = next((p for p in pods if p["metadata"]["labels"]["airflow-run-id"] == label_value(run["run_id"])), None)
            if states.get("ingest") == "deferred" and pod and running:
                return run["run_id"], pod
        return None

    deadline = time.monotonic() + 300
    while (found := held()) is None:
        assert time.monotonic() < deadline, "no ingest deferred with its pod running"
        time.sleep(2)
    run_id, pod = found
    time.sleep(5)  # it stays deferred while the pod runs
    assert held() == (run_id, pod)
    assert pod["metadata"]["name"] not in cloud.kubernetes.deleted_pods()

    token = api_token(env, paths["api_port"])
    request = urllib.request.Request(
        f"http://127.0.0.1:{paths['api_port']}/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id)}/taskInstances/ingest",
        method="PATCH", headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        data=json.dumps({"new_state": "failed"}).encode())
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
    deadline = time.monotonic() + 120
    while pod["metadata"]["name"] not in cloud.kubernetes.deleted_pods():
        assert time.monotonic() < deadline, "the pod of the killed task was not deleted"
        time.sleep(1)
    held_container = next(c for c in cloud.runner.containers if pod["metadata"]["name"] in c.name)
    assert held_container.poll() is not None  # the process is gone with the pod


def test_an_input_asset_event_naming_files_starts_a_batch_prediction_of_them(airflow_services, tmp_path):
    """What the README shows: a POST of an event of penguin_batch_input (REST API) whose extra names
    the files; the scheduler starts penguin_batch_prediction, which predicts those files with the champion."""
    import csv

    env, paths = airflow_services
    dag_id = "penguin_batch_prediction"
    source = next((REPO / ".venv-runtime").glob("lib/python3.11/site-packages/palmerpenguins/data/penguins.csv"))
    with source.open() as f:
        rows = [{k: v for k, v in r.items() if k != "species"} for r in csv.DictReader(f)][:120]
    to_score = tmp_path / "to_score.csv"
    with to_score.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    airflow_cli(env, "dags", "unpause", dag_id)
    base, token = f"http://127.0.0.1:{paths['api_port']}/api/v2", api_token(env, paths["api_port"])
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}

    def call(method: str, path: str, body: dict | None = None) -> dict:
        request = urllib.request.Request(base + path, method=method, headers=headers,
                                         data=json.dumps(body).encode() if body is not None else None)
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)

    (asset,) = [a for a in call("GET", "/assets?name_pattern=penguin_batch_input")["assets"] if a["name"] == "penguin_batch_input"]
    assert asset["uri"] == "mlops://penguin/batch_input"
    call("POST", "/assets/events", {"asset_id": asset["id"], "extra": {"source": str(to_score)}})
    deadline = time.monotonic() + 600
    while True:
        runs = cli_json(airflow_cli(env, "dags", "list-runs", dag_id, "-o", "json"))
        if runs and runs[0]["state"] in ("success", "failed"):
            break
        assert time.monotonic() < deadline, f"no finished batch prediction run: {runs}"
        time.sleep(5)
    (run,) = runs
    assert run["run_id"].startswith("asset_triggered__") and run["state"] == "success", run
    root = Path(paths["artifact_root"].removeprefix("file://"))
    (record,) = [json.loads(p.read_text()) for p in root.glob("penguin/predict_batch/*/execution.json")]
    predictions = record["outputs"]["predictions"]["properties"]
    assert predictions["rows"] == len(rows) and predictions["model_version"] == registry_champion(paths["tracking_uri"])
    (checked,) = [json.loads(p.read_text()) for p in root.glob("penguin/check_batch/*/execution.json")]
    assert checked["outputs"]["batch"]["properties"]["files"] == [f"file://{to_score}"]
