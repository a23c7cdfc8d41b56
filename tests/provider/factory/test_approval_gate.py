"""``deployment.approval``: the promotion DAG without a gate is today's, with ``promote`` a canary
that passed waits for a person's answer (the standard provider's ApprovalOperator) that shows the
analysis' figures; the answer reaches the canary analysis component as parameters."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from airflow.providers.standard.operators.hitl import ApprovalOperator

from airflow_mlops.contract.params import CanaryAnalysisParams
from airflow_mlops.provider.compat import AirflowSkipException
from airflow_mlops.provider.factory import promotion_dag
from airflow_mlops.provider.operators.approval import ApplyAnswerOperator, CanaryApprovalOperator
from airflow_mlops.provider.operators.component import ComponentOperator

BASE = """
pipeline: p
data: {source: data.csv, label: y}
features: {a: numeric, b: categorical}
"""
GATED = "deployment: {approval: promote, approval_timeout_hours: 48}\n"


def config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "include" / "p" / "pipeline.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(BASE + textwrap.dedent(extra))
    return path


def analysis_result(decision: str = "await_approval", regression: bool = False) -> dict:
    """The canary analysis task's XCom, as the operator returns it."""
    def figures(version: str, served: int, errors: int, p95: float, metric: float, labelled: int) -> dict:
        online = {"version": version, "predictions": served, "errors": errors, "error_rate": errors / (served + errors),
                  "latency_p50_ms": p95 / 2, "latency_p95_ms": p95, "labelled": labelled}
        return {**online, "mae": metric, "rmse": metric * 1.3} if regression else {**online, "accuracy": metric}

    metrics = {
        "decision": decision, "champion": "3", "challenger": "4", "window": "canary of version 4 since 2026-05-01T10:00:00",
        "figures": {"champion": figures("3", 180, 0, 9.04, 0.95 if not regression else 41.5, 60),
                    "challenger": figures("4", 19, 1, 11.26, 0.9375 if not regression else 39.25, 16)},
        "checks": [{"check": "error_rate", "passed": True, "reason": "challenger 5.00% vs champion 0.00% (at most +10.00%)"}],
    }
    return {"outputs": {"canary_report": {"properties": {"decision": decision, "reason": "r"}}}, "metrics": metrics}


class FakeTI:
    """XComs by task id (the return value; the approval's answer under its key)."""

    map_index = -1

    def __init__(self, xcoms: dict):
        self.xcoms = xcoms
        self.pushed: dict[str, object] = {}

    def xcom_pull(self, task_ids: str, key: str = "return_value"):
        return self.xcoms.get(task_ids if key == "return_value" else (task_ids, key))

    def xcom_push(self, key: str, value) -> None:
        self.pushed[key] = value


def test_without_approval_the_promotion_dag_is_the_canary_analysis_alone(tmp_path):
    dag = promotion_dag(config(tmp_path))
    assert [t.task_id for t in dag.tasks] == ["canary_analysis"]
    assert "await_approval" not in dag.get_task("canary_analysis").component_params
    assert "Approval" not in dag.doc_md


def test_with_approval_promote_a_person_answers_between_the_analysis_and_the_promotion(tmp_path):
    dag = promotion_dag(config(tmp_path, GATED))
    assert [t.task_id for t in dag.topological_sort()] == ["canary_analysis", "approve", "promote", "reject"]
    analysis, approve, promote, reject = (dag.get_task(t) for t in ("canary_analysis", "approve", "promote", "reject"))
    assert analysis.component_params["await_approval"] is True
    assert isinstance(approve, ApprovalOperator) and approve.upstream_task_ids == {"canary_analysis"}
    assert (approve.options, approve.defaults, approve.multiple) == (["Approve", "Reject"], ["Reject"], False)
    assert approve.response_timeout == timedelta(hours=48) and approve.retries == 0
    # Reject skips the approval's direct downstream (promote); reject runs only when promote was skipped
    assert promote.upstream_task_ids == {"approve"} and (promote.answer, promote.trigger_rule) == ("approve", "all_success")
    assert reject.upstream_task_ids == {"promote"} and (reject.answer, reject.trigger_rule) == ("reject", "all_skipped")
    assert not approve.ignore_downstream_trigger_rules and not approve.fail_on_reject
    # the form asks for a comment only (not the DAG's own force)
    assert list(approve.serialized_params) == ["comment"]
    # the answering tasks run the canary analysis component where it runs, with the same thresholds
    assert {promote.component, reject.component} == {"canary_analysis"}
    shared = {k: v for k, v in analysis.component_params.items() if k not in ("force", "await_approval")}
    assert promote.component_params == reject.component_params == shared
    assert "approve" in dag.doc_md and "48 h" in dag.doc_md


def test_the_gated_dag_serializes_for_the_scheduler(tmp_path):
    try:
        from airflow.serialization.serialized_objects import DagSerialization as Serialization
    except ImportError:  # Airflow 3.1
        from airflow.serialization.serialized_objects import SerializedDAG as Serialization

    dag = promotion_dag(config(tmp_path, GATED))
    restored = Serialization.from_dict(Serialization.to_dict(dag))
    upstream = {t: restored.get_task(t).upstream_task_ids for t in ("canary_analysis", "approve", "promote", "reject")}
    assert upstream == {"canary_analysis": set(), "approve": {"canary_analysis"}, "promote": {"approve"}, "reject": {"promote"}}
    assert restored.get_task("reject").trigger_rule == "all_skipped"


@pytest.mark.parametrize("regression", [False, True], ids=["accuracy", "mae"])
def test_the_approval_shows_the_analysis_figures(tmp_path, regression):
    dag = promotion_dag(config(tmp_path, GATED + ("task: regression\n" if regression else "")))
    approve = dag.get_task("approve")
    env = dag.get_template_env()
    ti = FakeTI({"canary_analysis": analysis_result(regression=regression)})
    assert env.from_string(approve.subject).render(ti=ti) == "Promote p version 4 to champion (now version 3)?"
    body = env.from_string(approve.body).render(ti=ti)
    assert "| | champion v3 | challenger v4 |" in body
    assert "| requests | 180 | 20 |" in body
    assert "| error rate | 0.00 % | 5.00 % |" in body
    assert "| p95 latency | 9.0 ms | 11.3 ms |" in body
    if regression:
        assert "| MAE on labelled rows | 41.5 (60 rows) | 39.25 (16 rows) |" in body and "accuracy" not in body
    else:
        assert "| accuracy on labelled rows | 95.00 % (60 rows) | 93.75 % (16 rows) |" in body
    assert "- error_rate: challenger 5.00% vs champion 0.00% (at most +10.00%)" in body
    assert "No answer within 48 h counts as Reject." in body


def test_nothing_is_asked_unless_the_analysis_awaits_approval(tmp_path):
    approve = promotion_dag(config(tmp_path, GATED)).get_task("approve")
    assert isinstance(approve, CanaryApprovalOperator)
    for decision in ("reject", "promote"):
        context = {"ti": FakeTI({"canary_analysis": analysis_result(decision)})}
        with pytest.raises(AirflowSkipException, match=f"the canary analysis decided '{decision}'"):
            approve.execute(context)


@pytest.fixture
def launched(monkeypatch) -> list[dict]:
    """The parameters each component launch got (the component is not run: it decides ``reject``)."""
    calls: list[dict] = []

    def execute(self, context):
        calls.append(CanaryAnalysisParams.from_dict(self.component_params).to_dict())
        decision = self.component_params["answer"].replace("approve", "promote")
        return {"outputs": {"canary_report": {"properties": {"decision": decision, "reason": "r"}}}, "metrics": {}}

    monkeypatch.setattr(ComponentOperator, "execute", execute)
    return calls


def answering(tmp_path) -> tuple[ApplyAnswerOperator, ApplyAnswerOperator]:
    dag = promotion_dag(config(tmp_path, GATED))
    return dag.get_task("promote"), dag.get_task("reject")


def response(option: str, user: dict | None, comment: str = "") -> dict:
    """The approval task's XCom, as ApprovalOperator returns it."""
    return {"chosen_options": [option], "params_input": {"comment": comment}, "responded_at": "2026-05-01T12:00:00+00:00",
            "responded_by_user": user}


def test_a_rejection_reaches_the_component_with_who_and_why(tmp_path, launched):
    promote, reject = answering(tmp_path)
    ti = FakeTI({"canary_analysis": analysis_result(), ("approve", "answer"): response("Reject", {"id": "7", "name": "alice"}, "too slow")})
    with pytest.raises(AirflowSkipException, match="the answer was reject: nothing to approve"):
        promote.execute({"ti": ti})
    assert reject.execute({"ti": ti})["outputs"]["canary_report"]["properties"]["decision"] == "reject"
    assert launched[-1]["answer"] == "reject" and launched[-1]["version"] == "4"
    assert (launched[-1]["answered_by"], launched[-1]["comment"]) == ("alice", "too slow")


def test_an_approval_promotes_and_a_timeout_rejects_with_nobody_named(tmp_path, launched):
    promote, reject = answering(tmp_path)
    ti = FakeTI({"canary_analysis": analysis_result(), ("approve", "answer"): response("Approve", {"id": "admin", "name": "admin"})})
    promote.execute({"ti": ti})
    assert (launched[-1]["answer"], launched[-1]["answered_by"], launched[-1]["version"]) == ("approve", "admin", "4")
    with pytest.raises(AirflowSkipException, match="the answer was approve: nothing to reject"):
        reject.execute({"ti": ti})
    timed_out = FakeTI({"canary_analysis": analysis_result(), ("approve", "answer"): response("Reject", None)})
    reject.execute({"ti": timed_out})
    assert launched[-1]["answer"] == "reject" and "answered_by" not in launched[-1]


def test_the_answer_is_kept_although_reject_skips_the_promotion_by_raising(tmp_path):
    """Airflow 3 skips the approval's downstream with an exception, so its return value is lost:
    the answer is in XCom under its own key before that."""
    from airflow_mlops.provider.compat import DownstreamTasksSkipped

    approve = promotion_dag(config(tmp_path, GATED)).get_task("approve")
    ti = FakeTI({})
    event = {"chosen_options": ["Reject"], "params_input": {"comment": "not today"}, "responded_at": datetime.now(UTC),
             "responded_by_user": {"id": "7", "name": "alice"}, "timedout": False}
    with pytest.raises(DownstreamTasksSkipped) as skipped:
        approve.execute_complete({"ti": ti, "task": approve}, event)
    assert skipped.value.tasks == ["promote"]
    assert ti.pushed["answer"] == {"chosen_options": ["Reject"], "responded_by_user": {"id": "7", "name": "alice"},
                                   "params_input": {"comment": "not today"}}
    approved = FakeTI({})
    assert approve.execute_complete({"ti": approved, "task": approve}, {**event, "chosen_options": ["Approve"]})
    assert approved.pushed["answer"]["chosen_options"] == ["Approve"]


def test_nobody_was_asked_when_the_approval_was_skipped(tmp_path, launched):
    _, reject = answering(tmp_path)
    with pytest.raises(AirflowSkipException, match="nobody was asked"):
        reject.execute({"ti": FakeTI({})})
    assert launched == []


def test_an_answer_must_be_approve_or_reject():
    with pytest.raises(ValueError, match="answer must be one of approve, reject"):
        ApplyAnswerOperator(task_id="x", answer="maybe", pipeline="p", artifact_root="file:///tmp/x")
