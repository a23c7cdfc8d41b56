"""canary_analysis with ``deployment.approval: promote``: a passing canary awaits a person's answer
(nothing changes), and the answer is applied - approve promotes, reject (or no answer before the
timeout) ends the canary - and lands in the deployment record with who answered and why.

The prediction log is written by hand (test_canary_analysis.write_log); the registry is a
stand-in keeping aliases and tags in memory, under the real Rollout and deployment record."""

from __future__ import annotations

import logging
from datetime import timedelta
from types import SimpleNamespace

import pytest
from test_canary_analysis import NOW, STARTED, write_log

from airflow_mlops.contract.layout import deployment_record_uri
from airflow_mlops.contract.params import CanaryAnalysisParams
from airflow_mlops.runtime.components.canary_analysis import analyse, answer_reason, apply_answer
from airflow_mlops.runtime.serving.record import Canary, DeploymentRecord, read_record, write_record
from airflow_mlops.runtime.serving.rollout import Rollout


class MemoryClient:
    """The MLflow client calls a rollout makes, on aliases and tags in memory."""

    def __init__(self, aliases: dict[str, str]):
        self.aliases = dict(aliases)
        self.tags: dict[tuple[str, str], str] = {}

    def get_model_version_by_alias(self, name, alias):
        return SimpleNamespace(version=self.aliases[alias]) if alias in self.aliases else None

    def set_registered_model_alias(self, name, alias, version):
        self.aliases[alias] = str(version)

    def delete_registered_model_alias(self, name, alias):
        self.aliases.pop(alias)

    def set_model_version_tag(self, name, version, key, value):
        self.tags[(str(version), key)] = value


class MemoryRegistry:
    model_name = "penguin"

    def __init__(self, client: MemoryClient):
        self._client = client

    def client(self):
        return self._client

    def version(self, client, alias):
        return client.get_model_version_by_alias(self.model_name, alias)


@pytest.fixture
def canary(tmp_path) -> tuple[Rollout, MemoryClient]:
    """Champion 1 and a canary of version 2 (its window over), 40 and 30 answered requests."""
    root = f"file://{tmp_path}"
    client = MemoryClient({"champion": "1", "challenger": "2"})
    started = STARTED.isoformat(timespec="milliseconds")
    write_record(deployment_record_uri(root, "penguin"),
                 DeploymentRecord(pipeline="penguin", champion="1", canary=Canary("2", 0.5, started, 60)))
    write_log(root)
    return Rollout(MemoryRegistry(client), root, "penguin", "penguin_promotion/manual__1"), client


def context(rollout: Rollout, **params) -> SimpleNamespace:
    record = CanaryAnalysisParams(**{"task": "classification", "max_latency_ratio": 5.0, "min_requests": 20, **params})
    return SimpleNamespace(params=record, log=logging.getLogger("test"),
                           spec=SimpleNamespace(artifact_root=rollout.artifact_root, pipeline="penguin"))


def test_a_passing_canary_awaits_approval_and_nothing_changes(canary):
    rollout, client = canary
    report = analyse(context(rollout, await_approval=True), rollout, NOW)
    assert report["decision"] == "await_approval" and report["reason"].endswith("; awaiting approval")
    assert report["challenger"] == "2" and report["figures"]["challenger"]["predictions"] == 30
    assert client.aliases == {"champion": "1", "challenger": "2"}
    record = rollout.record()
    assert record.canary.version == "2" and record.history == []


def test_a_failing_canary_is_rejected_without_asking(canary):
    rollout, client = canary
    report = analyse(context(rollout, await_approval=True, max_latency_ratio=1.1), rollout, NOW)
    assert report["decision"] == "reject" and "latency_p95" in report["reason"]
    assert "challenger" not in client.aliases and rollout.record().history[-1].action == "reject"


def test_a_rejection_in_the_ui_ends_the_canary_and_the_record_says_who_and_why(canary):
    rollout, client = canary
    report = apply_answer(context(rollout, answer="reject", version="2", answered_by="alice", comment="too slow"), rollout)
    assert (report["decision"], report["reason"]) == ("reject", "rejected by alice in the Airflow UI: too slow")
    assert client.aliases == {"champion": "1"}  # the champion stays, the challenger serves no more
    record = read_record(deployment_record_uri(rollout.artifact_root, "penguin"), "penguin")
    assert record.canary is None and record.champion == "1"
    decision = record.history[-1]
    assert (decision.action, decision.version, decision.previous_champion) == ("reject", "2", "1")
    assert decision.reason == "rejected by alice in the Airflow UI: too slow"
    assert decision.by == "penguin_promotion/manual__1"
    assert decision.figures["challenger"]["predictions"] == 30 and decision.figures["champion"]["predictions"] == 40
    assert client.tags[("2", "canary_rejected")] == decision.reason


def test_an_approval_in_the_ui_promotes_the_canary(canary):
    rollout, client = canary
    report = apply_answer(context(rollout, answer="approve", version="2", answered_by="bob"), rollout)
    assert (report["decision"], report["reason"]) == ("promote", "approved by bob in the Airflow UI")
    assert client.aliases == {"champion": "2", "previous": "1"}
    decision = rollout.record().history[-1]
    assert (decision.action, decision.version, decision.reason) == ("promote", "2", "approved by bob in the Airflow UI")


def test_an_answer_about_a_canary_that_is_no_longer_running_changes_nothing(canary):
    rollout, client = canary
    report = apply_answer(context(rollout, answer="approve", version="5", answered_by="bob"), rollout)
    assert report["decision"] == "none" and "the canary is version 2" in report["reason"]
    assert client.aliases == {"champion": "1", "challenger": "2"} and rollout.record().history == []


@pytest.mark.parametrize(("answer", "by", "comment", "reason"), [
    ("reject", None, None, "no answer to the approval before its timeout: rejected"),
    ("reject", "carol", "  ", "rejected by carol in the Airflow UI"),
    ("approve", "dave", "looks good", "approved by dave in the Airflow UI: looks good"),
])
def test_the_reason_names_who_answered_or_that_nobody_did(answer, by, comment, reason):
    assert answer_reason(answer, by, comment) == reason


def test_the_window_is_not_waited_for_by_an_answer(canary, tmp_path):
    """A person may answer a forced run's approval before the window ends: the answer is applied."""
    rollout, client = canary
    record = rollout.record()
    record.canary.started_at = (NOW - timedelta(minutes=5)).isoformat(timespec="milliseconds")
    write_record(rollout.record_uri, record)
    report = apply_answer(context(rollout, answer="approve", version="2", answered_by="bob"), rollout)
    assert report["decision"] == "promote" and client.aliases["champion"] == "2"
