"""The approval gate with a real scheduler (`airflow standalone`, the ``airflow_services`` fixture):
``penguin_gate`` is the penguin pipeline with ``deployment.approval: promote`` (the fixture writes
it and its promotion DAG). A canary that passes its analysis waits in ``penguin_gate_promotion``'s
``approve`` task; a person's answer given through the REST API (what the UI's *Required Actions*
does) is applied: Approve promotes the canary, Reject ends it with the champion kept and the
deployment history saying who rejected it and why.

The champion and the canary are registered and started from the runtime environment (no training:
versions with no model behind them, which the analysis never loads), and the prediction log is
written as the server writes it."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from conftest import REPO, RUNTIME_PYTHON, api_token, registry_state

GATE = "penguin_gate"
DAG_ID = f"{GATE}_promotion"

# Registers a new version of the gate's model and starts its canary (the first one registered
# becomes the champion first), then logs ``rows`` answers of each version since the canary started.
PREPARE = """
import json, sys
from datetime import UTC, datetime
from airflow_mlops.contract.layout import join_uri, predictions_uri
from airflow_mlops.runtime.ml.model_registry import Registry
from airflow_mlops.runtime.predictions.writer import PredictionLogger
from airflow_mlops.runtime.serving.rollout import Rollout

tracking_uri, root, name, rows = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
registry = Registry(tracking_uri, name, name, join_uri(root, name, "_mlflow"))
client = registry.client()
if not client.search_registered_models(filter_string=f"name='{name}'"):
    client.create_registered_model(name)
rollout = Rollout(registry, root, name, "test_approval")

def register():
    return str(client.create_model_version(name, source=join_uri(root, name, "no-model")).version)

if rollout.record().champion is None:
    rollout.start_canary(register(), 0.5, 0)
rollout.start_canary(register(), 0.5, 0)  # a window of 0 minutes: over at once
record = rollout.record()
at = datetime.now(UTC).isoformat(timespec="milliseconds")
row = {"island": "Biscoe", "bill_length_mm": 47.5, "bill_depth_mm": 14.2, "flipper_length_mm": 217.0,
       "body_mass_g": 4875.0, "sex": "female"}
logger = PredictionLogger(predictions_uri(root, name), flush_rows=100_000, flush_seconds=60)
logger.log([{"timestamp": at, "request_id": f"{version}-{i}", "features": row, "prediction": "Gentoo",
             "probabilities": {"Adelie": 0.0, "Chinstrap": 0.0, "Gentoo": 1.0}, "model_version": version,
             "model_role": role, "latency_ms": 5.0, "batch_rows": 1}
            for role, version in (("champion", record.champion), ("challenger", record.canary.version))
            for i in range(rows)])
logger.close()
print(json.dumps({"champion": record.champion, "canary": record.canary.version}))
"""


def prepare_canary(paths: dict, rows: int = 60) -> dict:
    """A new version of the gate's model in a canary whose window is over, with ``rows`` logged
    answers of it and of the champion."""
    out = subprocess.run([str(RUNTIME_PYTHON), "-c", PREPARE, paths["tracking_uri"], paths["artifact_root"], GATE, str(rows)],
                         capture_output=True, text=True, timeout=300, cwd=REPO)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


class Api:
    """The REST API (/api/v2) as standalone's admin user."""

    def __init__(self, env: dict, port: int):
        self.base = f"http://127.0.0.1:{port}"
        self.token = api_token(env, port)

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"}
        request = urllib.request.Request(self.base + path, method=method, headers=headers,
                                         data=json.dumps(body).encode() if body is not None else None)
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)

    def task_states(self, run_id: str) -> dict[str, str]:
        found = self.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{urllib.parse.quote(run_id)}/taskInstances")
        return {t["task_id"]: t["state"] for t in found["task_instances"]}

    def failed_logs(self, run_id: str) -> str:
        """The end of the log of every failed task of the run (what an unexpected state is shown with)."""
        out = []
        for task in self.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{urllib.parse.quote(run_id)}/taskInstances")["task_instances"]:
            if task["state"] != "failed":
                continue
            path = (f"/api/v2/dags/{DAG_ID}/dagRuns/{urllib.parse.quote(run_id)}/taskInstances/{task['task_id']}/logs/"
                    f"{max(task['try_number'], 1)}?full_content=true")
            content = self.call("GET", path).get("content") or []
            lines = [c.get("event", "") if isinstance(c, dict) else str(c) for c in content]
            out.append(f"--- {task['task_id']} ---\n" + "\n".join(lines[-40:]))
        return "\n".join(out)

    def run_state(self, run_id: str) -> str:
        return self.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{urllib.parse.quote(run_id)}")["state"]


def awaiting_answer(api: Api, deadline_seconds: float = 240) -> dict:
    """The approval that waits for an answer (polled for), as GET .../hitlDetails lists it."""
    deadline = time.monotonic() + deadline_seconds
    while True:
        found = api.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/~/hitlDetails?response_received=false")["hitl_details"]
        if found:
            assert len(found) == 1, found
            return found[0]
        runs = api.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns")["dag_runs"]
        assert time.monotonic() < deadline, f"no approval awaits an answer; runs: {runs}"
        time.sleep(2)


def deferral_drained(paths: dict, run_id: str, deadline_seconds: float = 120) -> None:
    """Wait until the scheduler has taken the executor's event for the ``approve`` workload that
    paused for input. An answer given before that (a script can answer within a second) makes
    Airflow requeue the task and then fail it on that stale event ("finished with state success,
    but the task instance's state attribute is queued", apache/airflow#72716, #71580); a person
    takes longer than that to read the question."""
    event = (f"Received executor event with state success for task instance TaskInstanceKey(dag_id='{DAG_ID}', "
             f"task_id='approve', run_id='{run_id}'")
    deadline = time.monotonic() + deadline_seconds
    while event not in paths["standalone_log"].read_text(errors="replace"):
        assert time.monotonic() < deadline, f"the scheduler did not take the executor's event of {run_id}'s approve"
        time.sleep(0.5)


def answer(api: Api, paths: dict, detail: dict, option: str, comment: str) -> dict:
    ti = detail["task_instance"]
    deferral_drained(paths, ti["dag_run_id"])
    path = (f"/api/v2/dags/{DAG_ID}/dagRuns/{urllib.parse.quote(ti['dag_run_id'])}/taskInstances/{ti['task_id']}/"
            f"{ti['map_index']}/hitlDetails")
    return api.call("PATCH", path, {"chosen_options": [option], "params_input": {"comment": comment}})


def finished(api: Api, run_id: str, deadline_seconds: float = 240) -> tuple[str, dict[str, str]]:
    deadline = time.monotonic() + deadline_seconds
    while (state := api.run_state(run_id)) not in ("success", "failed"):
        assert time.monotonic() < deadline, f"run {run_id} still {state}: {api.task_states(run_id)}"
        time.sleep(2)
    tasks = api.task_states(run_id)
    # no test here expects a failed task: one is shown with the end of its log
    assert "failed" not in tasks.values(), f"{tasks}\n{api.failed_logs(run_id)}"
    return state, tasks


def deployment_history(paths: dict) -> list[dict]:
    root = Path(paths["artifact_root"].removeprefix("file://"))
    return json.loads((root / GATE / "deployment" / "record.json").read_text())["history"]


def start_a_run(api: Api) -> None:
    """A promotion run after the canary was prepared: unpausing the DAG starts its latest scheduled
    run (catchup is off); once unpaused, a triggered one. One run at a time (max_active_runs=1)."""
    if api.call("GET", f"/api/v2/dags/{DAG_ID}")["is_paused"]:
        api.call("PATCH", f"/api/v2/dags/{DAG_ID}", {"is_paused": False})
        deadline = time.monotonic() + 30
        while not api.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns")["dag_runs"] and time.monotonic() < deadline:
            time.sleep(1)
    if not [r for r in api.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns")["dag_runs"] if r["state"] in ("queued", "running")]:
        api.call("POST", f"/api/v2/dags/{DAG_ID}/dagRuns", {"logical_date": None, "conf": {"force": True}})


@pytest.fixture(scope="module")
def gate(airflow_services):
    """The REST API and where the gate's artifacts and registry are (from its pipeline.yaml)."""
    import yaml

    env, paths = airflow_services
    config = yaml.safe_load((Path(env["MLOPS_INCLUDE_DIR"]) / GATE / "pipeline.yaml").read_text())
    api = Api(env, paths["api_port"])
    deadline = time.monotonic() + 180
    while DAG_ID not in {d["dag_id"] for d in api.call("GET", "/api/v2/dags?limit=100")["dags"]}:
        assert time.monotonic() < deadline, f"the DAG processor did not pick up {DAG_ID}"
        time.sleep(3)
    yield api, {"artifact_root": config["artifact_root"], "tracking_uri": config["registry"]["tracking_uri"],
                "standalone_log": Path(env["AIRFLOW_HOME"]) / "standalone.log"}
    api.call("PATCH", f"/api/v2/dags/{DAG_ID}", {"is_paused": True})  # no hourly runs during later tests


def test_an_approval_in_the_ui_promotes_the_canary(gate):
    api, paths = gate
    prepared = prepare_canary(paths)
    assert prepared == {"champion": "1", "canary": "2"}
    start_a_run(api)
    detail = awaiting_answer(api)
    # the person sees the figures the analysis judged
    assert detail["subject"] == f"Promote {GATE} version 2 to champion (now version 1)?"
    assert "| requests | 60 | 60 |" in detail["body"] and "| error rate | 0.00 % | 0.00 % |" in detail["body"]
    assert "| p95 latency | 5.0 ms | 5.0 ms |" in detail["body"]
    assert detail["options"] == ["Approve", "Reject"] and list(detail["params"]) == ["comment"]
    assert registry_state(paths["tracking_uri"], GATE)["aliases"] == {"champion": "1", "challenger": "2"}  # nothing yet
    response = answer(api, paths, detail, "Approve", "figures look fine")
    assert response["chosen_options"] == ["Approve"] and response["responded_by"]["name"] == "admin"
    state, tasks = finished(api, detail["task_instance"]["dag_run_id"])
    assert (state, tasks) == ("success", {"canary_analysis": "success", "approve": "success", "promote": "success",
                                          "reject": "skipped"})
    assert registry_state(paths["tracking_uri"], GATE)["aliases"] == {"champion": "2", "previous": "1"}
    last = deployment_history(paths)[-1]
    assert (last["action"], last["version"]) == ("promote", "2")
    assert last["reason"] == "approved by admin in the Airflow UI: figures look fine"
    assert last["figures"]["challenger"]["predictions"] == 60


def test_a_rejection_in_the_ui_keeps_the_champion_and_records_who_and_why(gate):
    api, paths = gate
    prepared = prepare_canary(paths)
    assert prepared == {"champion": "2", "canary": "3"}
    start_a_run(api)
    detail = awaiting_answer(api)
    assert detail["subject"] == f"Promote {GATE} version 3 to champion (now version 2)?"
    answer(api, paths, detail, "Reject", "not during the sale")
    state, tasks = finished(api, detail["task_instance"]["dag_run_id"])
    # the run succeeds: the person's answer was taken and applied; promote was skipped by the approval
    assert (state, tasks) == ("success", {"canary_analysis": "success", "approve": "success", "promote": "skipped",
                                          "reject": "success"})
    assert registry_state(paths["tracking_uri"], GATE)["aliases"] == {"champion": "2", "previous": "1"}
    last = deployment_history(paths)[-1]
    assert (last["action"], last["version"], last["previous_champion"]) == ("reject", "3", "2")
    assert last["reason"] == "rejected by admin in the Airflow UI: not during the sale"
    assert last["by"].startswith(f"{DAG_ID}/")
    assert [d["action"] for d in deployment_history(paths)] == ["bootstrap", "canary", "promote", "canary", "reject"]
