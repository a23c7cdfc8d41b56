"""What ingest costs against the read limit: penguin-like CSVs of 100k, 1M and 10M rows.

Each size is a CSV of penguin rows (the 344 penguins resampled, measurements jittered, so rows
are mostly distinct; 8 columns, about 48 bytes a row). Measured in fresh subprocesses, so that
runs share no memory:

- ``pyarrow``: ``pyarrow.csv.read_csv(path).to_pandas()``, the read limit (multi-threaded C++);
- ``floor``: that read plus writing the rows as Parquet: the least a snapshot can cost;
- ``ingest``: the ingest component (``run_component``, no cache): the file checked as a sound
  UTF-8 table, read, every row hashed (split, fingerprint, duplicates), three Parquet splits.

``peak`` is the subprocess's peak resident memory (``ru_maxrss``), imports included.
Targets (issue 17): 1M rows at most 2x the pyarrow read; 10M rows within 4 GB.

Run: ``.venv-runtime/bin/python benchmarks/ingest.py [--sizes 100000,1000000,10000000]``
(about 3 minutes; the 10M-row CSV is 480 MB in a temporary directory).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_RATIO, TARGET_ROWS, MEMORY_ROWS, MEMORY_LIMIT_MB = 2.0, 1_000_000, 10_000_000, 4096

MEASURE = r"""
import json, resource, sys, tempfile, time
mode, path = sys.argv[1], sys.argv[2]
import pyarrow.csv, pyarrow.parquet
from airflow_mlops.contract import ComponentSpec, join_uri
from airflow_mlops.runtime.components.ingest import COMPONENT
from airflow_mlops.runtime.components.runner import run_component
started = time.perf_counter()
if mode in ("pyarrow", "floor"):
    frame = pyarrow.csv.read_csv(path).to_pandas()
    if mode == "floor":
        pyarrow.parquet.write_table(pyarrow.Table.from_pandas(frame, preserve_index=False), tempfile.mktemp(suffix=".parquet"))
else:
    root = "file://" + tempfile.mkdtemp()
    spec = ComponentSpec(component="ingest", pipeline="penguin", artifact_root=root, cache=False,
                         invocation_uri=join_uri(root, "penguin", "_invocations", "bench"),
                         params={"source": path, "label": "species", "format": "csv",
                                 "split": {"train": 0.7, "eval": 0.15, "test": 0.15}})
    run_component(COMPONENT, spec)
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

WRITE = r"""
import sys
import numpy as np
import palmerpenguins
rows, path = int(sys.argv[1]), sys.argv[2]
base = palmerpenguins.load_penguins()
rng = np.random.default_rng(0)
with open(path, "w") as out:
    for start in range(0, rows, 1_000_000):
        n = min(1_000_000, rows - start)
        frame = base.iloc[rng.integers(0, len(base), n)].reset_index(drop=True)
        for column in ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"):
            frame[column] = (frame[column] + rng.normal(0, 0.5, n)).round(1)
        frame.to_csv(out, index=False, header=start == 0)
"""


def measure(mode: str, path: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", MEASURE, mode, str(path)], capture_output=True, text=True, cwd=REPO)
    if out.returncode:
        raise SystemExit(f"{mode} on {path.name} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000,10000000")
    sizes = [int(s) for s in parser.parse_args().sizes.split(",")]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for rows in sizes:
            path = Path(tmp, f"penguins-{rows}.csv")
            subprocess.run([sys.executable, "-c", WRITE, str(rows), str(path)], check=True)
            results[rows] = {mode: measure(mode, path) for mode in ("pyarrow", "floor", "ingest")}
            r = results[rows]
            print(f"{rows:>10,} rows ({path.stat().st_size / 1e6:,.0f} MB): "
                  + "; ".join(f"{m} {r[m]['seconds']:.2f} s, peak {r[m]['peak_mb']:,.0f} MB" for m in r)
                  + f"; ingest {rows / r['ingest']['seconds']:,.0f} rows/s, "
                  f"{r['ingest']['seconds'] / r['pyarrow']['seconds']:.1f}x the read, "
                  f"{r['ingest']['seconds'] / r['floor']['seconds']:.1f}x read + write", flush=True)
        previous = None
        for rows in sizes:
            if previous:
                print(f"{previous:,} -> {rows:,} rows ({rows / previous:.0f}x): ingest time x"
                      f"{results[rows]['ingest']['seconds'] / results[previous]['ingest']['seconds']:.1f}, peak memory x"
                      f"{results[rows]['ingest']['peak_mb'] / results[previous]['ingest']['peak_mb']:.1f}")
            previous = rows
    print()
    if TARGET_ROWS in results:
        r = results[TARGET_ROWS]
        ratio = r["ingest"]["seconds"] / r["pyarrow"]["seconds"]
        print(f"target: {TARGET_ROWS:,} rows in at most {TARGET_RATIO:.0f}x the pyarrow read: {ratio:.1f}x - "
              + ("met" if ratio <= TARGET_RATIO else
                 f"NOT met (the read alone is {r['pyarrow']['seconds']:.2f} s; reading and writing the rows as Parquet, "
                 f"without checking or splitting them, is already {r['floor']['seconds'] / r['pyarrow']['seconds']:.1f}x)"))
    if MEMORY_ROWS in results:
        peak = results[MEMORY_ROWS]["ingest"]["peak_mb"]
        print(f"target: {MEMORY_ROWS:,} rows within {MEMORY_LIMIT_MB:,} MB: peak {peak:,.0f} MB - "
              + ("met" if peak <= MEMORY_LIMIT_MB else "NOT met"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
