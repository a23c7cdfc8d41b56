"""A load test of the model API: one-row requests at a fixed rate, their latency and failures
against bounds. Stdlib only, so it runs in any Python image of the build.

Requests are sent open-loop: request ``i`` is due ``i / qps`` seconds after the start whatever the
answers take (a slow service does not slow the test down and hide its own latency), with at most
``concurrency`` in flight; latency is measured from when a request was due, so time spent waiting
for a free slot counts. Latency percentiles are of the answered requests; failed ones count in
the error rate.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

#: a bearer token for the model API (Cloud Run, Vertex AI), e.g. from `gcloud auth print-identity-token`
TOKEN_ENV = "LOAD_TEST_TOKEN"


@dataclass(frozen=True)
class Result:
    sent: int
    answered: int
    failed: int
    seconds: float
    qps: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    errors: dict[str, int]

    @property
    def error_rate(self) -> float:
        return self.failed / self.sent if self.sent else 0.0


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def run(url: str, rows: list[dict[str, Any]], qps: float, duration_seconds: float, concurrency: int = 32,
        timeout: float = 10.0) -> Result:
    """POST ``{"instances": [row]}`` to ``url``, cycling through ``rows``, ``qps`` times a second."""
    if not rows:
        raise ValueError("no rows to send: the rows file holds an empty list")
    total = max(1, int(qps * duration_seconds))
    headers = {"Content-Type": "application/json"}
    if os.environ.get(TOKEN_ENV):
        headers["Authorization"] = f"Bearer {os.environ[TOKEN_ENV]}"
    bodies = [json.dumps({"instances": [row]}).encode() for row in rows]
    latencies: list[float] = []
    errors: dict[str, int] = {}
    lock = threading.Lock()
    start = time.perf_counter()

    def one(i: int) -> None:
        due = start + i / qps
        request = urllib.request.Request(url, data=bodies[i % len(bodies)], headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                response.read()
            problem = None
        except urllib.error.HTTPError as exc:
            problem = f"HTTP {exc.code}"
        except (OSError, TimeoutError) as exc:
            problem = type(exc).__name__
        with lock:
            if problem is None:
                latencies.append((time.perf_counter() - due) * 1000)
            else:
                errors[problem] = errors.get(problem, 0) + 1

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for i in range(total):
            wait = start + i / qps - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            pool.submit(one, i)
    seconds = time.perf_counter() - start
    # answered per second of the planned window: the last answers' tail does not dilute it
    return Result(sent=total, answered=len(latencies), failed=total - len(latencies), seconds=round(seconds, 3),
                  qps=round(len(latencies) / (total / qps), 2), p50_ms=_ms(percentile(latencies, 50)),
                  p95_ms=_ms(percentile(latencies, 95)), p99_ms=_ms(percentile(latencies, 99)), errors=errors)


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def verdict(result: Result, qps: float, max_p95_ms: float, max_error_rate: float, min_qps_ratio: float) -> list[str]:
    """The bounds the result breaks, each as a sentence (empty: it passed)."""
    broken = []
    if result.error_rate > max_error_rate:
        broken.append(f"error rate {result.error_rate:.4f} > {max_error_rate} ({result.errors})")
    if result.p95_ms is None or result.p95_ms > max_p95_ms:
        broken.append(f"p95 latency {result.p95_ms} ms > {max_p95_ms} ms")
    if result.qps < min_qps_ratio * qps:
        broken.append(f"{result.qps} answered requests/s < {min_qps_ratio} x {qps}")
    return broken


def report(result: Result, broken: list[str]) -> str:
    summary = json.dumps({**asdict(result), "error_rate": round(result.error_rate, 4)})
    return summary + "\n" + ("load test PASSED" if not broken else "load test FAILED: " + "; ".join(broken))
