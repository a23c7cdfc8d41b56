"""`make drill`: the kill drill. SIGKILL parts of the closed loop at chosen points, restart what a
supervisor would, and check that nothing was lost, duplicated or half-written.

Everything is its own: PostgreSQL (Airflow's metadata DB and MLflow's tracking/registry DB, on
127.0.0.1, a free port, run as the ``postgres`` user), an Airflow home, a copy of the penguin
project (5 epochs, lenient blessing: the drill tests the plumbing, not the model), artifacts,
landing directory and prediction server port - all under ``.mlops/drill/`` (wiped at the start);
``make demo`` state is not touched.

1. Airflow's scheduler, triggerer, DAG processor and API server run as separate processes; the
   drill is their supervisor (a killed one is started again).
2. The first training run: its ``train`` component is SIGKILLed while it writes its attempt,
   Airflow retries it; the scheduler (with its executor's workers) is SIGKILLed during
   ``evaluate`` and restarted. The model becomes the champion and is served; a client sends
   requests for the rest of the drill.
3. The triggerer is SIGKILLed while the data-arrival sensor waits in it; two files land while
   it is down; it is restarted. The batch starts a training run, whose ``register`` component
   is SIGKILLed mid-registration; a third file lands during that run; the prediction server
   (every process of it) is SIGKILLed under traffic and started again.
4. Concurrency: labels arrive (new training data), the ``gpu`` pool gets 3 slots, and a
   backfill of 3 logical dates runs 3 training runs at once, all writing the registry.
5. The invariants (scripts/drill_checks.py) are checked; a timeline and a PASS/FAIL line per
   invariant are printed; the exit code is 1 if any failed.
"""

from __future__ import annotations

import csv
import json
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import psutil
from dag_runs import AIRFLOW, airflow
from demo_loop import TIMELINE, event, free_port, penguins, request_row
from drill_checks import (
    Check,
    Sent,
    check_aliases,
    check_artifacts,
    check_batches,
    check_prediction_log,
    check_registrations,
    check_retraining,
    check_runs,
)
from project_copy import copy_project, own_environment

from local_cloud.postgres import Postgres

REPO = Path(__file__).resolve().parents[1]
DRILL = REPO / ".mlops" / "drill"
PROJECT = DRILL / "project"
HOME = DRILL / "airflow"
ARTIFACTS = DRILL / "artifacts"
LANDING = DRILL / "landing"
PIPELINE = "penguin"
RUNTIME_PYTHON = os.environ.get("AIRFLOW__MLOPS__RUNTIME_PYTHON", str(REPO / ".venv-runtime" / "bin" / "python"))
TRAINING, ARRIVAL = f"{PIPELINE}_training", f"{PIPELINE}_data_arrival"
COMPONENTS_MODULE = "airflow_mlops.runtime.components"


def wait_for(what: str, predicate, timeout: float = 600, every: float = 1.0, unless=None):
    """Poll ``predicate`` until it is truthy; give up after ``timeout`` or when ``unless()`` is
    truthy (a run that failed: nothing to wait for)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if unless is not None and (why := unless()):
            raise RuntimeError(f"gave up waiting for {what}: {why}")
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")


# -- the project, Airflow's services, the prediction server -------------------------------------

def write_project(pg: Postgres, serving_port: int) -> Path:
    """A copy of the penguin project whose artifacts, landing directory, registry and server port
    are the drill's; few epochs, and blessing that any working model passes."""

    def edit(data: dict) -> None:
        data["artifact_root"] = str(ARTIFACTS)
        data["data"]["source"] = [data["data"]["source"][0], str(LANDING)]
        data["runtime"] = {**data.get("runtime", {}), "retries": 2, "retry_delay_seconds": 5, "timeout_minutes": 15}
        data["training"] = {**data.get("training", {}), "epochs": 5}
        data["evaluation"] = {**data.get("evaluation", {}), "thresholds": {"accuracy": {"min": 0.3, "max_drop": 1.0}},
                              "backtest": {"accuracy": {"max_drop": 1.0}}}
        # SQLAlchemy 2.1 reads postgresql:// as psycopg 3; the environments have psycopg2
        data["registry"] = {**data.get("registry", {}), "tracking_uri": pg.url("mlflow", "+psycopg2")}
        data["deployment"] = {"serving": {"port": serving_port}, "canary": {"on_drift": "canary"}}
        data["monitoring"] = {**data.get("monitoring", {}), "landing": str(LANDING), "poll_seconds": 2}

    return copy_project(PROJECT, PIPELINE, ("training", "data_arrival"), edit)


SERVICES = ("scheduler", "triggerer", "dag-processor", "api-server")


class Supervisor:
    """Airflow's services, each in a process group of its own; :meth:`kill` SIGKILLs one group
    (the service and whatever it forked: the scheduler's executor workers and task processes),
    :meth:`restart` starts it again, as systemd or Kubernetes would."""

    def __init__(self, env: dict):
        self.env, self.procs = env, {}

    def start(self, name: str) -> None:
        log = (HOME / f"{name}.log").open("a")
        self.procs[name] = subprocess.Popen([AIRFLOW, name], env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)

    def kill(self, name: str) -> None:
        proc = self.procs[name]
        members = [p for p in psutil.process_iter(["pid"]) if _pgid(p.pid) == proc.pid]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        event(f"KILL  SIGKILL {name} (pid {proc.pid}, {len(members)} processes in its group)")

    def restart(self, name: str) -> None:
        self.start(name)
        event(f"RESTART {name} (pid {self.procs[name].pid})")

    def stop_all(self) -> None:
        for proc in self.procs.values():
            _signal_group(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait()


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=5) as r:
            health = json.load(r)
    except OSError:
        return False
    return all(health.get(c, {}).get("status") == "healthy" for c in ("scheduler", "dag_processor", "triggerer"))


def serving(config: Path, command: str, env: dict) -> None:
    result = subprocess.run([RUNTIME_PYTHON, "-m", "airflow_mlops.runtime.serving", command, "--pipeline", str(config)],
                            env=env, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"serving {command} failed:\n{result.stdout}\n{result.stderr}")


def kill_server(config: Path) -> int:
    """SIGKILL every process of the prediction server (``bentoml serve`` and its workers, which
    run in sessions of their own), as an OOM kill or a lost container would."""
    pid = int((PROJECT / ".mlops" / "serving" / PIPELINE / "server.pid").read_text())
    family = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    for p in family:
        try:
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(family, timeout=30)
    return len(family)


class Client(threading.Thread):
    """Single-row requests, one after the other, for as long as the drill runs; what came back
    (or did not) is kept per request."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url, self.sent, self.halt = url, [], threading.Event()
        self.rows = penguins()
        self.species: dict[str, str] = {}
        self.row_of: dict[str, str] = {}

    def run(self) -> None:
        rng = random.Random(5)
        i = 0
        while not self.halt.is_set():
            row, request_id = rng.choice(self.rows), f"drill-{i}"
            i += 1
            self.species[request_id] = row["species"]
            self.row_of[request_id] = json.dumps(row, sort_keys=True)
            body = json.dumps({"instances": [{**request_row(row, shift=False), "request_id": request_id}]}).encode()
            request = urllib.request.Request(self.url + "/predict", data=body, headers={"Content-Type": "application/json"})
            sent_at = datetime.now(UTC)
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    outcome = "answered" if response.status == 200 else f"http {response.status}"
            except urllib.error.HTTPError as exc:
                outcome = f"http {exc.code}"
            except (urllib.error.URLError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                outcome = ("refused" if isinstance(reason, ConnectionRefusedError)
                           else "timeout" if isinstance(reason, TimeoutError) else "no_answer")
            self.sent.append(Sent(request_id, outcome, datetime.now(UTC), sent_at))
            time.sleep(0.08 if outcome == "answered" else 0.3)

    def stop(self) -> None:
        self.halt.set()
        self.join(timeout=30)


# -- what the drill looks at --------------------------------------------------------------------

class Airflow:
    """Reads of Airflow's metadata DB (fast, and independent of the services being up)."""

    def __init__(self, pg: Postgres):
        self.pg = pg

    def runs(self, dag_id: str) -> list[dict]:
        rows = self.pg.query("airflow", "SELECT id, run_id, run_type, state FROM dag_run WHERE dag_id = %s ORDER BY id", dag_id)
        return [{"id": r[0], "run_id": r[1], "run_type": r[2], "state": r[3]} for r in rows]

    def ti(self, dag_id: str, run_id: str, task_id: str) -> tuple[str | None, int]:
        rows = self.pg.query("airflow", "SELECT state, try_number FROM task_instance WHERE dag_id = %s AND run_id = %s "
                             "AND task_id = %s", dag_id, run_id, task_id)
        return (rows[0][0], rows[0][1]) if rows else (None, 0)

    def tis(self, dag_id: str, run_id: str) -> dict[str, tuple[str | None, int]]:
        rows = self.pg.query("airflow", "SELECT task_id, state, try_number FROM task_instance WHERE dag_id = %s AND run_id = %s",
                             dag_id, run_id)
        return {r[0]: (r[1], r[2]) for r in rows}

    def done(self, dag_id: str, run_id: str) -> str | None:
        state = next((r["state"] for r in self.runs(dag_id) if r["run_id"] == run_id), None)
        return state if state in ("success", "failed") else None

    def trigger_events(self) -> list[dict]:
        rows = self.pg.query("airflow", "SELECT e.id, e.source_run_id, a.uri FROM asset_event e JOIN asset a ON a.id = e.asset_id "
                             "WHERE a.uri IN (%s, %s) ORDER BY e.id", f"mlops://{PIPELINE}/new_examples", f"mlops://{PIPELINE}/retrain")
        return [{"id": r[0], "source_run_id": r[1], "uri": r[2]} for r in rows]

    def consumed(self) -> list[tuple[str, int]]:
        rows = self.pg.query("airflow", "SELECT r.run_id, x.event_id FROM dagrun_asset_event x JOIN dag_run r ON r.id = x.dag_run_id "
                             "WHERE r.dag_id = %s", TRAINING)
        return [(r[0], r[1]) for r in rows]


def component_process(component: str) -> psutil.Process | None:
    """The running component process of the drill (its spec is under the drill's artifacts)."""
    for p in psutil.process_iter(["cmdline"]):
        cmd = p.info["cmdline"] or []
        if COMPONENTS_MODULE in cmd and component in cmd and str(ARTIFACTS) in " ".join(cmd):
            return p
    return None


def task_log(run_id: str, task_id: str) -> str:
    folder = HOME / "logs" / f"dag_id={TRAINING}" / f"run_id={run_id}" / f"task_id={task_id}"
    return "\n".join(p.read_text(errors="replace") for p in sorted(folder.glob("*.log")))


def kill_component(component: str, when: str) -> None:
    proc = component_process(component)
    if proc is None:
        raise RuntimeError(f"no {component} process to kill")
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the launcher starts it in a process group of its own
    except ProcessLookupError:
        proc.kill()
    event(f"KILL  SIGKILL the {component} component (pid {proc.pid}) {when}")


def land(name: str, rows: int, seed: int) -> str:
    sample = random.Random(seed).sample(penguins(), rows)
    LANDING.mkdir(parents=True, exist_ok=True)
    tmp = LANDING / f".{name}.tmp"
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(sample[0]))
        writer.writeheader()
        writer.writerows({**r, "year": "2027"} for r in sample)
    tmp.rename(LANDING / name)  # a file appears whole, as an upload does
    event(f"LAND  {name} ({rows} rows) in the landing directory")
    return f"file://{LANDING / name}"


# -- the checks' inputs -------------------------------------------------------------------------

def execution_records() -> tuple[list[dict], set[str], dict[str, bool]]:
    """Every execution record and invocation result, as (records, complete outputs, exists)."""
    root = ARTIFACTS / PIPELINE
    documents = [*root.glob("*/*/execution.json"), *root.glob("_invocations/**/result.json")]
    records, complete, exists = [], set(), {}
    for path in documents:
        record = json.loads(path.read_text())
        inputs = [ref["uri"] for ref in (record.get("inputs") or {}).values()]
        outputs = [ref["uri"] for ref in (record.get("outputs") or {}).values() if ref["uri"].startswith("file://")]
        records.append({"where": str(path.relative_to(root)), "inputs": inputs, "outputs": outputs})
        complete.update(ref["uri"] for ref in (record.get("outputs") or {}).values())
        for uri in outputs:
            local = Path(uri.removeprefix("file://"))
            exists[uri] = local.is_file() and local.stat().st_size > 0 or local.is_dir() and any(local.iterdir())
    return records, complete, exists


def registry(pg: Postgres) -> tuple[list[dict], dict[str, str]]:
    """Live versions (version, model fingerprint, model URI) and aliases, from MLflow's tables."""
    rows = pg.query("mlflow", "SELECT v.version, t.key, t.value FROM model_versions v LEFT JOIN model_version_tags t "
                    "ON t.name = v.name AND t.version = v.version WHERE v.name = %s AND v.current_stage <> 'Deleted_Internal'",
                    PIPELINE)
    versions: dict[str, dict] = {}
    for version, key, value in rows:
        entry = versions.setdefault(str(version), {"version": str(version), "fingerprint": None, "model_uri": None})
        if key == "model_fingerprint":
            entry["fingerprint"] = value
        elif key == "model_uri":
            entry["model_uri"] = value
    aliases = {a: str(v) for a, v in pg.query("mlflow", "SELECT alias, version FROM registered_model_aliases WHERE name = %s", PIPELINE)}
    return sorted(versions.values(), key=lambda v: int(v["version"])), aliases


def logged_request_ids() -> list[str]:
    ids = []
    for part in (ARTIFACTS / PIPELINE / "predictions").glob("date=*/hour=*/part-*.jsonl"):
        ids += [json.loads(line)["request_id"] for line in part.read_text().splitlines() if line.strip()]
    return ids


def run_checks(pg: Postgres, af: Airflow, landed: list[str], client: Client, server_kills: list[datetime],
               deployment: dict) -> list[Check]:
    state = json.loads((ARTIFACTS / PIPELINE / "landing" / "state.json").read_text())
    arrival = {r["run_id"]: r["state"] for r in af.runs(ARRIVAL)}
    records, complete, exists = execution_records()
    versions, aliases = registry(pg)
    records += [{"where": f"registry v{v['version']}", "inputs": [v["model_uri"]], "outputs": []} for v in versions]
    return [
        check_batches(landed, state, arrival),
        check_retraining(af.trigger_events(), af.consumed()),
        check_artifacts(records, complete, exists),
        check_registrations(versions),
        check_aliases([v["version"] for v in versions], aliases, deployment),
        check_prediction_log(client.sent, logged_request_ids(), server_kills),
        check_runs({TRAINING: af.runs(TRAINING), ARRIVAL: af.runs(ARRIVAL)}),
    ]


# -- the drill ----------------------------------------------------------------------------------

def follow_first_run(sup: Supervisor, af: Airflow) -> str:
    """The scheduled run created on unpause: kill its train component mid-write, then the
    scheduler during evaluate."""
    run = wait_for("the first penguin_training run", lambda: af.runs(TRAINING), timeout=300, every=2)[0]
    event(f"penguin_training {run['run_id']} ({run['run_type']}) started")

    def training() -> str | None:
        """Mid-training: an epoch checkpointed, the model not written yet. (Train writes its
        model elsewhere and moves it into its attempt directory whole, 20 ms before the record:
        there is no half-written model directory to catch.)"""
        proc = component_process("train")
        if proc is None:
            return None
        if "epoch 2/" in task_log(run["run_id"], "train"):
            return "mid-training (epoch 2 checkpointed, no model written yet)"
        return "mid-run (before its second epoch ended)" if time.time() - proc.create_time() > 45 else None

    def failed() -> str | None:
        return f"{run['run_id']} failed" if af.done(TRAINING, run["run_id"]) == "failed" else None

    kill_component("train", wait_for("train in its epochs", training, timeout=900, every=0.1, unless=failed))
    wait_for("train's retry", lambda: af.ti(TRAINING, run["run_id"], "train")[1] >= 2 and
             af.ti(TRAINING, run["run_id"], "train")[0] == "running", timeout=300, unless=failed)
    event(f"train: Airflow retries it (try {af.ti(TRAINING, run['run_id'], 'train')[1]})")
    wait_for("evaluate running", lambda: component_process("evaluate") is not None, timeout=900, every=0.5, unless=failed)
    sup.kill("scheduler")
    time.sleep(5)
    sup.restart("scheduler")
    state = wait_for("the first run to end", lambda: af.done(TRAINING, run["run_id"]), timeout=900, every=3)
    tis = af.tis(TRAINING, run["run_id"])
    event(f"penguin_training {run['run_id']}: {state}; tries: " + ", ".join(f"{t} {n}" for t, (_, n) in tis.items() if n > 1))
    return run["run_id"]


def data_arrival_under_kills(sup: Supervisor, af: Airflow, config: Path, env: dict, server_kills: list[datetime]) -> list[str]:
    """Kill the triggerer while the sensor waits; land files while it is down; kill register in
    the run the batch starts, and the prediction server during it; land a third file meanwhile."""
    airflow("dags", "unpause", ARRIVAL, env=env)

    def deferred() -> bool:
        return any(af.ti(ARRIVAL, r["run_id"], "wait_for_new_data")[0] == "deferred" for r in af.runs(ARRIVAL))

    wait_for("the data-arrival sensor deferred in the triggerer", deferred, timeout=300)
    event("penguin_data_arrival: its sensor waits, deferred in the triggerer")
    known = {r["run_id"] for r in af.runs(TRAINING)}
    sup.kill("triggerer")
    landed = [land("batch-1.csv", 20, 1), land("batch-2.csv", 20, 2)]
    time.sleep(5)
    sup.restart("triggerer")
    run = wait_for("a training run started by the new data",
                   lambda: [r for r in af.runs(TRAINING) if r["run_id"] not in known], timeout=600, every=2)[0]
    claimed = json.loads((ARTIFACTS / PIPELINE / "landing" / "state.json").read_text())["batches"]
    event(f"batch claimed ({', '.join(Path(o).name for b in claimed for o in b['objects'])}); "
          f"penguin_training {run['run_id']} ({run['run_type']}) started")
    def failed() -> str | None:
        return f"{run['run_id']} failed" if af.done(TRAINING, run["run_id"]) == "failed" else None

    wait_for("validate running", lambda: component_process("validate") is not None, timeout=600, every=0.5, unless=failed)
    landed.append(land("batch-3.csv", 20, 3))
    server_kills.append(datetime.now(UTC))
    event(f"KILL  SIGKILL the prediction server under traffic ({kill_server(config)} processes)")
    time.sleep(3)
    serving(config, "start", env)
    event("RESTART the prediction server")

    def registering() -> str | None:
        proc = component_process("register")
        if proc is None:
            return None
        if "loads as the server loads it" in task_log(run["run_id"], "register"):
            return "after its load check, while it logs and registers the model"
        return "mid-run (before its load check ended)" if time.time() - proc.create_time() > 30 else None

    kill_component("register", wait_for("register loading the candidate", registering, timeout=900, every=0.1, unless=failed))
    state = wait_for("the new-data run to end", lambda: af.done(TRAINING, run["run_id"]), timeout=900, every=3)
    tis = af.tis(TRAINING, run["run_id"])
    event(f"penguin_training {run['run_id']}: {state}; tries: " + ", ".join(f"{t} {n}" for t, (_, n) in tis.items() if n > 1))

    def settled() -> bool:  # every landed file claimed, every trigger consumed, nothing running
        state = json.loads((ARTIFACTS / PIPELINE / "landing" / "state.json").read_text())
        consumed = {e for _, e in af.consumed()}
        return (set(landed) <= set(state["claimed"]) and all(e["id"] in consumed for e in af.trigger_events())
                and not [r for r in af.runs(TRAINING) if r["state"] not in ("success", "failed")]
                and all(r["state"] in ("success", "failed") or af.ti(ARRIVAL, r["run_id"], "wait_for_new_data")[0] == "deferred"
                        for r in af.runs(ARRIVAL)))

    wait_for("batch-3's data-arrival and training runs", settled, timeout=900, every=3)
    for r in af.runs(TRAINING):
        if r["run_id"] not in known and r["run_id"] != run["run_id"]:
            event(f"penguin_training {r['run_id']} ({r['run_type']}): {r['state']}")
    return landed


def concurrent_backfill(af: Airflow, env: dict, client: Client) -> None:
    """Labels for the traffic (new training data, so a new model), 3 gpu slots, 3 backfill runs."""
    feedback = ARTIFACTS / PIPELINE / "feedback"
    feedback.mkdir(parents=True, exist_ok=True)
    # one labelled request per distinct penguin (the client draws with replacement; validation
    # stops data that is mostly copies of itself)
    first: dict[str, str] = {}
    for s in client.sent:
        if s.outcome == "answered":
            first.setdefault(client.row_of[s.request_id], s.request_id)
    labelled = list(first.values())[:120]
    (feedback / "drill.csv").write_text("request_id,label\n" + "".join(f"{r},{client.species[r]}\n" for r in labelled))
    event(f"labels arrived for {len(labelled)} served requests (the next training data differ)")
    airflow("pools", "set", "gpu", "3", "GPUs for training", env=env)
    code, output = airflow("backfill", "create", "--dag-id", TRAINING, "--from-date", "2026-02-01", "--to-date", "2026-02-20",
                           "--max-active-runs", "3", env=env)
    if code:
        raise RuntimeError(f"backfill create failed:\n{output[-2000:]}")
    event("backfill of 3 logical dates created (max_active_runs 3, gpu pool 3 slots): 3 runs at once")
    backfill = wait_for("3 backfill runs", lambda: len(b := [r for r in af.runs(TRAINING) if r["run_type"] == "backfill"]) == 3 and b,
                        timeout=120, every=2)
    peak = 0
    deadline = time.monotonic() + 1200
    while time.monotonic() < deadline:
        states = {r["run_id"]: af.done(TRAINING, r["run_id"]) for r in backfill}
        peak = max(peak, sum(1 for p in psutil.process_iter(["cmdline"])
                             if COMPONENTS_MODULE in (p.info["cmdline"] or []) and str(ARTIFACTS) in " ".join(p.info["cmdline"] or [])))
        if all(states.values()):
            break
        time.sleep(1)
    else:
        raise RuntimeError("the backfill runs did not end in 20 min")
    event(f"backfill runs ended: {', '.join(f'{k[-25:]} {v}' for k, v in states.items())}; "
          f"at most {peak} components ran at once")


def main() -> int:
    shutil.rmtree(DRILL, ignore_errors=True)
    HOME.mkdir(parents=True)
    pg = Postgres()
    sup: Supervisor | None = None
    config: Path | None = None
    env: dict = {}
    started = time.monotonic()
    try:
        pg.start()
        event(f"PostgreSQL {pg.bin.parent.name} on 127.0.0.1:{pg.port} (Airflow's and MLflow's database)")
        serving_port, api_port = free_port(0), free_port(0)
        config = write_project(pg, serving_port)
        env = own_environment(HOME, PROJECT, **{
               "PATH": f"{Path(AIRFLOW).parent}:{os.environ['PATH']}", "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
               "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": pg.url("airflow", "+psycopg2"),
               "AIRFLOW__API__HOST": "127.0.0.1", "AIRFLOW__API__PORT": str(api_port), "AIRFLOW__API__WORKERS": "1",
               "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
               "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(16),
               "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port(0)),
               "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port(0)),
               # a killed scheduler's or triggerer's work is taken over within seconds, not minutes
               "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "45",
               "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
               "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "15",
               "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD": "15",
               "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "15",
               "MLOPS_SERVING_POLL_SECONDS": "2"})
        for command in (("db", "migrate"), ("pools", "set", "gpu", "1", "GPUs for training")):
            code, output = airflow(*command, env=env)
            if code:
                raise RuntimeError(f"airflow {' '.join(command)} failed:\n{output[-2000:]}")
        sup = Supervisor(env)
        for name in SERVICES:
            sup.start(name)
        wait_for("Airflow healthy", lambda: healthy(api_port), timeout=300, every=2)
        af = Airflow(pg)
        wait_for("the DAGs parsed", lambda: len(pg.query("airflow", "SELECT dag_id FROM dag WHERE dag_id IN (%s, %s)",
                                                            TRAINING, ARRIVAL)) == 2, timeout=300, every=2)
        event(f"Airflow up: scheduler, triggerer, dag-processor, api-server (127.0.0.1:{api_port}), each supervised by the drill")

        airflow("dags", "unpause", TRAINING, env=env)
        follow_first_run(sup, af)
        serving(config, "start", env)
        client = Client(f"http://127.0.0.1:{serving_port}")
        client.start()
        event(f"prediction server up on 127.0.0.1:{serving_port}; a client sends requests from now on")
        server_kills: list[datetime] = []
        landed = data_arrival_under_kills(sup, af, config, env, server_kills)
        client.stop()
        serving(config, "stop", env)
        event(f"client stopped after {len(client.sent)} requests; the server stopped cleanly (its log drained)")
        concurrent_backfill(af, env, client)

        deployment = json.loads((ARTIFACTS / PIPELINE / "deployment" / "record.json").read_text())
        checks = run_checks(pg, af, landed, client, server_kills, deployment)
        versions, aliases = registry(pg)
        runs = af.runs(TRAINING)
        event("checks done")
    finally:
        if sup is not None:
            sup.stop_all()
        if config is not None:
            subprocess.run([RUNTIME_PYTHON, "-m", "airflow_mlops.runtime.serving", "stop", "--pipeline", str(config)],
                           env=env or None, capture_output=True)
        pg.stop()

    print("\nTimeline")
    start = TIMELINE[0][0]
    for at, message in TIMELINE:
        print(f"  {at:%H:%M:%S}  +{(at - start).total_seconds():5.0f}s  {message}")
    print("\nFigures")
    print(f"  training runs: {len(runs)} ({', '.join(sorted({r['run_type'] for r in runs}))}), "
          f"states: {dict(sorted(_count(r['state'] for r in runs).items()))}")
    print(f"  registry: {len(versions)} versions {[v['version'] for v in versions]}, aliases {aliases}")
    print(f"  client: {dict(sorted(_count(s.outcome for s in client.sent).items()))}; logged rows {len(logged_request_ids())}")
    print(f"  wall time {time.monotonic() - started:.0f} s")
    print("\nInvariants")
    for check in checks:
        print("  " + check.line())
    failed = [c for c in checks if not c.ok]
    print(f"\n{'FAIL' if failed else 'PASS'}: {len(checks) - len(failed)} of {len(checks)} invariants hold")
    return 1 if failed else 0


def _count(items) -> dict:
    counts: dict = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    return counts


if __name__ == "__main__":
    sys.exit(main())
