"""Where the time of the penguin training pipeline goes.

Runs `airflow dags test penguin_training` twice in a throwaway Airflow home, artifact root and
MLflow registry: a cold run (nothing cached, no champion) and a re-run on unchanged data
(cached steps, evaluation against the champion). For every step it prints

- task: Airflow's wall time for the task (includes the task runner's own start-up);
- process: the component process from start to exit (`launch.json`);
- work: the component's own work (`execution.json`; 0 on a cache hit). Heavy libraries are
  imported lazily inside the work, so it includes their import time;
- launch: process - work = interpreter start, light imports, fingerprint (which may ask the
  registry for the champion), records;

and separately the import time of the heavy libraries in the runtime environment. Run with `make benchmark-pipeline` (about 2 minutes).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

from dag_runs import airflow, dag_test, step_runs  # noqa: E402

RUNTIME_PYTHON = str(REPO / ".venv-runtime" / "bin" / "python")
IMPORTS = {
    "python (bare)": "pass",
    "pandas + pyarrow": "import pandas, pyarrow.parquet",
    "mlflow": "import mlflow",
    "tensorflow + keras": "import tensorflow, keras",
    "tfdv + beam": "import tensorflow_data_validation, apache_beam",
}


def fmt(value: float | None) -> str:
    return f"{value:7.1f}" if value is not None else "      -"


def print_run(title: str, runs, total: float) -> None:
    print(f"\n{title}: {total:.1f} s for `airflow dags test` as a whole")
    print(f"  {'step':<10} {'cache':<5} {'task s':>7} {'process s':>9} {'work s':>7} {'launch s':>8}")
    for run in runs:
        launch = run.process_seconds - run.work_seconds if run.process_seconds is not None and run.work_seconds is not None else None
        print(f"  {run.task_id:<10} {run.cache:<5} {fmt(run.task_seconds)} {fmt(run.process_seconds):>9} {fmt(run.work_seconds)} {fmt(launch):>8}")
    known = [r for r in runs if r.task_seconds is not None]
    print(
        f"  {'sum':<10} {'':<5} {fmt(sum(r.task_seconds for r in known))} "
        f"{fmt(sum(r.process_seconds or 0 for r in known)):>9} {fmt(sum(r.work_seconds or 0 for r in known))}"
    )


def import_seconds(statement: str, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([RUNTIME_PYTHON, "-c", statement], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    from airflow_mlops.provider.operators.component import safe_segment  # noqa: F401  (fails early outside .venv)

    with tempfile.TemporaryDirectory(prefix="mlops-bench-") as tmp:
        env = {
            **os.environ,
            "AIRFLOW_HOME": f"{tmp}/airflow",
            "MLOPS_ARTIFACT_ROOT": f"file://{tmp}/artifacts",
            "MLOPS_TRACKING_URI": f"sqlite:///{tmp}/mlflow.db",
        }
        for command in (("db", "migrate"), ("pools", "set", "gpu", "1", "GPUs")):
            assert airflow(*command, env=env)[0] == 0, command
        for title, date in (("cold run", "2026-01-05"), ("re-run, unchanged data", "2026-01-12")):
            run_id, state, total = dag_test("penguin_training", date, Path(tmp) / f"{date}.log", env=env)
            if state != "success":
                print(f"{title}: {state}; see the log", file=sys.stderr)
                return 1
            print_run(title, step_runs("penguin_training", run_id, env["MLOPS_ARTIFACT_ROOT"], "penguin", env=env), total)

    print("\nimport time in the runtime environment (median of 3, fresh interpreter):")
    for label, statement in IMPORTS.items():
        print(f"  {label:<20} {import_seconds(statement):5.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
