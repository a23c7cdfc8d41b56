"""Where the time of one component step goes on the local launcher.

Prints, as medians over a few repetitions:
- runtime interpreter start (`python -c pass` in .venv-runtime);
- the component CLI's own start (`python -m airflow_mlops.runtime.components --help`);
- an ingest step on the penguins data through LocalLauncher: executed (cache off) and cache hit;
- the parse time of each DAG file in a fresh Airflow interpreter.

Run with `make benchmark` (uses .venv for the control plane, .venv-runtime for the components).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RUNTIME_PYTHON = str(REPO / ".venv-runtime" / "bin" / "python")
REPEAT = 5


def median_seconds(fn, repeat: int = REPEAT) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(*command: str) -> None:
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def ingest_step(root: str, cache: bool, name: str) -> float:
    from airflow_mlops.artifacts import ArtifactStore
    from airflow_mlops.contract import RESULT_FILE, SPEC_FILE, ComponentSpec, ExecutionRecord, join_uri
    from airflow_mlops.provider.launchers import LocalLauncher

    spec = ComponentSpec(
        component="ingest",
        pipeline="bench",
        artifact_root=root,
        invocation_uri=join_uri(root, "bench", "_invocations", name),
        params={
            "source": "package://palmerpenguins/data/penguins.csv",
            "label": "species",
            "split": {"train": 0.7, "eval": 0.15, "test": 0.15},
        },
        cache=cache,
    )
    store = ArtifactStore()
    store.write_text(join_uri(spec.invocation_uri, SPEC_FILE), spec.to_json())
    outcome = LocalLauncher(RUNTIME_PYTHON).run("ingest", join_uri(spec.invocation_uri, SPEC_FILE), lambda _: None)
    assert outcome.returncode == 0
    record = ExecutionRecord.from_json(store.read_text(join_uri(spec.invocation_uri, RESULT_FILE)))
    assert record.cache_hit is cache, "expected a cache hit only when the cache is on"
    return record.duration_seconds


def dag_parse_seconds(dag_file: Path) -> tuple[float, float]:
    """(importing Airflow's DagBag, parsing the file) in a fresh interpreter."""
    probe = (
        "import time; t0 = time.perf_counter();"
        "from airflow.dag_processing.dagbag import DagBag;"
        "t1 = time.perf_counter();"
        f"DagBag(dag_folder={str(dag_file)!r});"
        "print(t1 - t0, time.perf_counter() - t1)"
    )
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout
    airflow_import, parse = out.strip().splitlines()[-1].split()
    return float(airflow_import), float(parse)


def main() -> None:
    print(f"median of {REPEAT} runs each\n")
    rows = [
        ("runtime interpreter start (python -c pass)", median_seconds(lambda: run(RUNTIME_PYTHON, "-c", "pass"))),
        (
            "component CLI start (--help)",
            median_seconds(lambda: run(RUNTIME_PYTHON, "-m", "airflow_mlops.runtime.components", "--help")),
        ),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        root = "file://" + tmp
        ingest_step(root, cache=False, name="warm-up")
        work = []
        executed = median_seconds(lambda: work.append(ingest_step(root, cache=False, name=f"e{len(work)}")))
        rows.append(("ingest step, executed (wall, launch included)", executed))
        rows.append(("  of which the component's own work", statistics.median(work)))
        rows.append(("ingest step, cache hit (wall)", median_seconds(lambda: ingest_step(root, cache=True, name="hit"))))
    for dag_file in sorted((REPO / "dags").glob("*.py")):
        samples = [dag_parse_seconds(dag_file) for _ in range(3)]
        rows.append(("import Airflow's DagBag, fresh interpreter", statistics.median(s[0] for s in samples)))
        rows.append((f"parse {dag_file.name} (what the DAG file itself costs)", statistics.median(s[1] for s in samples)))
    width = max(len(label) for label, _ in rows)
    for label, seconds in rows:
        print(f"{label:<{width}}  {seconds * 1000:8.0f} ms")


if __name__ == "__main__":
    main()
