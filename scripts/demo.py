"""`make demo`: run the penguin training DAG twice on the embedded default and summarise.

The first run trains, evaluates, registers and promotes a model; the second, on unchanged data,
reuses the cached steps and evaluates the model against the champion. Runs in the Airflow
environment (.venv) with the Makefile's AIRFLOW_HOME (.mlops/airflow).
"""

from __future__ import annotations

import os
import re
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from dag_runs import airflow, dag_test, step_runs

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "include" / "penguin" / "pipeline.yaml"
DAG_ID = "penguin_training"
# What the components say that is worth watching live; the full log is kept in a file.
LIVE = re.compile(
    r"\] \[\w+\] INFO airflow_mlops\.components: (cache (hit|miss)|blessing|registered|this model|version \d+ is already"
    r"|champion: version|drift |validation report)|failed \(|DagRun Finished"
)


def step(message: str) -> None:
    print(f"\n== {message}", flush=True)


def run_training(logical_date: str, logs: Path, root: str, pipeline: str) -> dict[str, dict] | None:
    """One DAG run; prints its summary and returns each step's execution record."""
    from airflow_mlops.operators.component import safe_segment

    log = logs / f"{DAG_ID}-{safe_segment(logical_date)}.log"
    step(f"airflow dags test {DAG_ID} {logical_date}   (full log: {log.relative_to(REPO)})")
    run_id, state, seconds = dag_test(DAG_ID, logical_date, log, live=LIVE)
    print(f"   finished in {seconds:.0f} s: {state}")
    if run_id is None or state != "success":
        return None
    print(f"\n   {'step':<10} {'state':<9} {'time':>6}  {'cache':<5}  figures")
    records = {}
    for run in step_runs(DAG_ID, run_id, root, pipeline):
        seconds = f"{run.task_seconds:.1f}s" if run.task_seconds is not None else "-"
        print(f"   {run.task_id:<10} {run.state or '-':<9} {seconds:>6}  {run.cache:<5}  {figures(run.task_id, run.record)}")
        if run.record:
            records[run.task_id] = run.record
    return records


def figures(task_id: str, record: dict | None) -> str:
    if record is None:
        return ""
    m, outputs = record["metrics"], record["outputs"]
    if task_id == "ingest":
        return f"{m['rows']} rows (train {m['rows_train']}, eval {m['rows_eval']}, test {m['rows_test']})"
    if task_id == "validate":
        return f"verdict {m['verdict']}, {m['anomalies']} anomalies, {m['drifted_columns']} drifted columns"
    if task_id == "transform":
        return f"{m['features']} features, {m['classes']} classes"
    if task_id == "train":
        return f"{m['epochs_run']} epochs, accuracy {m['accuracy']:.3f}, eval accuracy {m.get('val_accuracy', float('nan')):.3f}"
    if task_id == "evaluate":
        blessing = outputs["blessing"]["properties"]
        champion = f", champion {m['champion_accuracy']:.3f}" if m["champion_accuracy"] is not None else ", no champion yet"
        return f"test accuracy {m['accuracy']:.3f}{champion}; {'BLESSED' if blessing['blessed'] else 'not blessed: ' + '; '.join(blessing['reasons'])}"
    if task_id == "register":
        return f"version {m['version']}" + (" (already registered)" if m["already_registered"] else " (new)")
    if task_id == "promote":
        return f"champion: version {m['champion']} (previous: {m['previous'] or 'none'})"
    return ""


def main() -> int:
    from airflow_mlops.config import load_pipeline_config
    from airflow_mlops.factory.training import resolve_artifact_root, resolve_tracking_uri

    config = load_pipeline_config(CONFIG)
    root = resolve_artifact_root(config)
    logs = REPO / ".mlops" / "demo"
    logs.mkdir(parents=True, exist_ok=True)

    step(f"Airflow home {os.environ['AIRFLOW_HOME']} (SQLite): migrate, create the `gpu` pool")
    for command in (("db", "migrate"), ("pools", "set", "gpu", "1", "GPUs for training (slots = GPUs)")):
        if airflow(*command)[0] != 0:
            print(f"airflow {' '.join(command)} failed; run it by hand to see why", file=sys.stderr)
            return 1

    now = datetime.now(timezone.utc).replace(microsecond=0)
    first = run_training((now - timedelta(minutes=1)).isoformat(), logs, root, config.name)
    second = run_training(now.isoformat(), logs, root, config.name) if first else None
    if not (first and second):
        return 1

    step("Where to look")
    outputs = {step_id: record["outputs"] for step_id, record in second.items()}
    for label, uri in (
        ("validation report", outputs["validate"]["anomalies"]["properties"]["report"]),
        ("training curves", outputs["train"]["model"]["uri"] + "/training_curves.png"),
        ("evaluation report", outputs["evaluate"]["evaluation"]["properties"]["report"]),
    ):
        print(f"   {label:<18} {uri}")
    print(f"   {'artifacts':<18} {root}/{config.name}/")
    print(f"   {'MLflow registry':<18} {resolve_tracking_uri(config)}  (model '{config.registry.model_name}')")
    return 0


if __name__ == "__main__":
    sys.exit(main())
