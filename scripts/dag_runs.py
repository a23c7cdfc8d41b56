"""Running `airflow dags test` and reading back what each task did (shared by the demo and the
benchmarks). Runs in the Airflow environment."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

AIRFLOW = str(Path(sys.executable).parent / "airflow")
STEPS = ("ingest", "validate", "transform", "train", "evaluate", "register", "infra_validate", "deploy")
# structlog's "<time> [info     ] " prefix and " [logger] loc=file.py:N" suffix around a task-log line
LOG_PREFIX = re.compile(r"^\S+ \[\w+\s*\] ")
LOG_SUFFIX = re.compile(r"\s+\[[\w.]+\]\s+loc=\S+\s*$")


def airflow(*args: str, log: Path | None = None, live: re.Pattern | None = None, env: dict | None = None) -> tuple[int, str]:
    """Run an Airflow CLI command; keep its output in ``log`` and echo lines matching ``live``."""
    proc = subprocess.Popen([AIRFLOW, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    output = []
    with (log.open("w") if log else open(os.devnull, "w")) as out:
        for line in proc.stdout:
            out.write(line)
            output.append(line)
            if live is not None and live.search(line):
                print("   " + LOG_SUFFIX.sub("", LOG_PREFIX.sub("", line.rstrip()))[:160], flush=True)
    return proc.wait(), "".join(output)


def prepare_airflow(env: dict | None = None) -> bool:
    """Migrate Airflow's database and create the ``gpu`` pool training runs in; False (with the
    failing command on stderr) if either fails."""
    for command in (("db", "migrate"), ("pools", "set", "gpu", "1", "GPUs for training (slots = GPUs)")):
        code, output = airflow(*command, env=env)
        if code != 0:
            print(f"airflow {' '.join(command)} failed:\n{output[-2000:]}", file=sys.stderr)
            return False
    return True


def cli_json(*args: str, env: dict | None = None) -> list[dict]:
    code, output = airflow(*args, "-o", "json", env=env)
    if code != 0:
        return []
    return json.loads(output[output.index("\n[") + 1 :] if "\n[" in output else output[output.index("[") :])


@dataclass(frozen=True)
class StepRun:
    """One task of one DAG run: Airflow's view, the launch, and the component's record."""

    task_id: str
    state: str | None
    task_seconds: float | None  # Airflow task wall time
    process_seconds: float | None  # the component process, start to exit
    work_seconds: float | None  # the component's own work (0 on a cache hit)
    record: dict | None

    @property
    def cache(self) -> str:
        return "-" if self.record is None else ("hit" if self.record["cache_hit"] else "miss")


def dag_test(
    dag_id: str, logical_date: str, log: Path, live: re.Pattern | None = None, env: dict | None = None, conf: dict | None = None
) -> tuple[str | None, str, float]:
    """``airflow dags test`` (``conf`` overrides the DAG's params); returns (run id, final state, seconds)."""
    start = datetime.now()
    extra = ("-c", json.dumps(conf)) if conf else ()
    _, output = airflow("dags", "test", dag_id, logical_date, *extra, log=log, live=live, env=env)
    seconds = (datetime.now() - start).total_seconds()
    match = re.search(r"DagRun Finished: .*?run_id=([^,]+),.*?state=(\w+)", output)
    return (match.group(1), match.group(2), seconds) if match else (None, "did not finish", seconds)


def step_runs(
    dag_id: str, run_id: str, artifact_root: str, pipeline: str, env: dict | None = None, steps: tuple[str, ...] = STEPS
) -> list[StepRun]:
    from airflow_mlops.provider.operators.component import LAUNCH_FILE, safe_segment

    states = {t["task_id"]: t for t in cli_json("tasks", "states-for-dag-run", dag_id, run_id, env=env)}
    run_dir = Path(artifact_root.removeprefix("file://"), pipeline, "_invocations", dag_id, safe_segment(run_id))
    runs = []
    for task_id in steps:
        state = states.get(task_id, {})
        task_seconds = None
        if state.get("start_date") and state.get("end_date"):
            task_seconds = (datetime.fromisoformat(state["end_date"]) - datetime.fromisoformat(state["start_date"])).total_seconds()
        tries = sorted(run_dir.glob(f"{task_id}/try-*"))
        last = tries[-1] if tries else None
        record = json.loads((last / "result.json").read_text()) if last and (last / "result.json").exists() else None
        launch = json.loads((last / LAUNCH_FILE).read_text()) if last and (last / LAUNCH_FILE).exists() else None
        runs.append(
            StepRun(
                task_id=task_id,
                state=state.get("state"),
                task_seconds=task_seconds,
                process_seconds=launch["duration_seconds"] if launch else None,
                work_seconds=(0.0 if record["cache_hit"] else record["duration_seconds"]) if record else None,
                record=record,
            )
        )
    return runs
