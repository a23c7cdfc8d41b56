"""canary_analysis on a prediction log written by hand: it rejects on the error rate and on the
latency, and waits (deciding nothing) while the challenger has answered fewer than ``min_requests``.

The log is written with the server's own writer; the rollout is a stand-in that records what it
was asked to do, so no model, registry or server is needed."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from serving_helpers import ROW

from airflow_mlops.contract.layout import predictions_uri
from airflow_mlops.contract.params import CanaryAnalysisParams
from airflow_mlops.runtime.components.canary_analysis import analyse
from airflow_mlops.runtime.predictions.writer import PredictionLogger
from airflow_mlops.runtime.serving.record import Canary, DeploymentRecord

NOW = datetime.now(UTC)
STARTED = NOW - timedelta(hours=2)  # a 60-minute window: over, no ``force`` needed


@dataclass
class FakeRollout:
    """A canary of version 2 in front of champion 1; remembers the decisions it was asked for."""

    calls: list[tuple[str, str]] = field(default_factory=list)

    def record(self) -> DeploymentRecord:
        return DeploymentRecord(pipeline="penguin", champion="1",
                                canary=Canary("2", 0.5, STARTED.isoformat(timespec="milliseconds"), 60))

    def reject_canary(self, reason, figures=None):
        self.calls.append(("reject", reason))
        return {"reason": reason}

    def promote(self, version, reason, figures=None):
        self.calls.append(("promote", str(version)))
        return {"champion": str(version)}


def write_log(root: str, *, champion: int = 40, challenger: int = 30, challenger_errors: int = 0,
              champion_ms: float = 5.0, challenger_ms: float = 6.0) -> None:
    """``champion`` and ``challenger`` answered rows (all at the given latency) and
    ``challenger_errors`` rows the challenger failed on, as the server logs them."""
    at = (STARTED + timedelta(minutes=10)).isoformat(timespec="milliseconds")

    def answered(i: int, version: str, role: str, ms: float) -> dict:
        return {"timestamp": at, "request_id": f"{role}-{i}", "features": dict(ROW), "prediction": "Gentoo",
                "probabilities": {"Adelie": 0.1, "Chinstrap": 0.1, "Gentoo": 0.8}, "model_version": version,
                "model_role": role, "latency_ms": ms, "batch_rows": 1}

    records = [answered(i, "1", "champion", champion_ms) for i in range(champion)]
    records += [answered(i, "2", "challenger", challenger_ms) for i in range(challenger)]
    records += [{"timestamp": at, "request_id": f"failed-{i}", "model_version": "2", "model_role": "challenger",
                 "error": "InvalidArgumentError: boom"} for i in range(challenger_errors)]
    logger = PredictionLogger(predictions_uri(root, "penguin"), flush_rows=10_000, flush_seconds=60)
    logger.log(records)
    logger.close()
    assert logger.written == len(records)


def decide(tmp_path, **thresholds) -> tuple[dict, FakeRollout]:
    params = CanaryAnalysisParams(**{"task": "classification", "max_error_rate_increase": 0.01, "max_latency_ratio": 5.0,
                                     "min_requests": 20, "min_labels": 10, **thresholds})
    ctx = SimpleNamespace(params=params, spec=SimpleNamespace(artifact_root=f"file://{tmp_path}", pipeline="penguin"),
                          log=logging.getLogger("test"))
    rollout = FakeRollout()
    return analyse(ctx, rollout, NOW), rollout


def test_a_challenger_within_the_thresholds_is_promoted(tmp_path):
    """The baseline the rejections below differ from in one figure each."""
    write_log(str(tmp_path))
    report, rollout = decide(tmp_path)
    assert report["decision"] == "promote" and rollout.calls == [("promote", "2")]
    assert report["figures"]["challenger"]["predictions"] == 30 and report["figures"]["champion"]["predictions"] == 40


def test_a_challenger_failing_more_often_is_rejected_on_the_error_rate(tmp_path):
    write_log(str(tmp_path), challenger=30, challenger_errors=3)  # 3 of 33: 9.09 %
    report, rollout = decide(tmp_path)
    assert report["decision"] == "reject"
    assert report["reason"] == "error_rate: challenger 9.09% vs champion 0.00% (at most +1.00%)"
    assert rollout.calls == [("reject", report["reason"])]
    assert [c["check"] for c in report["checks"] if not c["passed"]] == ["error_rate"]


def test_a_slow_challenger_is_rejected_on_the_latency(tmp_path):
    write_log(str(tmp_path), champion_ms=5.0, challenger_ms=50.0)
    report, rollout = decide(tmp_path)
    assert report["decision"] == "reject"
    assert report["reason"] == "latency_p95: challenger 50.0 ms vs champion 5.0 ms (10.00x, at most 5.00x)"
    assert rollout.calls == [("reject", report["reason"])]


@pytest.mark.parametrize(
    "challenger, errors, decision",
    [
        (19, 0, "wait"),     # one short of min_requests
        (20, 0, "promote"),  # exactly min_requests
        (15, 4, "wait"),     # failed requests count as requests: 19
        (15, 5, "reject"),   # 20 requests, a 25 % error rate
    ],
)
def test_below_min_requests_the_analysis_waits_and_decides_nothing(tmp_path, challenger, errors, decision):
    write_log(str(tmp_path), challenger=challenger, challenger_errors=errors)
    report, rollout = decide(tmp_path, min_requests=20)
    assert report["decision"] == decision, report["reason"]
    if decision == "wait":
        assert report["reason"] == f"only {challenger + errors} challenger predictions so far (need 20)"
        assert rollout.calls == []
    else:
        assert [action for action, _ in rollout.calls] == [decision]
