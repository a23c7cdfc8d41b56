"""Batch prediction at 1M rows: rows/s and peak memory of check_batch and predict_batch, against
the in-process limit (the champion's traced inference alone, on the same windows, no I/O).

A champion is made first by the real steps on a 20k-row penguin-like CSV (ingest, validate,
transform, train 2 epochs, evaluate, register; then aliased ``champion``). The batch is a
penguin-like CSV of ``--rows`` rows (the generator of ``benchmarks/ingest.py``). Each step runs
as the real component (no cache) in a fresh subprocess (``benchmarks/large_data.py``), so
``peak`` is the step's own peak resident memory. ``predict_batch`` runs twice: with the prediction
log (the default) and without it, to show what logging every row costs.

Run: ``.venv-runtime/bin/python benchmarks/batch_prediction.py [--rows 1000000] [--batch-size 8192]``
(about 3 minutes with 1M rows).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest import WRITE  # noqa: E402
from large_data import FEATURES, run_step, step_params  # noqa: E402

TRAIN_ROWS = 20_000

LIMIT = r"""
import json, sys, time
import pyarrow.parquet as pq
from airflow_mlops.runtime.components.predict_batch import model_inputs
from airflow_mlops.runtime.serving.models import load_model_dir
model_dir, batch_file, batch_size = sys.argv[1], sys.argv[2], int(sys.argv[3])
model = load_model_dir(model_dir, "1")
windows = [model_inputs(w, model.features) for w in pq.ParquetFile(batch_file).iter_batches(batch_size=batch_size)]
rows = sum(len(next(iter(w.values()))) for w in windows)
started = time.perf_counter()
for w in windows:
    model.predict_inputs(w)
print(json.dumps({"rows": rows, "seconds": time.perf_counter() - started}))
"""


def make_champion(base: Path) -> None:
    """The real steps on a small training set; the registered version becomes the champion."""
    from airflow_mlops.contract import ArtifactRef

    csv = base / "train.csv"
    subprocess.run([sys.executable, "-c", WRITE, str(TRAIN_ROWS), str(csv)], check=True)
    outputs: dict[str, dict] = {}

    def ref(step: str, name: str) -> ArtifactRef:
        return ArtifactRef.from_dict(outputs[step][name])

    steps = {
        "ingest": (step_params("ingest", csv, base, 256), lambda: {}),
        "validate": (step_params("validate", csv, base, 256), lambda: {"examples": ref("ingest", "examples")}),
        "transform": (step_params("transform", csv, base, 256),
                      lambda: {"examples": ref("ingest", "examples"), "schema": ref("validate", "schema")}),
        "train": ({**step_params("train", csv, base, 256), "epochs": 2},
                  lambda: {"examples": ref("ingest", "examples"), "transform": ref("transform", "transform")}),
        "evaluate": ({"label": "species", "thresholds": {"accuracy": {"min": 0.0}}, "backtest": {"accuracy": {"max_drop": 1.0}}},
                     lambda: {"examples": ref("ingest", "examples"), "model": ref("train", "model")}),
        "register": ({}, lambda: {
            "model": ref("train", "model"), "blessing": ref("evaluate", "blessing"), "evaluation": ref("evaluate", "evaluation"),
            "examples": ref("ingest", "examples"), "statistics": ref("validate", "statistics"), "schema": ref("validate", "schema"),
            "transform": ref("transform", "transform")}),
    }
    for step, (params, inputs) in steps.items():
        _, record = run_step(step, step, params, inputs(), base)
        outputs[step] = record["outputs"]
    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{base}/mlflow.db")
    client.set_registered_model_alias("penguin", "champion", "1")
    accuracy = outputs["evaluate"]["evaluation"]["properties"].get("accuracy")
    print(f"champion: version 1, trained on {TRAIN_ROWS:,} rows (test accuracy {accuracy})", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=8192, help="predict_batch's rows per model call")
    args = parser.parse_args()
    from airflow_mlops.contract import ArtifactRef

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        make_champion(base)
        csv = base / "batch.csv"
        subprocess.run([sys.executable, "-c", WRITE, str(args.rows), str(csv)], check=True)
        print(f"batch: {args.rows:,} rows ({csv.stat().st_size / 1e6:,.0f} MB CSV), windows of {args.batch_size:,} rows", flush=True)
        check_params = {"source": str(csv), "features": FEATURES, "label": "species"}
        figures = {}
        figures["check_batch"], record = run_step("check_batch", "check_batch", check_params, {}, base)
        batch = ArtifactRef.from_dict(record["outputs"]["batch"])
        for name, log in (("predict_batch", True), ("predict_batch (no log)", False)):
            params = {"batch_size": args.batch_size, "log_predictions": log}
            figures[name], record = run_step(name.replace(" ", "_").strip("()"), "predict_batch", params, {"batch": batch}, base)
            assert record["outputs"]["predictions"]["properties"]["rows"] == args.rows
            figures[name]["loop_rows_per_second"] = record["metrics"]["rows_per_second"]
        for name, f in figures.items():
            print(f"  {name:<24} {f['seconds']:7.1f} s  {args.rows / f['seconds']:>10,.0f} rows/s  peak {f['peak_mb']:>6,.0f} MB",
                  flush=True)

        import mlflow

        model_dir = base / "model"
        mlflow.set_tracking_uri(f"sqlite:///{base}/mlflow.db")
        mlflow.artifacts.download_artifacts(artifact_uri="models:/penguin/1", dst_path=str(model_dir),
                                            tracking_uri=f"sqlite:///{base}/mlflow.db")
        started = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", LIMIT, str(model_dir), batch.uri.removeprefix("file://") + "/batch.parquet",
                              str(args.batch_size)], capture_output=True, text=True, check=True)
        limit = json.loads(out.stdout.strip().splitlines()[-1])
        limit_rate = limit["rows"] / limit["seconds"]
        print(f"  {'in-process limit':<24} {limit['seconds']:7.1f} s  {limit_rate:>10,.0f} rows/s  (inference alone, "
              f"measured in {time.perf_counter() - started:.0f} s with loading)")
        print()
        for name in ("predict_batch", "predict_batch (no log)"):
            rate, loop = args.rows / figures[name]["seconds"], figures[name]["loop_rows_per_second"]
            print(f"{name}: {loop:,.0f} rows/s once the model is loaded = {loop / limit_rate:.2f} x the in-process limit; "
                  f"{rate:,.0f} rows/s = {rate / limit_rate:.2f} x counting the step's start (imports, model download and load)")
        whole = args.rows / (figures["check_batch"]["seconds"] + figures["predict_batch"]["seconds"])
        print(f"check + predict: {whole:,.0f} rows/s end to end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
