"""`make demo-loop`: the closed MLOps loop with a real scheduler, DAG processor and triggerer.

The loop runs on a state of its own, made afresh each time under ``.mlops/loop/`` (a copy of the
penguin project, its artifacts, MLflow registry, landing directory and Airflow home): whatever
`make demo` or an earlier loop left - labelled traffic that became training data, a champion
trained on drifted rows, landed files - it prints the same story, and leaves `make demo`'s
state alone.

1. A champion is trained with `airflow dags test` and served on 127.0.0.1:3001 (3000 is
   `make demo`'s; another free port if 3001 is taken).
2. `airflow standalone` runs the scheduler, DAG processor, triggerer and API server
   (UI on http://127.0.0.1:8080); the training, monitoring and data-arrival DAGs are unpaused.
3. Normal traffic, with labels arriving for it: monitoring finds nothing wrong.
4. Drifted traffic (heavier birds with longer bills), labels arriving too: monitoring finds drift
   (and the champion's accuracy drops); the retrain Asset starts penguin_training, which learns
   from the labelled traffic, evaluates against the champion and starts a canary;
   penguin_promotion (forced, instead of waiting for the window) promotes the challenger.
5. A new CSV lands in the landing directory: penguin_data_arrival's deferred sensor fires,
   ingests the batch and its Asset starts penguin_training again.

A timeline of what happened, with timestamps, is printed at the end.
"""

from __future__ import annotations

import csv
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from dag_runs import AIRFLOW, airflow, cli_json, dag_test, prepare_airflow
from project_copy import copy_project, own_environment

from airflow_mlops.runtime.serving.server import http_post_json

REPO = Path(__file__).resolve().parents[1]
LOOP = REPO / ".mlops" / "loop"
RUNTIME_PYTHON = os.environ.get("AIRFLOW__MLOPS__RUNTIME_PYTHON", str(REPO / ".venv-runtime" / "bin" / "python"))
FEATURES = ("island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex")
TIMELINE: list[tuple[datetime, str]] = []


def event(message: str) -> None:
    now = datetime.now(UTC)
    TIMELINE.append((now, message))
    print(f"{now:%H:%M:%S}  {message}", flush=True)


def penguins() -> list[dict]:
    path = next((REPO / ".venv-runtime").glob("lib/python3.11/site-packages/palmerpenguins/data/penguins.csv"))
    with path.open() as f:
        return [r for r in csv.DictReader(f) if "NA" not in r.values()]


def request_row(row: dict, shift: bool) -> dict:
    values = {k: row[k] if k in ("island", "sex") else float(row[k]) for k in FEATURES}
    if shift:  # a new colony: heavier birds with longer bills
        values["body_mass_g"] += 1800
        values["bill_length_mm"] *= 1.35
    return values


def send_traffic(url: str, root: str, tag: str, n: int, shift: bool) -> dict:
    """``n`` single-row requests; the true species arrive as labels (feedback/<tag>.csv)."""
    rng = random.Random(tag)
    rows = rng.sample(penguins(), n) if n <= 333 else [rng.choice(penguins()) for _ in range(n)]
    labels, correct, versions = [], 0, {}
    for i, row in enumerate(rows):
        request_id = f"{tag}-{i}"
        code, answers = http_post_json(url + "/predict", {"instances": [{**request_row(row, shift), "request_id": request_id}]})
        if code != 200:
            raise RuntimeError(f"/predict answered {code}: {answers}")
        correct += answers[0]["prediction"] == row["species"]
        versions[answers[0]["model_version"]] = versions.get(answers[0]["model_version"], 0) + 1
        labels.append(f"{request_id},{row['species']}")
    feedback = Path(root.removeprefix("file://"), "penguin", "feedback")
    feedback.mkdir(parents=True, exist_ok=True)
    (feedback / f"{tag}.csv").write_text("request_id,label\n" + "\n".join(labels) + "\n")
    return {"rows": n, "accuracy": correct / n, "versions": versions}


class Standalone:
    """`airflow standalone` in the background, in the demo's Airflow home."""

    def __init__(self, env: dict, port: int):
        self.env, self.port = env, port
        log = Path(env["AIRFLOW_HOME"]) / "standalone.log"
        self.log = log
        self.proc = subprocess.Popen([AIRFLOW, "standalone"], env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def wait_healthy(self, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/v2/monitor/health", timeout=5) as r:
                    health = json.load(r)
                if all(health.get(c, {}).get("status") == "healthy" for c in ("scheduler", "dag_processor", "triggerer")):
                    return
            except OSError:
                pass
            time.sleep(2)
        raise RuntimeError(f"airflow standalone is not healthy; see {self.log}")

    def stop(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.proc.pid, sig)
                self.proc.wait(timeout=60)
                return
            except (ProcessLookupError, subprocess.TimeoutExpired):
                continue


def runs(dag_id: str, env: dict) -> list[dict]:
    return cli_json("dags", "list-runs", dag_id, env=env)


def wait_for_new_run(dag_id: str, env: dict, known: set[str], timeout: float = 900) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        new = [r for r in runs(dag_id, env) if r["run_id"] not in known]
        if new:
            return new[0]
        time.sleep(3)
    raise RuntimeError(f"no new {dag_id} run after {timeout:.0f} s")


def wait_until_done(dag_id: str, run_id: str, env: dict, timeout: float = 900) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = next((r["state"] for r in runs(dag_id, env) if r["run_id"] == run_id), None)
        if state in ("success", "failed"):
            return state
        time.sleep(3)
    raise RuntimeError(f"{dag_id} {run_id} did not finish in {timeout:.0f} s")


def task_states(dag_id: str, run_id: str, env: dict) -> dict[str, str]:
    return {t["task_id"]: t["state"] for t in cli_json("tasks", "states-for-dag-run", dag_id, run_id, env=env)}


def task_log(env: dict, dag_id: str, run_id: str, task_id: str) -> str:
    folder = Path(env["AIRFLOW_HOME"], "logs", f"dag_id={dag_id}", f"run_id={run_id}", f"task_id={task_id}")
    return "\n".join(p.read_text(errors="replace") for p in sorted(folder.glob("*.log")))


def latest_verdict(root: str) -> dict:
    verdicts = sorted(Path(root.removeprefix("file://"), "penguin", "monitoring", "verdicts").glob("*.json"),
                      key=lambda p: p.stat().st_mtime)
    return json.loads(verdicts[-1].read_text()) if verdicts else {}


def deployment(root: str) -> dict:
    path = Path(root.removeprefix("file://"), "penguin", "deployment", "record.json")
    return json.loads(path.read_text()) if path.exists() else {}


def run_monitoring(env: dict, root: str, label: str, since: float) -> dict:
    """A monitoring run over this phase's own traffic: the window reaches back to ``since`` (a
    ``time.time()``), in whole minutes, so that earlier traffic - `make demo`'s, say - does not
    count. Whatever ran before, the loop sees what it sent."""
    window = max(1, math.ceil((time.time() - since) / 60))
    known = {r["run_id"] for r in runs("penguin_monitoring", env)}
    airflow("dags", "trigger", "penguin_monitoring", "-c", json.dumps({"window_minutes": window}), env=env)
    run = wait_for_new_run("penguin_monitoring", env, known)
    state = wait_until_done("penguin_monitoring", run["run_id"], env)
    verdict = latest_verdict(root)
    states = task_states("penguin_monitoring", run["run_id"], env)
    event(f"penguin_monitoring ({label}): {state}; verdict {verdict.get('status')}: "
          + ("; ".join(verdict.get("reasons") or []) or "nothing wrong")
          + f"; request_retraining {states.get('request_retraining')}")
    return verdict


def follow_training(env: dict, known: set[str], root: str) -> dict:
    run = wait_for_new_run("penguin_training", env, known)
    why = ""
    deadline = time.monotonic() + 300
    while not why and time.monotonic() < deadline:
        for line in task_log(env, "penguin_training", run["run_id"], "why").splitlines():
            if "this run started because of:" in line:
                why = line.split("this run started because of:")[1].split('"')[0].strip().rstrip(",")
        time.sleep(2)
    event(f"penguin_training {run['run_id']} started; why: {why or '?'}")
    state = wait_until_done("penguin_training", run["run_id"], env)
    states = task_states("penguin_training", run["run_id"], env)
    record = deployment(root)
    canary = (record.get("canary") or {}).get("version")
    event(f"penguin_training finished: {state}; " + ", ".join(f"{k} {v}" for k, v in states.items() if k != "why")
          + f"; champion v{record.get('champion')}, canary {('v' + canary) if canary else 'none'}")
    return record


def loop_project(loop: Path, serving_port: int) -> Path:
    """The penguin project copied to ``loop``/project, its state all under ``loop``: artifacts
    (the prediction log, labels, monitoring verdicts, deployment record), the MLflow registry,
    the landing directory; the prediction server on ``serving_port``. Returns its YAML."""

    def edit(data: dict) -> None:
        data["artifact_root"] = str(loop / "artifacts")
        data["data"]["source"] = [data["data"]["source"][0], str(loop / "landing")]
        data["registry"] = {**data.get("registry", {}), "tracking_uri": f"sqlite:///{loop / 'mlflow.db'}"}
        deployment = data.setdefault("deployment", {})
        deployment["serving"] = {**deployment.get("serving", {}), "port": serving_port}
        data["monitoring"] = {**data.get("monitoring", {}), "landing": str(loop / "landing")}

    return copy_project(loop / "project", "penguin", ("training", "monitoring", "data_arrival", "promotion"), edit)


def fresh_loop(loop: Path, serving_port: int) -> Path:
    """:func:`loop_project` from scratch: an earlier loop's server (left running if it was
    interrupted) is stopped, then everything under ``loop`` is removed."""
    earlier = loop / "project" / "include" / "penguin" / "pipeline.yaml"
    if earlier.exists():
        subprocess.run([RUNTIME_PYTHON, "-m", "airflow_mlops.runtime.serving", "stop", "--pipeline", str(earlier)],
                       env=own_environment(loop / "airflow", loop / "project"), capture_output=True)
    shutil.rmtree(loop, ignore_errors=True)
    return loop_project(loop, serving_port)


def free_port(preferred: int) -> int:
    """``preferred`` if nothing listens there (an old API server would answer health checks
    for another Airflow home), else any free port."""
    import socket

    for port in (preferred, 0):
        with socket.socket() as s:
            # as servers do: a port an earlier run's server just closed (TIME_WAIT) is free
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
                return s.getsockname()[1]
            except OSError:
                continue
    raise RuntimeError("no free port")


def main() -> int:
    from airflow_mlops.contract.config import load_pipeline_config

    api_port = free_port(int(os.environ.get("MLOPS_LOOP_API_PORT", "8080")))
    config_path = fresh_loop(LOOP, free_port(3001))
    env = own_environment(LOOP / "airflow", LOOP / "project", **{
        "PATH": f"{Path(AIRFLOW).parent}:{os.environ['PATH']}",
        "AIRFLOW__API__HOST": "127.0.0.1", "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "MLOPS_SERVING_POLL_SECONDS": "2"})
    config = load_pipeline_config(config_path)
    root = config.artifact_root_uri  # the loop's own: a machine's $MLOPS_ARTIFACT_ROOT is not passed on
    url = f"http://{config.deployment.serving.host}:{config.deployment.serving.port}"
    logs = LOOP / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    event(f"a fresh state of the loop's own in {LOOP.relative_to(REPO)}/ (make demo's is not touched)")
    if not prepare_airflow(env):
        return 1

    event("the loop's first champion: airflow dags test penguin_training")
    _, state, seconds = dag_test("penguin_training", datetime.now(UTC).isoformat(), logs / "loop-initial.log", env=env)
    event(f"initial training {state} in {seconds:.0f} s; champion v{deployment(root).get('champion')}")
    if state != "success":
        print(f"the first training run failed: see {logs / 'loop-initial.log'}", file=sys.stderr)
        return 1
    if subprocess.call([RUNTIME_PYTHON, "-m", "airflow_mlops.runtime.serving", "start", "--pipeline", str(config_path)], env=env):
        return 1
    event(f"prediction server up on {url}, serving champion v{deployment(root).get('champion')}")

    services = Standalone(env, int(env["AIRFLOW__API__PORT"]))
    try:
        services.wait_healthy()
        event(f"airflow standalone healthy: scheduler, dag-processor, triggerer, API/UI on http://127.0.0.1:{services.port} "
              f"(user admin, password in {(LOOP / 'airflow').relative_to(REPO)}/simple_auth_manager_passwords.json.generated)")
        deadline = time.monotonic() + 180
        while not {"penguin_training", "penguin_monitoring", "penguin_data_arrival"} <= {d["dag_id"] for d in cli_json("dags", "list", env=env)}:
            if time.monotonic() > deadline:
                raise RuntimeError("the DAG processor did not pick up the DAGs")
            time.sleep(3)
        known = {r["run_id"] for r in runs("penguin_training", env)}
        for dag_id in ("penguin_training", "penguin_monitoring", "penguin_data_arrival"):
            airflow("dags", "unpause", dag_id, env=env)
        event("unpaused penguin_training, penguin_monitoring, penguin_data_arrival (its sensor now waits in the triggerer)")
        time.sleep(10)
        for run in [r for r in runs("penguin_training", env) if r["run_id"] not in known]:  # the schedule's latest interval
            event(f"penguin_training {run['run_id']} created by the schedule on unpause; waiting for it")
            state = wait_until_done("penguin_training", run["run_id"], env)
            event(f"penguin_training {run['run_id']}: {state}")
            known.add(run["run_id"])

        started = time.time()
        normal = send_traffic(url, root, "normal", 240, shift=False)
        event(f"sent 240 normal requests (champion accuracy {normal['accuracy']:.0%} once labels arrived)")
        run_monitoring(env, root, "normal traffic", started)

        started = time.time()
        drifted = send_traffic(url, root, "drifted", 300, shift=True)
        event(f"sent 300 drifted requests: body mass +1800 g, bill length x1.35 (champion accuracy {drifted['accuracy']:.0%})")
        known = {r["run_id"] for r in runs("penguin_training", env)}
        verdict = run_monitoring(env, root, "drifted traffic", started)
        if verdict.get("status") != "alert":
            event("monitoring raised no alert: the loop stops here")
            return 1
        record = follow_training(env, known, root)
        if record.get("canary"):
            time.sleep(3)
            mixed = send_traffic(url, root, "canary", 200, shift=True)
            event(f"sent 200 requests during the canary: {mixed['versions']} answers by version")
            _, state, _ = dag_test("penguin_promotion", datetime.now(UTC).isoformat(), logs / "loop-promotion.log",
                                   env=env, conf={"force": True})
            decision = deployment(root)["history"][-1]
            event(f"penguin_promotion (force): {decision['action']} v{decision['version']}: {decision['reason']}")
            time.sleep(3)
            code, answers = http_post_json(url + "/status", {})
            event(f"the server now serves champion v{answers['champion']} (canary {answers['challenger'] or 'none'})")

        landing = Path(config.landing_uri.removeprefix("file://"))
        landing.mkdir(parents=True, exist_ok=True)
        batch = landing / f"batch-{datetime.now(UTC):%Y%m%dT%H%M%S}.csv"
        sample = random.Random(1).sample(penguins(), 40)
        with batch.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(sample[0]))
            writer.writeheader()
            writer.writerows({**r, "year": "2027"} for r in sample)
        known = {r["run_id"] for r in runs("penguin_training", env)}
        event(f"dropped {batch.name} (40 rows) into {landing}")
        arrival = [r for r in runs("penguin_data_arrival", env) if r["state"] == "running"]
        if arrival:
            run_id = arrival[0]["run_id"]
            state = wait_until_done("penguin_data_arrival", run_id, env)
            event(f"penguin_data_arrival {run_id} {state}: "
                  + ", ".join(f"{k} {v}" for k, v in task_states("penguin_data_arrival", run_id, env).items()))
        follow_training(env, known, root)
    finally:
        services.stop()
        subprocess.run([RUNTIME_PYTHON, "-m", "airflow_mlops.runtime.serving", "stop", "--pipeline", str(config_path)],
                       env=env, capture_output=True)
        event(f"airflow standalone and the loop's prediction server stopped; the loop's state stays in {LOOP.relative_to(REPO)}/ "
              "(make loop-ui shows it in the Airflow UI)")

    print("\nTimeline")
    start = TIMELINE[0][0]
    for at, message in TIMELINE:
        print(f"  {at:%H:%M:%S}  +{(at - start).total_seconds():5.0f}s  {message}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
