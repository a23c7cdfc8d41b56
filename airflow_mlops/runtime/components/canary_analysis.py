"""canary_analysis: at the end of a canary, compare challenger and champion online; promote or reject.

Reads the deployment record; with a canary whose window is over (or ``force``), takes the
prediction log since the canary started and the labels that have arrived
(``<artifact_root>/<pipeline>/feedback/*.csv``, ``request_id,label``), computes per version the
error rate, p95 latency and the task's online metric (accuracy; a regression: MAE and RMSE, on
the labels that are numbers), and checks the challenger against the thresholds:

- error rate at most ``max_error_rate_increase`` above the champion's;
- p95 latency at most ``max_latency_ratio`` times the champion's;
- when both have at least ``min_labels`` labelled predictions: a classifier's accuracy at most
  ``max_accuracy_drop`` below the champion's; a regression's MAE at most
  ``(1 + max_mae_increase)`` times the champion's.

All pass: promote the challenger - or, with ``await_approval``, decision ``await_approval``
and nothing changes: a person answers in the Airflow UI. Any fails: reject the canary (the
champion stays). Each decision goes to the deployment record with its figures. No canary, or a
window still open, or too few challenger predictions: decision ``none`` / ``wait`` and nothing
changes.

With ``answer`` (a person's ``approve`` or ``reject`` of the canary of ``version``) nothing is
judged: the figures are taken again and the answer is applied - promote, or reject with the reason
"rejected by <user> in the Airflow UI" (no user: the approval timed out). A canary that is no
longer that version's: decision ``none``, nothing changes.

Parameters: ``task``, the ``weight``-independent thresholds above, ``min_requests``, ``min_labels``, ``force``,
``await_approval``, ``answer``, ``version``, ``answered_by``, ``comment``.
Settings: ``registry``. Output ``canary_report`` (``canary_report.json``, ``report.html``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.contract.components import CANARY_ANALYSIS
from airflow_mlops.contract.params import CanaryAnalysisParams
from airflow_mlops.contract.tasks import is_classification
from airflow_mlops.runtime.components.base import Component, ComponentResult, ExecutionContext, OutputArtifact
from airflow_mlops.runtime.ml import reports


def judge(champion: dict[str, Any], challenger: dict[str, Any], params: CanaryAnalysisParams) -> list[dict[str, Any]]:
    """The checks of the challenger against the champion, each with whether it passed and why."""
    checks = []
    increase = challenger["error_rate"] - champion["error_rate"]
    limit = params.max_error_rate_increase
    checks.append({"check": "error_rate", "passed": increase <= limit,
                   "reason": f"challenger {challenger['error_rate']:.2%} vs champion {champion['error_rate']:.2%} (at most +{limit:.2%})"})
    if challenger["latency_p95_ms"] is not None and champion["latency_p95_ms"]:
        ratio = challenger["latency_p95_ms"] / champion["latency_p95_ms"]
        limit = params.max_latency_ratio
        checks.append({"check": "latency_p95", "passed": ratio <= limit,
                       "reason": f"challenger {challenger['latency_p95_ms']:.1f} ms vs champion {champion['latency_p95_ms']:.1f} ms ({ratio:.2f}x, at most {limit:.2f}x)"})
    min_labels = params.min_labels
    classifier = is_classification(params.task)
    metric = "accuracy" if classifier else "mae"
    if challenger["labelled"] < min_labels or champion["labelled"] < min_labels:
        checks.append({"check": metric, "passed": True,
                       "reason": f"not used: {challenger['labelled']} / {champion['labelled']} labelled predictions (need {min_labels} each)"})
    elif classifier:
        drop = champion["accuracy"] - challenger["accuracy"]
        limit = params.max_accuracy_drop
        checks.append({"check": "accuracy", "passed": drop <= limit,
                       "reason": f"challenger {challenger['accuracy']:.2%} vs champion {champion['accuracy']:.2%} on labelled rows (at most -{limit:.2%})"})
    else:
        share = params.max_mae_increase
        limit = (1 + share) * champion["mae"]
        checks.append({"check": "mae", "passed": challenger["mae"] <= limit,
                       "reason": f"challenger MAE {challenger['mae']:.4g} vs champion {champion['mae']:.4g} on labelled rows "
                                 f"(at most +{share:.0%}: {limit:.4g})"})
    return checks


def render(report: dict[str, Any]) -> str:
    figures = report.get("figures") or {}
    sections = [f"<h2>Decision: {reports.esc(report['decision'])}</h2><p>{reports.esc(report['reason'])}</p>"]
    if figures:
        keys = ["predictions", "errors", "error_rate", "latency_p50_ms", "latency_p95_ms", "labelled"]
        keys += ["mae", "rmse", "skipped_labels"] if any("mae" in f for f in figures.values()) else ["accuracy"]
        sections.append("<h2>Online figures</h2>" + reports.table(
            ["", *keys], [[f"{role} (v{f['version']})", *[f.get(k) if f.get(k) is not None else "-" for k in keys]]
                          for role, f in figures.items()]))
    if report.get("checks"):
        sections.append("<h2>Checks</h2>" + reports.table(
            ["check", "passed", "detail"], [(c["check"], "yes" if c["passed"] else "NO", c["reason"]) for c in report["checks"]]))
    return reports.page("Canary analysis", sections, meta=f"{report.get('window', '')}")


def window_of(canary) -> tuple[datetime, str]:
    """When the canary's window ends, and a line saying which canary it is."""
    ends = datetime.fromisoformat(canary.started_at) + timedelta(minutes=canary.window_minutes)
    return ends, f"canary of version {canary.version} since {canary.started_at} (window ends {ends.isoformat(timespec='seconds')})"


def canary_figures(ctx: ExecutionContext, record, canary) -> dict[str, dict[str, Any]]:
    """Champion's and challenger's online figures on the prediction log since the canary started."""
    from airflow_mlops.contract.layout import feedback_uri, predictions_uri
    from airflow_mlops.runtime.monitoring.performance import ONLINE_COLUMNS, version_figures
    from airflow_mlops.runtime.predictions.feedback import read_feedback
    from airflow_mlops.runtime.predictions.reader import read_prediction_frame

    root, task = ctx.spec.artifact_root, ctx.params.task
    predictions = read_prediction_frame(predictions_uri(root, ctx.spec.pipeline), {}, since=canary.started_at,
                                        columns=ONLINE_COLUMNS, errors=True)
    labels = read_feedback(feedback_uri(root, ctx.spec.pipeline))
    figures = {
        "champion": version_figures(predictions, record.champion, labels, task),
        "challenger": version_figures(predictions, canary.version, labels, task),
    }
    ctx.log.info("champion v%s: %s", record.champion, figures["champion"])
    ctx.log.info("challenger v%s: %s", canary.version, figures["challenger"])
    return figures


def analyse(ctx: ExecutionContext, rollout, now: datetime) -> dict[str, Any]:
    params: CanaryAnalysisParams = ctx.params
    record = rollout.record()
    canary = record.canary
    if canary is None:
        return {"decision": "none", "reason": "no canary is running"}
    ends, window = window_of(canary)
    if now < ends and not params.force:
        return {"decision": "wait", "reason": f"the canary window ends at {ends.isoformat(timespec='seconds')}", "window": window}
    figures = canary_figures(ctx, record, canary)
    min_requests = params.min_requests
    served = figures["challenger"]["predictions"] + figures["challenger"]["errors"]
    base = {"window": window, "figures": figures, "champion": record.champion, "challenger": canary.version}
    if served < min_requests and not params.force:
        return {**base, "decision": "wait", "reason": f"only {served} challenger predictions so far (need {min_requests})"}
    if served == 0:
        result = rollout.reject_canary("the challenger answered no requests during its canary", figures)
        return {**base, "decision": "reject", "reason": result["reason"], "checks": []}
    checks = judge(figures["champion"], figures["challenger"], params)
    failed = [c for c in checks if not c["passed"]]
    if failed:
        reason = "; ".join(f"{c['check']}: {c['reason']}" for c in failed)
        rollout.reject_canary(reason, figures)
        return {**base, "decision": "reject", "reason": reason, "checks": checks}
    reason = "canary passed: " + "; ".join(c["reason"] for c in checks)
    if params.await_approval:  # a person decides (deployment.approval: promote); nothing changes until then
        return {**base, "decision": "await_approval", "reason": f"{reason}; awaiting approval", "checks": checks}
    rollout.promote(canary.version, reason, figures)
    return {**base, "decision": "promote", "reason": reason, "checks": checks}


def answer_reason(answer: str, answered_by: str | None, comment: str | None) -> str:
    """Why the canary was promoted or rejected, as the deployment record keeps it."""
    verb = "approved" if answer == "approve" else "rejected"
    if answered_by:
        reason = f"{verb} by {answered_by} in the Airflow UI"
    elif answer == "reject":  # nobody answered: the approval's timeout took its default, Reject
        reason = "no answer to the approval before its timeout: rejected"
    else:
        reason = f"{verb} in the Airflow UI"
    return f"{reason}: {comment.strip()}" if comment and comment.strip() else reason


def apply_answer(ctx: ExecutionContext, rollout) -> dict[str, Any]:
    """A person's answer to the approval of a canary that passed its analysis: promote it or
    end it (the champion stays). Nothing is judged again; the figures are taken again for the record."""
    params: CanaryAnalysisParams = ctx.params
    answer, version = params.answer, str(params.version)
    record = rollout.record()
    canary = record.canary
    if canary is None or canary.version != version:
        running = f"the canary is version {canary.version}" if canary else "no canary is running"
        return {"decision": "none", "reason": f"the approval was about the canary of version {version}, but {running}: "
                                              "nothing changes"}
    _, window = window_of(canary)
    figures = canary_figures(ctx, record, canary)
    base = {"window": window, "figures": figures, "champion": record.champion, "challenger": version, "checks": []}
    reason = answer_reason(str(answer), params.answered_by, params.comment)
    if answer == "approve":
        rollout.promote(version, reason, figures)
        return {**base, "decision": "promote", "reason": reason}
    rollout.reject_canary(reason, figures)
    return {**base, "decision": "reject", "reason": reason}


def run(ctx: ExecutionContext) -> ComponentResult:
    from airflow_mlops.runtime.ml.model_registry import Registry
    from airflow_mlops.runtime.serving.rollout import Rollout

    by = f"{ctx.spec.run.dag_id}/{ctx.spec.run.run_id}" if ctx.spec.run.dag_id else "canary_analysis"
    rollout = Rollout(Registry.from_spec(ctx.spec), ctx.spec.artifact_root, ctx.spec.pipeline, by)
    report = apply_answer(ctx, rollout) if ctx.params.answer else analyse(ctx, rollout, datetime.now(UTC))
    ctx.log.info("decision: %s - %s", report["decision"].upper(), report["reason"])
    store = ArtifactStore()
    store.write_json(ctx.output_uri("canary_report", "canary_report.json"), report)
    store.write_text(ctx.output_uri("canary_report", "report.html"), render(report))
    return ComponentResult(
        outputs={"canary_report": OutputArtifact(ctx.output_uri("canary_report"),
                                                 {"decision": report["decision"], "reason": report["reason"][:500]})},
        # the figures and checks are shown to the person who approves (approval: promote)
        metrics={"decision": report["decision"], "challenger": report.get("challenger"), "champion": report.get("champion"),
                 "figures": report.get("figures") or {}, "checks": report.get("checks") or [], "window": report.get("window", "")},
    )


COMPONENT = Component.implementing(CANARY_ANALYSIS, run)
