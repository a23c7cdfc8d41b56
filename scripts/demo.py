"""`make demo`: run the penguin training DAG on the embedded default and show what it produced.

Runs in the Airflow environment (.venv) with the Makefile's AIRFLOW_HOME (.mlops/airflow).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
AIRFLOW = str(Path(sys.executable).parent / "airflow")
CONFIG = REPO / "include" / "penguin" / "pipeline.yaml"
DAG_ID = "penguin_training"
# structlog's "<time> [info     ] " prefix and " [logger] loc=file.py:N" suffix around a task-log line
LOG_PREFIX = re.compile(r"^\S+ \[\w+\s*\] ")
LOG_SUFFIX = re.compile(r"\s+\[[\w.]+\]\s+loc=\S+\s*$")


def step(message: str) -> None:
    print(f"\n== {message}", flush=True)


def airflow(*args: str, log: Path | None = None) -> tuple[int, str | None]:
    """Run an Airflow CLI command; with ``log``, keep its output there and show the key lines."""
    if log is None:
        code = subprocess.run([AIRFLOW, *args], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT).returncode
        return code, None
    run_id = None
    with log.open("w") as out:
        proc = subprocess.Popen([AIRFLOW, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in proc.stdout:
            out.write(line)
            if "DagRun Finished" in line:
                run_id = re.search(r"run_id=([^,]+),", line).group(1)
            # The components' own lines and the failures are what a user wants to see live.
            if re.search(r"\] \[\w+\] |failed \(|DagRun Finished", line):
                print("   " + LOG_SUFFIX.sub("", LOG_PREFIX.sub("", line.rstrip()))[:200], flush=True)
        return proc.wait(), run_id


def main() -> int:
    from airflow_mlops.config import load_pipeline_config
    from airflow_mlops.operators.component import safe_segment
    from airflow_mlops.factory.training import resolve_artifact_root

    config = load_pipeline_config(CONFIG)
    root = resolve_artifact_root(config)
    home = Path(os.environ["AIRFLOW_HOME"])
    logs = REPO / ".mlops" / "demo"
    logs.mkdir(parents=True, exist_ok=True)

    step(f"Airflow home {home} (SQLite); migrating the metadata database")
    if airflow("db", "migrate")[0] != 0:
        print("airflow db migrate failed; run it by hand to see why", file=sys.stderr)
        return 1

    logical_date = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
    log = logs / f"{DAG_ID}-{logical_date.replace(':', '')}.log"
    step(f"airflow dags test {DAG_ID} {logical_date}  (full log: {log.relative_to(REPO)})")
    start = time.monotonic()
    code, run_id = airflow("dags", "test", DAG_ID, logical_date, log=log)
    print(f"   finished in {time.monotonic() - start:.1f} s with exit code {code}")
    if code != 0:
        return code

    step("What the run produced")
    # Each task's result.json is the execution record it used, with cache_hit set for this run.
    run_dir = Path(root.removeprefix("file://"), config.name, "_invocations", DAG_ID, safe_segment(run_id or ""))
    for result in sorted(run_dir.glob("*/try-*/result.json"), key=lambda p: p.stat().st_mtime):
        record = json.loads(result.read_text())
        how = (
            f"cache hit: reused the execution of {record['ended_at']} (run {record['run']['run_id']})"
            if record["cache_hit"]
            else f"executed in {record['duration_seconds']:.2f} s"
        )
        print(f"   {record['component']}: {how}; fingerprint {record['fingerprint']}")
        for name, ref in record["outputs"].items():
            print(f"     output {name} ({ref['type']}): {ref['uri']}")
            if "splits" in ref["properties"]:
                splits = ", ".join(f"{k} {v}" for k, v in ref["properties"]["splits"].items())
                print(f"     rows: {ref['properties']['rows']} ({splits})")
    print(f"\nArtifacts are under {root}/{config.name}/")
    print("Run `make demo` again: the ingest step is then a cache hit (see 'cache hit' in the log).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
