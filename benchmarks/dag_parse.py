"""How long each DAG file in ``dags/`` takes to parse, against a 0.3 s target and Airflow's floor.

Every sample is a fresh interpreter (a subprocess of the control plane's Python) that imports
Airflow's ``DagBag`` first (not timed) and then times ``DagBag(dag_folder=<file>)``, as
``tests/dags/test_dags.py::test_dag_file_imports_lightly`` does. Printed per file, over
``--runs`` samples taken round-robin (so load on the machine spreads evenly):

- ``median`` / ``min``: the parse time;
- ``full GC``: of the median sample, the time in full (generation 2) garbage collections. Importing
  Airflow leaves one due, and the first few thousand objects a DAG file allocates pay it. Airflow's
  DAG processor does not: it calls ``gc.freeze()`` before it forks the parsing processes;
- ``floor``: a minimal DAG file with as many plain ``BaseOperator`` tasks, measured in the same run;
- ``floor+assets``: the same with the Assets the file's DAG references (``mlops://...``), for files
  that have some. Any Asset whose URI scheme is not ``file`` makes Airflow import every provider's
  asset-URI handler once per process, the Google provider's GCS hook among them;
- ``vs 0.3 s``: the median over the 0.3 s target;
- heavy ML libraries found in ``sys.modules`` after the parse (there must be none: exit status 1).

By default the samples run with bytecode caching on (a throwaway ``PYTHONPYCACHEPREFIX``, one
untimed warm-up parse per file), as a deployed Airflow parses; ``--no-bytecode`` compiles this
project's modules on every parse (``PYTHONDONTWRITEBYTECODE=1``, as in this repository's test runs).

Run with ``make benchmark-dag-parse`` or ``.venv/bin/python benchmarks/dag_parse.py [--runs N]``.
Nothing is written outside a temporary directory (its own ``AIRFLOW_HOME``, artifact root and copy
of ``include/``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 0.3
#: what the control plane must never import (the list of tests/dags/test_dags.py)
HEAVY = ["tensorflow", "tensorflow_data_validation", "apache_beam", "evidently", "bentoml", "mlflow", "pandas", "keras", "pyarrow"]

PROBE = textwrap.dedent(
    """
    import gc, json, sys, time
    try:
        from airflow.dag_processing.dagbag import DagBag  # Airflow >= 3.2
    except ImportError:
        from airflow.models.dagbag import DagBag  # Airflow 3.1
    full_gc = [0.0, 0.0]  # start of the current full collection, total

    def on_gc(phase, info):
        if info["generation"] == 2:
            if phase == "start":
                full_gc[0] = time.perf_counter()
            else:
                full_gc[1] += time.perf_counter() - full_gc[0]

    gc.callbacks.append(on_gc)
    start = time.perf_counter()
    bag = DagBag(dag_folder=sys.argv[1])
    elapsed = time.perf_counter() - start
    gc.callbacks.remove(on_gc)

    def condition_uris(condition):
        if hasattr(condition, "iter_assets"):  # serialized (AssetOrTimeSchedule)
            return {asset.uri for _, asset in condition.iter_assets()}
        if getattr(condition, "uri", None):
            return {condition.uri}
        return {uri for item in getattr(condition, "objects", ()) for uri in condition_uris(item)}

    def asset_uris(dag):
        uris = condition_uris(getattr(dag.timetable, "asset_condition", None))
        for task in dag.tasks:
            for item in [*task.inlets, *task.outlets]:
                if getattr(item, "uri", None):
                    uris.add(item.uri)
        return sorted(uris)

    print(json.dumps({
        "seconds": elapsed,
        "full_gc_seconds": full_gc[1],
        "tasks": sum(len(dag.tasks) for dag in bag.dags.values()),
        "assets": sorted({uri for dag in bag.dags.values() for uri in asset_uris(dag)}),
        "errors": {k: str(v) for k, v in bag.import_errors.items()},
        "heavy": [m for m in json.loads(sys.argv[2]) if m in sys.modules],
    }))
    """
)

FLOOR = """\
from airflow.sdk import DAG, Asset, BaseOperator

with DAG("floor", schedule={schedule}):
    tasks = [BaseOperator(task_id=f"t{{i}}") for i in range({tasks})]
    for upstream, downstream in zip(tasks, tasks[1:]):
        upstream >> downstream
"""


@dataclass
class Target:
    """A DAG file to parse and its samples."""

    path: Path
    label: str
    samples: list[dict] = field(default_factory=list)

    def median(self, key: str = "seconds") -> float:
        return statistics.median(s[key] for s in self.samples)

    def median_sample(self) -> dict:
        return sorted(self.samples, key=lambda s: s["seconds"])[(len(self.samples) - 1) // 2]


def environment(tmp: Path, bytecode: bool) -> dict[str, str]:
    """Airflow's and the pipelines' settings for the probes, everything under ``tmp``."""
    shutil.copytree(REPO / "include", tmp / "include")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp / "airflow-home"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "MLOPS_INCLUDE_DIR": str(tmp / "include"),
        "MLOPS_ARTIFACT_ROOT": "file://" + str(tmp / "artifacts"),
        "MLOPS_TRACKING_URI": f"sqlite:///{tmp}/mlflow.db",
    }
    if bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("PYTHONPYCACHEPREFIX", None)
    return env


def parse(path: Path, env: dict[str, str]) -> dict:
    """One sample: parse ``path`` in a fresh interpreter."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(path), json.dumps(HEAVY)],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=300,
    )
    if result.returncode != 0:
        raise SystemExit(f"parsing {path} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def floor_file(directory: Path, tasks: int, assets: list[str]) -> Path:
    """A minimal DAG file with ``tasks`` plain operators, scheduled on ``assets`` if any."""
    name = f"floor_{tasks}_tasks" + (f"_{len(assets)}_assets" if assets else "") + ".py"
    path = directory / name
    if not path.exists():
        schedule = "[" + ", ".join(f"Asset({uri!r})" for uri in assets) + "]" if assets else "None"
        path.write_text(FLOOR.format(schedule=schedule, tasks=tasks))
    return path


def sample_round_robin(targets: list[Target], runs: int, env: dict[str, str]) -> None:
    for _ in range(runs):
        for target in targets:
            target.samples.append(parse(target.path, env))


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="samples per file (default: 5)")
    parser.add_argument("--no-bytecode", action="store_true", help="compile this project's modules on every parse")
    parser.add_argument("files", nargs="*", type=Path, help="DAG files (default: every file in dags/)")
    args = parser.parse_args(argv)
    files = [f.resolve() for f in args.files] or sorted((REPO / "dags").glob("*.py"))

    with tempfile.TemporaryDirectory(prefix="dag-parse-") as tmp_name:
        tmp = Path(tmp_name)
        env = environment(tmp, bytecode=not args.no_bytecode)
        floors_dir = tmp / "floors"
        floors_dir.mkdir()
        dag_targets = [Target(path, path.name) for path in files]
        # The warm-up parse writes the bytecode and says how many tasks and which Assets each file has.
        shapes = {t.path: parse(t.path, env) for t in dag_targets}
        floors: dict[Path, Target] = {}
        plain_floor, asset_floor = {}, {}
        for t in dag_targets:
            shape = shapes[t.path]
            plain = floor_file(floors_dir, shape["tasks"], [])
            plain_floor[t.path] = floors.setdefault(plain, Target(plain, plain.name))
            if shape["assets"]:
                with_assets = floor_file(floors_dir, shape["tasks"], shape["assets"])
                asset_floor[t.path] = floors.setdefault(with_assets, Target(with_assets, with_assets.name))
        for floor in floors.values():
            parse(floor.path, env)  # warm-up
        mode = "bytecode cached" if not args.no_bytecode else "no bytecode (PYTHONDONTWRITEBYTECODE=1)"
        print(f"{len(dag_targets)} DAG files, {args.runs} fresh interpreters each, {mode}; "
              f"target {TARGET_SECONDS * 1000:.0f} ms\n")
        sample_round_robin([*dag_targets, *floors.values()], args.runs, env)

    header = ("DAG file", "tasks", "median", "min", "full GC", "floor", "floor+assets", "vs 0.3 s", "heavy imported")
    rows = []
    failed = False
    for t in dag_targets:
        shape = shapes[t.path]
        heavy = sorted({m for s in t.samples for m in s["heavy"]})
        errors = {k: v for s in t.samples for k, v in s["errors"].items()}
        failed |= bool(heavy or errors)
        rows.append((
            t.label, str(shape["tasks"]), ms(t.median()), ms(min(s["seconds"] for s in t.samples)),
            ms(t.median_sample()["full_gc_seconds"]), ms(plain_floor[t.path].median()),
            ms(asset_floor[t.path].median()) if t.path in asset_floor else "-",
            f"{t.median() / TARGET_SECONDS:.2f}", ", ".join(heavy) or ("ERRORS" if errors else "none"),
        ))
        for name, error in errors.items():
            print(f"{name}: {error}", file=sys.stderr)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(w) if i in (0, 8) else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))))
    print("\nfloors (median ms, full GC of the median sample):")
    for floor in floors.values():
        print(f"  {floor.label}: {ms(floor.median())} ms, full GC {ms(floor.median_sample()['full_gc_seconds'])} ms")
    print("\nAll times in ms; 'vs 0.3 s' is median / 300 ms (at most 1.00 meets the target).")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
