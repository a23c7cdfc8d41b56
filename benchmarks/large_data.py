"""Large data through the CT steps: rows/s and peak memory of ingest, validate, transform and
train at 100k, 1M and 10M rows, and how each grows.

Each size is a penguin-like CSV (the same generator as ``benchmarks/ingest.py``). Every step runs
the real component (``run_component``, no cache) in a fresh subprocess, so ``peak`` is that
step's own peak resident memory (``ru_maxrss``, imports included): ingest (checks, row hashes,
three Parquet splits), validate (TFDV statistics on Beam, schema inferred, anomalies, the
report), transform (Beam analyzers over the train split), train (the built-in MLP, one epoch at
``--batch-size`` rows per step, the splits read as a stream: ``runtime/ml/split_stream.py``).
``train (in memory)`` is the same training with the splits held as arrays, as training did
before it streamed (a module whose ``fit`` uses ``data.x_train``), for comparison.

Target (issue 17): 10M rows train within 4 GB.

Run: ``.venv-runtime/bin/python benchmarks/large_data.py [--sizes 100000,1000000,10000000]``
(about 4 minutes with 10M rows; the CSV is 480 MB in a temporary directory; ``--in-memory-up-to
10000000`` adds 6 minutes).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest import WRITE  # noqa: E402  (the same CSVs as the ingest benchmark)

REPO = Path(__file__).resolve().parents[1]
MEMORY_ROWS, MEMORY_LIMIT_MB = 10_000_000, 4096
STEPS = ("ingest", "validate", "transform", "train")

FEATURES = {"island": "categorical", "bill_length_mm": "numeric", "bill_depth_mm": "numeric",
            "flipper_length_mm": "numeric", "body_mass_g": "numeric", "sex": "categorical"}

IN_MEMORY_MODULE = '''
from airflow_mlops.runtime.ml.mlp import build_model  # noqa: F401


def fit(model, data, context):
    return model.fit(data.x_train, data.y_train, validation_data=(data.x_eval, data.y_eval), epochs=context.epochs,
                     batch_size=context.batch_size, shuffle=True, verbose=0, callbacks=context.callbacks).history
'''

MEASURE = r"""
import json, resource, sys, time
spec_file, record_file = sys.argv[1], sys.argv[2]
from airflow_mlops.contract import ComponentSpec
from airflow_mlops.runtime.components.catalog import load_component
from airflow_mlops.runtime.components.runner import run_component
spec = ComponentSpec.from_json(open(spec_file).read())
component = load_component(spec.component)
started = time.perf_counter()
record = run_component(component, spec)
seconds = time.perf_counter() - started
open(record_file, "w").write(record.to_json())
print(json.dumps({"seconds": seconds, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "status": record.status.value}))
"""


def step_params(step: str, csv: Path, base: Path, batch_size: int) -> dict:
    if step == "ingest":
        return {"source": str(csv), "label": "species", "format": "csv", "split": {"train": 0.7, "eval": 0.15, "test": 0.15}}
    if step == "validate":
        return {"features": FEATURES, "label": "species", "schema_uri": f"file://{base}/schema.pbtxt", "max_duplicate_fraction": 1.0}
    if step == "transform":
        return {"features": FEATURES, "label": "species"}
    return {"label": "species", "hidden_units": [16, 8], "learning_rate": 0.01, "epochs": 1, "batch_size": batch_size, "seed": 42}


def run_step(name: str, step: str, params: dict, inputs: dict, base: Path) -> tuple[dict, dict]:
    """The step in a fresh subprocess: its figures and its record (as JSON)."""
    from airflow_mlops.contract import ComponentSpec, RunInfo, join_uri

    root = f"file://{base}/artifacts"
    spec = ComponentSpec(
        component=step, pipeline="penguin", artifact_root=root, invocation_uri=join_uri(root, "penguin", "_invocations", name),
        params=params, inputs=inputs, cache=False, run=RunInfo(dag_id="penguin_training", run_id="bench"),
        settings={"registry": {"tracking_uri": f"sqlite:///{base}/mlflow.db", "model_name": "penguin"},
                  "beam_pipeline_args": ["--runner=DirectRunner"]},
    )
    spec_file, record_file = base / f"{name}.spec.json", base / f"{name}.record.json"
    spec_file.write_text(spec.to_json())
    out = subprocess.run([sys.executable, "-c", MEASURE, str(spec_file), str(record_file)], capture_output=True, text=True, cwd=REPO)
    if out.returncode:
        raise SystemExit(f"{name} failed:\n{out.stderr[-3000:]}")
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    if figures["status"] != "succeeded":
        raise SystemExit(f"{name} ended {figures['status']}:\n{out.stderr[-3000:]}")
    return figures, json.loads(record_file.read_text())


def measure_size(rows: int, csv: Path, base: Path, batch_size: int, in_memory: bool) -> dict[str, dict]:
    from airflow_mlops.contract import ArtifactRef

    results: dict[str, dict] = {}
    outputs: dict[str, dict] = {}

    def ref(step: str, output: str) -> ArtifactRef:
        return ArtifactRef.from_dict(outputs[step][output])

    for step in STEPS:
        inputs = {
            "ingest": {},
            "validate": {"examples": ref("ingest", "examples")} if "ingest" in outputs else {},
            "transform": {"examples": ref("ingest", "examples"), "schema": ref("validate", "schema")} if "validate" in outputs else {},
            "train": {"examples": ref("ingest", "examples"), "transform": ref("transform", "transform")} if "transform" in outputs else {},
        }[step]
        figures, record = run_step(step, step, step_params(step, csv, base, batch_size), inputs, base)
        outputs[step] = record["outputs"]
        results[step] = figures
        print(f"  {step:<18} {figures['seconds']:7.1f} s  {rows / figures['seconds']:>10,.0f} rows/s  peak {figures['peak_mb']:>6,.0f} MB",
              flush=True)
    if in_memory:
        params = {**step_params("train", csv, base, batch_size), "module": "in_memory.py", "module_source": IN_MEMORY_MODULE}
        figures, _ = run_step("train-in-memory", "train", params,
                              {"examples": ref("ingest", "examples"), "transform": ref("transform", "transform")}, base)
        results["train (in memory)"] = figures
        print(f"  {'train (in memory)':<18} {figures['seconds']:7.1f} s  {rows / figures['seconds']:>10,.0f} rows/s  "
              f"peak {figures['peak_mb']:>6,.0f} MB", flush=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000,10000000")
    parser.add_argument("--batch-size", type=int, default=1024, help="train's rows per gradient step")
    parser.add_argument("--in-memory-up-to", type=int, default=1_000_000,
                        help="also train with the splits in memory, for comparison, up to this many rows")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results = {}
    for rows in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            csv = Path(tmp, f"penguins-{rows}.csv")
            subprocess.run([sys.executable, "-c", WRITE, str(rows), str(csv)], check=True)
            print(f"{rows:,} rows ({csv.stat().st_size / 1e6:,.0f} MB CSV), train: 1 epoch at batch size {args.batch_size}", flush=True)
            results[rows] = measure_size(rows, csv, Path(tmp), args.batch_size, rows <= args.in_memory_up_to)
    print()
    previous = None
    for rows in sizes:
        if previous:
            growth = ", ".join(
                f"{step} time x{results[rows][step]['seconds'] / results[previous][step]['seconds']:.1f} "
                f"memory x{results[rows][step]['peak_mb'] / results[previous][step]['peak_mb']:.1f}"
                for step in results[rows] if step in results[previous])
            print(f"{previous:,} -> {rows:,} rows (x{rows / previous:.0f}): {growth}")
        previous = rows
    if MEMORY_ROWS in results:
        peak = results[MEMORY_ROWS]["train"]["peak_mb"]
        line = f"target: {MEMORY_ROWS:,} rows train within {MEMORY_LIMIT_MB:,} MB: peak {peak:,.0f} MB - " + (
            "met" if peak <= MEMORY_LIMIT_MB else "NOT met")
        if "train (in memory)" in results[MEMORY_ROWS]:
            line += f" (with the splits in memory: {results[MEMORY_ROWS]['train (in memory)']['peak_mb']:,.0f} MB)"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
