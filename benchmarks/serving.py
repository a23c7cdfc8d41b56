"""How fast the prediction service answers, against a hand-written server and the model itself.

Measures, for one registered model version and the Palmer penguins rows as requests:

- the real BentoML service (`airflow_mlops.runtime.serving`, started with ServerProcess on a free
  127.0.0.1 port, the version pinned, the prediction log on into a temporary artifact root, so
  the figures include logging), with 1 worker and with one per CPU (``--workers``,
  ``deployment.serving.workers``), under closed-loop load: for each concurrency level, that many
  client threads, each with its own keep-alive connection, send ``POST /predict`` back-to-back
  for ``--duration`` seconds. Per level: latency p50/p95/p99 (ms), requests/s, rows/s and the
  non-200 answers (there should be none);
- the in-process limit: the same rows through ``LoadedModel.predict`` in one process, 1 and 64
  rows per call: rows/s with no HTTP, validation, batching or logging at all - through the traced
  graph the service runs, and through the Keras model's eager call (the ratio is what tracing gives);
- a hand-written baseline (`benchmarks/fastapi_baseline.py`: FastAPI + pydantic around the same
  model called as Keras loads it, under uvicorn with one worker, no batching, no logging) under the same load;

- the floor (`benchmarks/asgi_floor.py`): a bare ASGI app answering a fixed JSON under uvicorn with
  as many workers, the most any Python HTTP server gets from this machine and load generator;

and a final table per concurrency: BentoML vs FastAPI throughput and p95, and BentoML's
throughput as a share of the in-process limit. The load generator runs on the same machine
as the servers (and with few cores takes a real share of them): compare the servers with each
other, not with figures from another machine.

Run in the runtime environment (about 2 minutes with the defaults):

    .venv-runtime/bin/python benchmarks/serving.py              # serves the champion
    .venv-runtime/bin/python benchmarks/serving.py --version 2 --concurrency 1,8,64 --duration 10
"""

from __future__ import annotations

import argparse
import dataclasses
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # in this process: no TensorFlow start-up noise
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

warnings.filterwarnings("ignore", category=FutureWarning)
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
HOST = "127.0.0.1"
HEADERS = {"Content-Type": "application/json", "Connection": "keep-alive"}
ERROR_MARKERS = ("Traceback", " ERROR ", "ERROR:", "Exception", "CRITICAL")


def say(*args) -> None:
    print(*args, flush=True)


# --------------------------------------------------------------------------- requests


def penguin_rows(features: list[str]) -> list[dict]:
    """Every penguin as a request row: exactly the model's features, NaN as null."""
    import math

    import palmerpenguins

    frame = palmerpenguins.load_penguins()
    missing = [name for name in features if name not in frame.columns]
    if missing:
        raise SystemExit(f"the model's features {missing} are not columns of the penguins data")
    rows = []
    for record in frame[features].to_dict(orient="records"):
        rows.append({k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in record.items()})
    return rows


def request_bodies(rows: list[dict], rows_per_request: int) -> list[bytes]:
    """JSON bodies, encoded once (the clients only send them), cycling through the rows."""
    count = max(1, len(rows) // rows_per_request) if rows_per_request <= len(rows) else 1
    bodies = []
    for i in range(count):
        chunk = [rows[(i * rows_per_request + j) % len(rows)] for j in range(rows_per_request)]
        bodies.append(json.dumps({"instances": chunk}, allow_nan=False).encode())
    return bodies


# --------------------------------------------------------------------------- load


@dataclass
class Level:
    concurrency: int
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)  # of the 200 answers, seconds
    failures: list[tuple[int, bytes]] = field(default_factory=list)  # non-200 answers
    errors: list[str] = field(default_factory=list)  # connection errors, malformed answers

    @property
    def ok(self) -> int:
        return len(self.latencies)

    def percentile_ms(self, q: float) -> float:
        import numpy as np

        return float(np.percentile(self.latencies, q)) * 1000 if self.latencies else float("nan")

    @property
    def requests_per_second(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0


def closed_loop(port: int, bodies: list[bytes], concurrency: int, duration: float, rows_per_request: int) -> Level:
    """``concurrency`` threads, each on its own keep-alive connection, sending back-to-back."""
    level = Level(concurrency)
    lock = threading.Lock()
    barrier = threading.Barrier(concurrency + 1)
    clock: dict[str, float] = {}

    def client(index: int) -> None:
        latencies, failures, errors = [], [], []
        conn = http.client.HTTPConnection(HOST, port, timeout=60)
        i = index * 7919  # each thread starts elsewhere in the rows
        checked = 0
        barrier.wait()
        stop_at = clock["stop"]
        try:
            while time.perf_counter() < stop_at:
                body = bodies[i % len(bodies)]
                i += 1
                started = time.perf_counter()
                try:
                    conn.request("POST", "/predict", body, HEADERS)
                    response = conn.getresponse()
                    payload = response.read()
                except (OSError, http.client.HTTPException) as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
                    conn.close()
                    conn = http.client.HTTPConnection(HOST, port, timeout=60)
                    continue
                elapsed = time.perf_counter() - started
                if response.status != 200:
                    failures.append((response.status, payload[:300]))
                    continue
                if checked % 200 == 0:  # check some answers, cheaply
                    try:
                        answer = json.loads(payload)
                        assert isinstance(answer, list) and len(answer) == rows_per_request, answer
                        assert "prediction" in answer[0], answer[0]
                    except (ValueError, AssertionError) as exc:
                        errors.append(f"malformed answer: {exc!r}"[:300])
                checked += 1
                latencies.append(elapsed)
        finally:
            conn.close()
            with lock:
                level.latencies.extend(latencies)
                level.failures.extend(failures)
                level.errors.extend(errors)
                clock["end"] = max(clock.get("end", 0.0), time.perf_counter())

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(concurrency)]
    for thread in threads:
        thread.start()
    clock["start"] = time.perf_counter()
    clock["stop"] = clock["start"] + duration
    barrier.wait()
    for thread in threads:
        thread.join()
    level.seconds = clock["end"] - clock["start"]
    return level


def run_levels(name: str, port: int, bodies: list[bytes], args) -> tuple[Level, list[Level]]:
    """The warm-up and the measured levels."""
    warm = closed_loop(port, bodies, min(8, max(args.concurrency)), args.warmup, args.rows_per_request)
    say(f"  warm-up: {warm.ok} requests in {warm.seconds:.1f} s, {len(warm.failures)} non-200, {len(warm.errors)} errors")
    say(f"  {'concurrency':>11} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'req/s':>8} {'rows/s':>8} {'requests':>9} {'non-200':>8} {'errors':>7}")
    levels = []
    for concurrency in args.concurrency:
        level = closed_loop(port, bodies, concurrency, args.duration, args.rows_per_request)
        levels.append(level)
        say(
            f"  {concurrency:>11} {level.percentile_ms(50):8.1f} {level.percentile_ms(95):8.1f} {level.percentile_ms(99):8.1f} "
            f"{level.requests_per_second:8.1f} {level.requests_per_second * args.rows_per_request:8.0f} "
            f"{level.ok:>9} {len(level.failures):>8} {len(level.errors):>7}"
        )
        for status, payload in level.failures[:5]:
            say(f"    {name} answered {status}: {payload.decode(errors='replace')}")
        for error in sorted(set(level.errors))[:5]:
            say(f"    {name} client error: {error}")
    return warm, levels


# --------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def log_problems(path: Path, tail: int = 40) -> list[str]:
    """Error lines of a server log; prints them and the log's tail when there are any."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return []
    errors = [line for line in lines if any(marker in line for marker in ERROR_MARKERS)]
    if errors:
        say(f"  {len(errors)} error line(s) in {path}; its last {tail} lines:")
        for line in lines[-tail:]:
            say(f"    | {line}")
    else:
        say(f"  no errors in {path.name} ({len(lines)} lines)")
    return errors


def count_logged(artifact_root: Path) -> int:
    return sum(
        sum(1 for line in path.read_text().splitlines() if line) for path in artifact_root.rglob("*.jsonl")
    )


def bench_bentoml(args, version: str, features: dict[str, str], tmp: Path, bodies: list[bytes],
                  workers: int) -> tuple[list[Level], list[str]]:
    from airflow_mlops.runtime.serving.config import ServingConfig
    from airflow_mlops.runtime.serving.server import ServerProcess, http_post_json

    artifact_root = tmp / f"artifacts-{workers}"
    config = ServingConfig(
        pipeline="bench",
        model_name=args.model_name,
        tracking_uri=args.tracking_uri,
        artifact_root=str(artifact_root),
        features=features,
        cache_dir=str(tmp / "models"),
        host=HOST,
        port=free_port(),
        pin_version=version,
        log_predictions=True,
        workers=workers,
    )
    state_dir = tmp / f"bentoml-server-{workers}"
    problems: list[str] = []
    started = time.perf_counter()
    server = ServerProcess.start(config, state_dir)
    try:
        say(f"  up and ready at {config.url} in {time.perf_counter() - started:.1f} s (version {version} pinned, prediction log on)")
        warm, levels = run_levels("BentoML", config.port, bodies, args)
        status_code, status = http_post_json(config.url + "/status", {})
        if status_code == 200:
            say(f"  /status: champion {status.get('champion')}, last_error {status.get('last_error')}")
        else:
            problems.append(f"/status answered {status_code}: {status}")
    finally:
        returncode = server.stop()
    # answered as the clients counted them: with several workers, /status is one worker's
    measured = sum(level.ok for level in levels) * args.rows_per_request
    served = measured + warm.ok * args.rows_per_request
    logged = count_logged(artifact_root)
    say(f"  stopped (exit code {returncode}); prediction log after shutdown: {logged} records for {served} rows answered "
        f"({measured} in the measured levels, the rest in the warm-up)")
    if logged != served:
        problems.append(f"the prediction log holds {logged} records for the {served} rows answered")
    problems += [f"server.log: {line}" for line in log_problems(server.log_path)]
    return levels, problems


def bench_fastapi(args, version: str, tmp: Path, bodies: list[bytes]) -> tuple[list[Level], list[str]]:
    from airflow_mlops.runtime.serving.server import http_get, stop_process_group

    port = free_port()
    log_path = tmp / "fastapi.log"
    command = [
        sys.executable, str(REPO / "benchmarks" / "fastapi_baseline.py"), "--port", str(port),
        "--tracking-uri", args.tracking_uri, "--model-name", args.model_name, "--version", version,
        "--cache-dir", str(tmp / "models"),
    ]
    started = time.perf_counter()
    with open(log_path, "ab") as log_file:
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                log_problems(log_path)
                raise SystemExit(f"the FastAPI baseline exited with {process.returncode}")
            try:
                if http_get(f"http://{HOST}:{port}/healthz")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the FastAPI baseline was not up after 180 s")
            time.sleep(0.25)
        say(f"  up at http://{HOST}:{port} in {time.perf_counter() - started:.1f} s (uvicorn, one worker)")
        _, levels = run_levels("FastAPI", port, bodies, args)
    finally:
        returncode = stop_process_group(process.pid, 30, process)
    say(f"  stopped (exit code {returncode}{'; uvicorn re-raises the SIGTERM it shut down on' if returncode == -15 else ''})")
    return levels, [f"fastapi.log: {line}" for line in log_problems(log_path)]


def bench_floor(args, tmp: Path, bodies: list[bytes]) -> tuple[list[Level], list[str]]:
    from airflow_mlops.runtime.serving.server import http_get, stop_process_group

    port, workers = free_port(), max(args.workers)
    log_path = tmp / "floor.log"
    command = [sys.executable, "-m", "uvicorn", "benchmarks.asgi_floor:app", "--host", HOST, "--port", str(port),
               "--workers", str(workers), "--log-level", "warning", "--no-access-log"]
    with open(log_path, "ab") as log_file:
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True, cwd=REPO)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if http_get(f"http://{HOST}:{port}/healthz")[0] == 200:
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the floor app did not come up: {log_path.read_text()[-2000:]}")
            time.sleep(0.2)
        say(f"  up at http://{HOST}:{port} (uvicorn, {workers} worker{'s' if workers > 1 else ''})")
        _, levels = run_levels("floor", port, bodies, args)
    finally:
        stop_process_group(process.pid, 30, process)
    return levels, [f"floor.log: {line}" for line in log_problems(log_path)]


# --------------------------------------------------------------------------- in process


def in_process(model, rows: list[dict], batch_sizes: list[int], seconds: float) -> dict[int, float]:
    """rows/s through ``LoadedModel.predict``, per batch size."""
    results = {}
    for size in batch_sizes:
        batches = [[rows[(i * size + j) % len(rows)] for j in range(size)] for i in range(max(1, len(rows) // size))]
        model.predict(batches[0])
        done, i = 0, 0
        started = time.perf_counter()
        while (elapsed := time.perf_counter() - started) < seconds:
            model.predict(batches[i % len(batches)])
            done += size
            i += 1
        results[size] = done / elapsed
        say(f"  {size:>4} rows per call: {results[size]:9.0f} rows/s  ({elapsed / i * 1000:.2f} ms per call, {i} calls)")
    return results


# --------------------------------------------------------------------------- main


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracking-uri", default=f"sqlite:///{REPO}/.mlops/mlflow.db")
    parser.add_argument("--model-name", default="penguin")
    parser.add_argument("--version", help="the model version to serve (default: the registry's champion)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per concurrency level")
    parser.add_argument("--concurrency", default="1,8,64", help="comma-separated client counts")
    parser.add_argument("--rows-per-request", type=int, default=1)
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up load before the levels")
    parser.add_argument("--in-process-seconds", type=float, default=3.0, help="per batch size")
    parser.add_argument("--in-process-batches", default="1,64", help="rows per LoadedModel.predict call")
    parser.add_argument("--workers", default=f"1,{os.cpu_count() or 1}",
                        help="BentoML worker counts to measure (deployment.serving.workers)")
    parser.add_argument("--no-floor", dest="floor", action="store_false", help="skip the bare ASGI floor")
    args = parser.parse_args()
    args.workers = sorted({int(w) for w in args.workers.split(",") if w.strip()})
    args.concurrency = [int(c) for c in args.concurrency.split(",") if c.strip()]
    args.in_process_batches = [int(b) for b in args.in_process_batches.split(",") if b.strip()]
    if not args.concurrency or min(args.concurrency) < 1 or args.rows_per_request < 1 or args.duration <= 0:
        parser.error("--concurrency needs positive integers; --rows-per-request and --duration must be positive")
    return args


def resolve_version(args) -> str:
    from airflow_mlops.runtime.ml.model_registry import CHAMPION, Registry

    if args.version:
        return str(args.version)
    registry = Registry(args.tracking_uri, args.model_name, args.model_name, "")
    champion = registry.version(registry.client(), CHAMPION)
    if champion is None:
        raise SystemExit(
            f"{args.model_name} has no '{CHAMPION}' version in {args.tracking_uri}: train and deploy first: make demo "
            "(or pass --version)"
        )
    return str(champion.version)


def ratio(a: float, b: float) -> str:
    return f"{a / b:6.2f}x" if b else "     -"


def main() -> int:
    args = parse_args()
    wall = time.perf_counter()
    import numpy  # noqa: F401  (fail early outside .venv-runtime)

    from airflow_mlops.runtime.ml.model_registry import Registry
    from airflow_mlops.runtime.serving.models import ModelCache

    version = resolve_version(args)
    say(f"model {args.model_name} version {version} from {args.tracking_uri}")
    say(f"load: closed loop, {args.duration:g} s per level, concurrency {args.concurrency}, "
        f"{args.rows_per_request} row(s) per request, {args.warmup:g} s warm-up; {os.cpu_count()} CPUs on this machine")
    with tempfile.TemporaryDirectory(prefix="mlops-serving-bench-") as tmp_name:
        tmp = Path(tmp_name)
        registry = Registry(args.tracking_uri, args.model_name, args.model_name, "")
        model = ModelCache(registry, str(tmp / "models")).get(version)  # also fills the servers' model cache
        features = dict(model.features)
        rows = penguin_rows(list(features))
        bodies = request_bodies(rows, args.rows_per_request)
        say(f"{len(rows)} penguin rows, features {list(features)}, {len(bodies)} distinct request bodies")

        say("\n[in process] LoadedModel.predict, one thread, no HTTP: the traced graph serving runs")
        limits = in_process(model, rows, args.in_process_batches, args.in_process_seconds)
        say("[in process] the same, the Keras model called eagerly (what serving did before, and the baseline does)")
        eager = in_process(dataclasses.replace(model, compiled=None), rows, args.in_process_batches, args.in_process_seconds)
        for size in args.in_process_batches:
            say(f"  {size:>4} rows per call: graph {ratio(limits[size], eager[size])} the eager call's rows/s")
        del model

        bentos: dict[int, list[Level]] = {}
        problems: list[str] = []
        for workers in args.workers:
            say(f"\n[BentoML, {workers} worker{'s' if workers > 1 else ''}] the prediction service (bentoml serve, "
                "adaptive batching, prediction log on)")
            bentos[workers], found = bench_bentoml(args, version, features, tmp, bodies, workers)
            problems += found

        say("\n[FastAPI] hand-written baseline (benchmarks/fastapi_baseline.py)")
        fast, fast_problems = bench_fastapi(args, version, tmp, bodies)
        problems += fast_problems
        hello = None
        if args.floor:
            say("\n[floor] a bare ASGI app under uvicorn answering a fixed JSON (no model, no validation): "
                "what this machine and load generator allow")
            hello, floor_problems = bench_floor(args, tmp, bodies)
            problems += floor_problems

    limit_size = max(limits, key=limits.get)
    limit = limits[limit_size]
    rpr = args.rows_per_request
    say(f"\n[summary] rows/s (p95) per concurrency; in-process limit = {limit:.0f} rows/s ({limit_size} rows per call)")
    columns = [f"BentoML {w}w" for w in bentos] + ["FastAPI"] + (["floor"] if hello else [])
    say(f"  {'concurrency':>11} " + " ".join(f"{c:>20}" for c in columns))
    for i, concurrency in enumerate(args.concurrency):
        cells = [level[i] for level in (*bentos.values(), fast, *([hello] if hello else []))]
        say(f"  {concurrency:>11} " + " ".join(
            f"{level.requests_per_second * rpr:>9.0f} ({level.percentile_ms(95):6.1f} ms)" for level in cells))
    say("\n[targets] issue 17, one row per request, prediction log on")
    for workers, levels in bentos.items():
        by = {level.concurrency: level for level in levels}
        checks = []
        if 1 in by:
            checks.append(("c=1 p50 <= 3 ms", f"{by[1].percentile_ms(50):.1f} ms", by[1].percentile_ms(50) <= 3))
        if 8 in by:
            checks.append(("c=8 p99 <= 25 ms", f"{by[8].percentile_ms(99):.1f} ms", by[8].percentile_ms(99) <= 25))
        if 64 in by:
            rows64 = by[64].requests_per_second * rpr
            share = f", {100 * rows64 / (hello[args.concurrency.index(64)].requests_per_second * rpr):.0f} % of the floor" if hello else ""
            checks.append(("c=64 >= 2000 rows/s", f"{rows64:.0f} rows/s{share}", rows64 >= 2000))
        for b, f in zip(levels, fast):
            r = b.requests_per_second / f.requests_per_second if f.requests_per_second else float("inf")
            checks.append((f"c={b.concurrency} >= 2x FastAPI", f"{r:.2f}x", r >= 2))
        for name, figure, met in checks:
            say(f"  {workers} worker{'s' if workers > 1 else ' '}  {name:<22} {figure:<32} {'met' if met else 'NOT met'}")

    everything = [*fast, *(hello or [])] + [level for levels in bentos.values() for level in levels]
    failures = sum(len(level.failures) + len(level.errors) for level in everything)
    say(f"\nnon-200 answers and client errors: {failures}; server log problems: {len(problems)}")
    for problem in problems[:20]:
        say(f"  {problem}")
    say(f"total run time {time.perf_counter() - wall:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
