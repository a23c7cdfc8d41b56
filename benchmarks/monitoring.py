"""What the monitor step costs as the window grows: 10k, 100k and 1M logged predictions.

Writes synthetic prediction logs in the real layout (``date=/hour=/part-*.jsonl``, at most 100k
rows per file, over four hours, with one error record in 1000 and labels for 5% of the
predictions) made of penguin rows, then measures, each size in a fresh subprocess so that sizes
share no memory, the monitor step's work: read the window, read the labels, Evidently drift and
classification reports, the verdict and the HTML. The reference is the penguin data (344 rows).

Two ways of reading the window are compared:

- ``records``: ``read_predictions`` (every record as a Python dict) then ``prediction_frame``;
- ``arrow``: ``read_prediction_frame`` (``airflow_mlops/runtime/predictions/reader.py``: pyarrow's
  JSON reader, file by file, only the columns needed), which the monitor component uses.

Memory: ``maxrss`` is the subprocess's peak resident memory minus what it held after its
imports (the whole process, pyarrow's buffers included); ``tracemalloc`` is the peak of Python's
own allocator in a second run (pyarrow's allocations are invisible to it; it also slows the run,
so its run is not timed).

Run: ``.venv-runtime/bin/python benchmarks/monitoring.py`` (about 5 minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from airflow_mlops.contract.config import load_pipeline_config  # noqa: E402  (after the path)

# The penguin pipeline's own features, label and monitoring settings.
CONFIG = load_pipeline_config(REPO / "include" / "penguin" / "pipeline.yaml")
FEATURES = {f.name: f.type for f in CONFIG.features}
LABEL = CONFIG.label
SIZES = (10_000, 100_000, 1_000_000)
ROWS_PER_FILE = 100_000
HOURS = 4
START = "2026-06-01T08:00:00.000+00:00"
END = "2026-06-01T12:00:00.000+00:00"
SETTINGS = {
    "drift_share": CONFIG.monitoring.drift_share,
    "must_not_drift": list(CONFIG.monitoring.must_not_drift),
    "min_rows": CONFIG.monitoring.min_rows,
    "min_accuracy": CONFIG.monitoring.min_accuracy,
    "min_labels": CONFIG.monitoring.min_labels,
}


def penguins():
    from importlib import resources

    import pandas as pd

    return pd.read_csv(str(resources.files("palmerpenguins").joinpath("data/penguins.csv")))


# -- synthetic logs --------------------------------------------------------------------------


def write_log(directory: Path, rows: int, seed: int = 0) -> None:
    """``rows`` predictions (penguin rows with a little noise) over :data:`HOURS` hours, and a
    feedback CSV labelling 5% of them (90% of those agree with the prediction)."""
    data = penguins()
    rng = random.Random(seed)
    species = sorted(data[LABEL].dropna().unique())
    table = [
        ({k: (None if v != v else v) for k, v in row.items()}, row_species)
        for row, row_species in zip(data[list(FEATURES)].to_dict("records"), data[LABEL])
    ]
    step_ms = HOURS * 3_600_000 / rows
    feedback = ["request_id,label"]
    for chunk_start in range(0, rows, ROWS_PER_FILE):
        by_hour: dict[int, list[str]] = {}
        for i in range(chunk_start, min(rows, chunk_start + ROWS_PER_FILE)):
            at_ms = int(i * step_ms)
            hour, rest = 8 + at_ms // 3_600_000, at_ms % 3_600_000
            timestamp = f"2026-06-01T{hour:02d}:{rest // 60_000:02d}:{rest // 1000 % 60:02d}.{rest % 1000:03d}+00:00"
            request_id = f"req-{i:08d}"
            if i % 1000 == 999:
                record = {"timestamp": timestamp, "request_id": request_id, "model_version": "3", "model_role": "champion",
                          "error": "RuntimeError: synthetic failure"}
            else:
                features, truth = table[rng.randrange(len(table))]
                features = {k: (round(v * rng.uniform(0.98, 1.02), 2) if isinstance(v, float) else v) for k, v in features.items()}
                prediction = truth if isinstance(truth, str) else species[0]
                record = {"timestamp": timestamp, "request_id": request_id, "features": features, "prediction": prediction,
                          "probabilities": {s: round(0.9 if s == prediction else 0.05, 3) for s in species},
                          "model_version": "3", "model_role": "champion", "latency_ms": round(rng.uniform(2, 9), 3), "batch_rows": 8}
                if i % 20 == 0:
                    feedback.append(f"{request_id},{prediction if rng.random() < 0.9 else rng.choice(species)}")
            by_hour.setdefault(hour, []).append(json.dumps(record, separators=(",", ":")))
        for hour, lines in by_hour.items():
            part = directory / "predictions" / "date=2026-06-01" / f"hour={hour:02d}"
            part.mkdir(parents=True, exist_ok=True)
            (part / f"part-{chunk_start:08d}.jsonl").write_text("\n".join(lines) + "\n")
    (directory / "feedback").mkdir(parents=True, exist_ok=True)
    (directory / "feedback" / "labels.csv").write_text("\n".join(feedback) + "\n")


# -- one measurement (in a subprocess) -------------------------------------------------------


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(directory: Path, path: str, trace: bool) -> dict:
    """The monitor step's work on one log; run in a fresh process."""
    import logging
    import tracemalloc

    import evidently  # noqa: F401 - imports are not the step's work
    import pandas  # noqa: F401
    import pyarrow.json  # noqa: F401

    from airflow_mlops.runtime.monitoring.assessment import assess
    from airflow_mlops.runtime.predictions.feedback import read_feedback
    from airflow_mlops.runtime.predictions.reader import prediction_frame, read_prediction_frame, read_predictions

    logging.basicConfig(level=logging.WARNING)
    reference = penguins()
    assess(reference.head(50).assign(request_id="x", prediction="Adelie", model_version="1", timestamp="t"),
           reference, {}, FEATURES, label=LABEL)  # warm Evidently's lazy imports
    base = rss_mb()
    if trace:
        tracemalloc.start()
    root = str(directory / "predictions")
    t0 = time.perf_counter()
    if path == "records":
        current = prediction_frame(read_predictions(root, START, END), FEATURES)
    else:
        current = read_prediction_frame(root, FEATURES, START, END)
    labels = read_feedback(str(directory / "feedback"))
    t1 = time.perf_counter()
    result = assess(current, reference, labels, FEATURES, label=LABEL, **SETTINGS)
    t2 = time.perf_counter()
    out = {
        "rows": len(current), "read_s": t1 - t0, "assess_s": t2 - t1, "total_s": t2 - t0,
        "rss_mb": rss_mb() - base, "status": result.verdict["status"], "labelled": result.verdict["labelled"],
        "tested_rows": result.figures.get("tested_rows"), "html_mb": len(result.html) / 1e6,
    }
    if trace:
        out["tracemalloc_mb"] = tracemalloc.get_traced_memory()[1] / 1e6
    return out


def in_subprocess(directory: Path, path: str, trace: bool) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--measure", str(directory), "--path", path] + (["--trace"] if trace else []),
        check=True, capture_output=True, text=True, cwd=REPO,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- the report ------------------------------------------------------------------------------


def main(sizes: tuple[int, ...] = SIZES) -> None:
    print(f"monitor step cost vs window size; reference: {len(penguins())} penguin rows; {os.cpu_count()} CPUs\n")
    results: dict[tuple[str, int], dict] = {}
    with tempfile.TemporaryDirectory(prefix="mlops-monitor-bench-") as tmp:
        for size in sizes:
            directory = Path(tmp) / str(size)
            t = time.perf_counter()
            write_log(directory, size)
            mb = sum(p.stat().st_size for p in directory.rglob("*.jsonl")) / 1e6
            files = len(list(directory.rglob("*.jsonl")))
            print(f"wrote {size:>9,} predictions: {files} files, {mb:,.0f} MB of JSONL ({time.perf_counter() - t:.1f} s)", flush=True)
            for path in ("records", "arrow"):
                results[(path, size)] = {**in_subprocess(directory, path, False),
                                         "tracemalloc_mb": in_subprocess(directory, path, True)["tracemalloc_mb"]}
                r = results[(path, size)]
                print(f"  {path:<8} {r['total_s']:6.1f} s  maxrss +{r['rss_mb']:,.0f} MB", flush=True)
    print_table(results)
    print_growth(results, sizes)
    print_notes(results, sizes)


def print_table(results: dict) -> None:
    head = f"{'reader':<8} {'predictions':>11} {'read s':>7} {'assess s':>8} {'total s':>8} {'maxrss MB':>10} {'tracemalloc MB':>15} {'drift rows':>10} {'labelled':>8} {'status':>7}"
    print("\n" + head + "\n" + "-" * len(head))
    for (path, _size), r in results.items():
        print(f"{path:<8} {r['rows']:>11,} {r['read_s']:>7.2f} {r['assess_s']:>8.2f} {r['total_s']:>8.2f} "
              f"{r['rss_mb']:>10,.0f} {r['tracemalloc_mb']:>15,.0f} {r['tested_rows']:>10,} {r['labelled']:>8,} {r['status']:>7}")


def print_growth(results: dict, sizes: tuple[int, ...]) -> None:
    print("\ngrowth (from one size to the next): time ratio / maxrss ratio")
    for path in ("records", "arrow"):
        steps = []
        for small, big in zip(sizes, sizes[1:]):
            a, b = results[(path, small)], results[(path, big)]
            steps.append(f"{small // 1000}k->{big // 1000}k: time x{b['total_s'] / a['total_s']:.1f}, "
                         f"read x{b['read_s'] / a['read_s']:.1f}, memory x{b['rss_mb'] / max(a['rss_mb'], 1):.1f}")
        print(f"  {path:<8} " + "; ".join(steps))
    big = sizes[-1]
    rec, arr = results[("records", big)], results[("arrow", big)]
    per_row = lambda r: r["rss_mb"] * 1e6 / r["rows"]  # noqa: E731
    print(f"\nat {big:,}: reading with arrow takes {arr['read_s'] / rec['read_s']:.2f}x the time of reading records, "
          f"and the step {max(arr['rss_mb'], 1) / max(rec['rss_mb'], 1):.2f}x the memory "
          f"({per_row(arr):,.0f} vs {per_row(rec):,.0f} bytes per prediction)")


def print_notes(results: dict, sizes: tuple[int, ...]) -> None:
    big = results[("arrow", sizes[-1])]
    print(
        "\nnotes:\n"
        "- the drift tests use a random sample of the window as big as the reference "
        f"({big['tested_rows']} rows here), so Evidently's cost does not grow with the window; see\n"
        "  airflow_mlops/runtime/monitoring/drift.py: with the whole window, Evidently's chi-square test (its choice for a\n"
        "  reference of <= 1000 rows) reports the reference's own sampling noise as drift. Counts, accuracy and\n"
        "  the classification report use every row.\n"
        "- what grows with the window is reading it (JSON parsing) and the labelled rows' classification report.\n"
        f"- the HTML report is ~{big['html_mb']:.0f} MB at every size (Evidently's page with its scripts inlined)."
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="comma-separated window sizes")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--path", choices=("records", "arrow"), default="arrow", help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.path, args.trace)))
    else:
        main(tuple(int(n) for n in args.sizes.split(",")))
