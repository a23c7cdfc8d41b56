"""The kill drill's invariant checks (scripts/drill_checks.py, run by `make drill`) hold on a sound
state and fail on each broken one: a file claimed twice or never, an Asset event consumed twice,
an input no finished execution produced, a model registered twice, an alias pointing nowhere,
logged rows that differ from served ones."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from drill_checks import (  # noqa: E402  (scripts/ is not a package)
    Sent,
    check_aliases,
    check_artifacts,
    check_batches,
    check_prediction_log,
    check_registrations,
    check_retraining,
    check_runs,
)

A, B, C = "file:///l/a.csv", "file:///l/b.csv", "file:///l/c.csv"
T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)


def _state(*batches: tuple[str, list[str]]) -> dict:
    return {"claimed": {o: "t" for _, objects in batches for o in objects},
            "batches": [{"run_id": run, "objects": objects} for run, objects in batches]}


def test_batches():
    runs = {"r1": "success", "r2": "success"}
    assert check_batches([A, B, C], _state(("r1", [A, B]), ("r2", [C])), runs).ok
    twice = check_batches([A, B, C], _state(("r1", [A, B]), ("r2", [B, C])), runs)
    assert not twice.ok and "claimed more than once: file:///l/b.csv" in twice.detail
    lost = check_batches([A, B, C], _state(("r1", [A, B])), runs)
    assert not lost.ok and "never claimed: file:///l/c.csv" in lost.detail
    assert not check_batches([A, B], _state(("r1", [A]), ("r1", [B])), runs).ok  # one run, two batches
    assert not check_batches([A], _state(("r1", [A])), {"r1": "failed"}).ok


def test_retraining():
    events = [{"id": 1}, {"id": 2}]
    assert check_retraining(events, [("t1", 1), ("t2", 2)]).ok
    assert check_retraining(events, [("t1", 1), ("t1", 2)]).ok  # two events, one run: no duplicate
    twice = check_retraining(events, [("t1", 1), ("t2", 1), ("t2", 2)])
    assert not twice.ok and "more than one training run: 1" in twice.detail
    assert not check_retraining(events, [("t1", 1)]).ok  # event 2 started nothing


def test_artifacts():
    done = "file:///a/train/fp/attempt-1/model"
    killed = "file:///a/train/fp/attempt-2/model"
    records = [{"where": "evaluate", "inputs": [done], "outputs": []}, {"where": "train", "inputs": [], "outputs": [done]}]
    assert check_artifacts(records, {done}, {done: True}).ok
    partial = check_artifacts([*records, {"where": "registry v2", "inputs": [killed], "outputs": []}], {done}, {done: True})
    assert not partial.ok and "registry v2 <- " + killed in partial.detail
    assert not check_artifacts(records, {done}, {done: False}).ok  # a record names an empty output


def test_registrations():
    assert check_registrations([{"version": "1", "fingerprint": "f1"}, {"version": "2", "fingerprint": "f2"}]).ok
    twice = check_registrations([{"version": "1", "fingerprint": "f1"}, {"version": "2", "fingerprint": "f1"},
                                 {"version": "3", "fingerprint": "f2"}])
    assert not twice.ok and "is versions 1, 2" in twice.detail


def _record(champion: str, canary: str | None, *history: tuple[str, str]) -> dict:
    return {"champion": champion, "canary": {"version": canary} if canary else None,
            "history": [{"action": a, "version": v} for a, v in history]}


def test_aliases():
    record = _record("2", "3", ("bootstrap", "1"), ("canary", "2"), ("promote", "2"), ("canary", "3"))
    assert check_aliases(["1", "2", "3"], {"champion": "2", "challenger": "3", "previous": "1"}, record).ok
    nowhere = check_aliases(["1", "2"], {"champion": "2", "challenger": "3"}, record)
    assert not nowhere.ok and "challenger -> version 3, which is not registered" in nowhere.detail
    assert not check_aliases(["1", "2", "3"], {"champion": "3", "challenger": "3"}, record).ok
    assert not check_aliases(["1", "2", "3"], {"challenger": "3"}, record).ok  # no champion
    # the record's champion agrees with the alias but its history does not
    assert not check_aliases(["1", "2", "3"], {"champion": "2", "challenger": "3"},
                             _record("2", "3", ("bootstrap", "1"), ("canary", "3"))).ok


def test_prediction_log():
    sent = [Sent(f"r{i}", "answered", T0 + timedelta(seconds=i)) for i in range(10)]
    kill = T0 + timedelta(seconds=20)
    near = [Sent("k1", "answered", kill - timedelta(seconds=1)), Sent("k2", "no_answer", kill),
            Sent("k3", "refused", kill + timedelta(seconds=2))]
    ok = check_prediction_log([*sent, *near], [*(f"r{i}" for i in range(10)), "k1"], [kill])
    assert ok.ok and "11 answered, all logged (1 of them in the 3 s before a server kill)" in ok.detail
    assert "1 requests in flight" in ok.detail
    # an answer given just before the kill must be logged too (the journal keeps it)
    queued = check_prediction_log([*sent, *near], [f"r{i}" for i in range(10)], [kill])
    assert not queued.ok and "answered but not logged: k1" in queued.detail
    missing = check_prediction_log(sent, [f"r{i}" for i in range(9)], [kill])
    assert not missing.ok and "answered but not logged: r9" in missing.detail
    # sent before the kill, no answer until long after it: in flight across the kill
    late = Sent("k4", "no_answer", kill + timedelta(seconds=15), sent_at=kill - timedelta(seconds=1))
    assert check_prediction_log([*sent, late], [*(f"r{i}" for i in range(10)), "k4"], [kill]).ok
    gave_up = Sent("t1", "timeout", T0 + timedelta(seconds=45), sent_at=T0 + timedelta(seconds=30))
    assert check_prediction_log([*sent, gave_up], [*(f"r{i}" for i in range(10)), "t1"], [kill]).ok
    stray = Sent("s1", "no_answer", T0 + timedelta(seconds=40), sent_at=T0 + timedelta(seconds=30))
    assert not check_prediction_log([*sent, stray], [*(f"r{i}" for i in range(10)), "s1"], [kill]).ok
    assert not check_prediction_log(sent, [f"r{i}" for i in range(10)] + ["r3"], []).ok  # logged twice
    assert not check_prediction_log(sent, [f"r{i}" for i in range(10)] + ["x"], []).ok  # never sent


def test_runs():
    assert check_runs({"p_training": [{"run_id": "a", "state": "success"}],
                       "p_data_arrival": [{"run_id": "b", "state": "success"}, {"run_id": "c", "state": "running"}]}).ok
    failed = check_runs({"p_training": [{"run_id": "a", "state": "success"}, {"run_id": "d", "state": "failed"}]})
    assert not failed.ok and "p_training d failed" in failed.detail
    assert not check_runs({"p_training": [{"run_id": "a", "state": "running"}]}).ok
