"""The prediction service, served for real by BentoML on 127.0.0.1."""

from __future__ import annotations

import json
import math
import threading
import time
import urllib.request

import pytest
from serving_helpers import ROW

from airflow_mlops.runtime.serving.server import http_get, http_post_json


def predict(server, rows, **kw):
    return http_post_json(server.url + "/predict", {"instances": rows}, **kw)


def status(server) -> dict:
    return http_post_json(server.url + "/status", {})[1]


def wait_for(server, check, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = status(server)
        if check(current):
            return current
        time.sleep(0.1)
    raise AssertionError(f"the server did not get there in {timeout} s: {status(server)}")


@pytest.fixture
def champion_v1(server, rollout):
    """Each test starts and ends with version 1 serving alone."""
    def reset():
        record = rollout.record()
        if record.canary is not None:
            rollout.reject_canary("test reset")
        if record.champion != "1":
            rollout.promote("1", "test reset")
        wait_for(server, lambda s: s["champion"] == "1" and s["challenger"] is None)

    reset()
    yield
    reset()


def test_health_and_readiness(server):
    assert http_get(server.url + "/healthz")[0] == 200
    assert http_get(server.url + "/readyz")[0] == 200


def test_a_row_and_a_batch_are_answered_with_the_model_version(server, champion_v1):
    status_code, answers = predict(server, [dict(ROW, request_id="row-1")])
    assert status_code == 200
    (answer,) = answers
    assert answer["request_id"] == "row-1" and answer["model_version"] == "1" and answer["model_role"] == "champion"
    assert answer["prediction"] == "Gentoo"  # a heavy bird with a long, shallow bill from Biscoe
    assert set(answer["probabilities"]) == {"Adelie", "Chinstrap", "Gentoo"}
    assert math.isclose(sum(answer["probabilities"].values()), 1.0, abs_tol=1e-4)

    adelie = {"island": "Torgersen", "bill_length_mm": 38.0, "bill_depth_mm": 19.0, "flipper_length_mm": 185.0, "body_mass_g": 3600.0, "sex": "male"}
    missing = {k: None for k in ROW}  # every feature missing: imputed, still answered
    status_code, answers = predict(server, [ROW, adelie, missing] * 10)
    assert status_code == 200 and len(answers) == 30
    assert [a["prediction"] for a in answers[:2]] == ["Gentoo", "Adelie"]
    assert len({a["request_id"] for a in answers}) == 30  # generated, unique


def _raw(server, body: bytes, content_type: str = "application/json"):
    request = urllib.request.Request(server.url + "/predict", data=body, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


BAD_ROWS = {
    "missing field": {k: v for k, v in ROW.items() if k != "sex"},
    "extra field": dict(ROW, wingspan=1.0),
    "string for a number": dict(ROW, body_mass_g="heavy"),
    "number as a string": dict(ROW, body_mass_g="5000"),
    "number for a category": dict(ROW, island=3),
    "boolean for a number": dict(ROW, body_mass_g=True),
    "list for a number": dict(ROW, body_mass_g=[1.0]),
    "over-long category": dict(ROW, island="x" * 1000),
    "bad request id": dict(ROW, request_id="spaces are not allowed"),
}


@pytest.mark.parametrize("case", sorted(BAD_ROWS))
def test_a_bad_row_gets_400_naming_the_field(server, case):
    status_code, body = predict(server, [ROW, BAD_ROWS[case]])
    assert status_code == 400, body
    assert body["detail"] and body["detail"][0]["loc"][:2] == ["instances", 1]


BAD_BODIES = {
    "NaN": b'{"instances": [{"island": "Biscoe", "bill_length_mm": NaN, "bill_depth_mm": 1, "flipper_length_mm": 1, "body_mass_g": 1, "sex": "male"}]}',
    "Infinity": b'{"instances": [{"island": "Biscoe", "bill_length_mm": Infinity, "bill_depth_mm": 1, "flipper_length_mm": 1, "body_mass_g": 1, "sex": "male"}]}',
    "overflow": b'{"instances": [{"island": "Biscoe", "bill_length_mm": 1e999, "bill_depth_mm": 1, "flipper_length_mm": 1, "body_mass_g": 1, "sex": "male"}]}',
    "not JSON": b"instances=1",
    "a list at the top": b"[]",
    "no instances": b"{}",
    "instances not a list": b'{"instances": {"island": "Biscoe"}}',
    "no rows": b'{"instances": []}',
    "too many rows": json.dumps({"instances": [ROW] * 101}).encode(),
    "empty body": b"",
}


@pytest.mark.parametrize("case", sorted(BAD_BODIES))
def test_a_bad_body_gets_400(server, case):
    status_code, body = _raw(server, BAD_BODIES[case])
    assert status_code == 400, body


def test_an_oversized_body_gets_413_before_parsing(server):
    status_code, body = _raw(server, b'{"instances": [' + b" " * 70_000 + b"]}")
    assert status_code == 413 and b"larger than 65536 bytes" in body


class LoadClient:
    """Threads sending single-row requests back to back. Every answer is kept in ``results`` and
    every exception in ``errors`` (an exception in a thread would only end that thread); after the
    ``with`` block ``unfinished`` lists the threads that did not end."""

    def __init__(self, server, threads: int = 4):
        self.server = server
        self.sent = 0
        self.results: list[tuple[int, str]] = []
        self.errors: list[str] = []
        self.unfinished: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self):
        while not self._stop.is_set():
            with self._lock:
                self.sent += 1
            try:
                code, body = predict(self.server, [ROW], timeout=30)
                result = (code, body[0]["model_version"] if code == 200 else str(body))
            except Exception as exc:  # noqa: BLE001 - collected, asserted on by the test
                with self._lock:
                    self.errors.append(repr(exc))
                continue
            with self._lock:
                self.results.append(result)

    def wait_for_answers(self, more: int, timeout: float = 60.0) -> None:
        """Until ``more`` answers beyond those already in :attr:`results` have arrived."""
        target = len(self.results) + more
        deadline = time.monotonic() + timeout
        while len(self.results) < target:
            assert not self.errors, self.errors[:3]
            assert time.monotonic() < deadline, f"{len(self.results)} answers in {timeout} s, waiting for {target}"
            time.sleep(0.05)

    def __enter__(self):
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for t in self._threads:
            t.join(timeout=60)
        self.unfinished = [t for t in self._threads if t.is_alive()]


def test_promotion_and_rollback_swap_the_model_under_load_without_a_failed_request(server, rollout, champion_v1, models):
    import os
    import subprocess
    import sys

    with LoadClient(server) as load:
        load.wait_for_answers(20)
        rollout.promote("2", "test: swap under load")
        wait_for(server, lambda s: s["champion"] == "2", timeout=60)
        seen_v2 = len(load.results)
        load.wait_for_answers(20)
        # Roll back with the CLI, as an operator would.
        env = {**os.environ, "MLOPS_ARTIFACT_ROOT": models.root, "MLOPS_TRACKING_URI": models.tracking_uri}
        cli = subprocess.run([sys.executable, "-m", "airflow_mlops.runtime.serving", "rollback", "--reason", "test"],
                             env=env, capture_output=True, text=True, timeout=120)
        assert cli.returncode == 0, cli.stderr[-2000:]
        assert "champion is now version 1 (was 2)" in cli.stdout
        # The server follows within a poll (0.3 s); the deadline is generous for a busy machine.
        wait_for(server, lambda s: s["champion"] == "1", timeout=60)
        load.wait_for_answers(20)
    assert load.unfinished == [] and load.errors == []
    assert len(load.results) == load.sent  # every request sent was answered (no thread died mid-request)
    failures = [r for r in load.results if r[0] != 200]
    versions = [v for code, v in load.results if code == 200]
    assert failures == [] and len(versions) >= 60
    assert versions[0] == "1" and "2" in versions[seen_v2:] and versions[-1] == "1"


def binomial_interval(n: int, p: float, alpha: float) -> tuple[int, int]:
    """The counts ``lo..hi`` a Binomial(n, p) count falls outside with probability at most ``alpha``
    (``alpha / 2`` in each tail)."""
    pmf = [math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(n + 1)]
    lo, tail = 0, 0.0
    while tail + pmf[lo] <= alpha / 2:
        tail += pmf[lo]
        lo += 1
    hi, tail = n, 0.0
    while tail + pmf[hi] <= alpha / 2:
        tail += pmf[hi]
        hi -= 1
    return lo, hi


def test_the_canary_answers_its_share_of_requests(server, rollout, champion_v1):
    rollout.start_canary("2", 0.3, 60)
    wait_for(server, lambda s: s["challenger"] == "2" and s["canary_weight"] == 0.3)
    roles = []
    for _ in range(40):
        code, answers = predict(server, [ROW] * 10)
        assert code == 200
        roles += [(a["model_role"], a["model_version"]) for a in answers]
    assert set(roles) == {("champion", "1"), ("challenger", "2")}
    # Each row goes to the challenger with probability 0.3 (an unseeded draw in the server): the
    # count is Binomial(400, 0.3). Outside this interval once in a million runs; far from 0 and 200.
    lo, hi = binomial_interval(len(roles), 0.3, 1e-6)
    challenger = sum(role == "challenger" for role, _ in roles)
    assert lo <= challenger <= hi, (challenger, lo, hi)
    rollout.reject_canary("test over")
    wait_for(server, lambda s: s["challenger"] is None)
    assert {a["model_version"] for a in predict(server, [ROW] * 20)[1]} == {"1"}
