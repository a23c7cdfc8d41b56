"""The CD builds' load test (``python -m cicd load-test``) against a real prediction server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def load_test(url: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cicd", "load-test", "--url", url, "--qps", "20", "--duration", "3", *extra],
                          capture_output=True, text=True, timeout=120, cwd=REPO)


def summary(result: subprocess.CompletedProcess) -> dict:
    return json.loads(result.stdout.splitlines()[0])


def test_the_load_test_passes_within_its_bounds_and_fails_beyond_them(server, tmp_path):
    url = f"{server.url}/predict"
    passed = load_test(url, "--max-p95-ms", "2000")
    assert passed.returncode == 0 and "load test PASSED" in passed.stdout, passed.stdout + passed.stderr
    figures = summary(passed)
    assert figures["sent"] == figures["answered"] == 60 and figures["failed"] == 0 and figures["qps"] > 15
    assert 0 < figures["p50_ms"] <= figures["p95_ms"] <= 2000

    too_strict = load_test(url, "--max-p95-ms", "0.01")
    assert too_strict.returncode == 1 and "load test FAILED: p95 latency" in too_strict.stdout

    rows = tmp_path / "bad.json"
    rows.write_text(json.dumps([{"island": "Dream", "wings": 2}]))  # not the request schema: every request a 400
    refused = load_test(url, "--max-p95-ms", "2000", "--rows", str(rows))
    assert refused.returncode == 1 and summary(refused)["errors"] == {"HTTP 400": 60}
    assert "error rate 1.0000 > 0.0" in refused.stdout
