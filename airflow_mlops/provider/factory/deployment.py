"""The ``<pipeline>_promotion`` and ``<pipeline>_rollback`` DAGs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow.sdk import DAG, Param

from airflow_mlops.contract.config import PipelineConfig
from airflow_mlops.contract.params import CanaryThresholds
from airflow_mlops.provider.factory.launch import step
from airflow_mlops.provider.factory.training import as_config, component_defaults, dag_defaults, options
from airflow_mlops.provider.operators import CanaryAnalysisOperator, RollbackModelOperator

PROMOTION_SCHEDULE = "@hourly"


def remote_target(config: PipelineConfig) -> dict:
    """``deployment.target`` and its settings: the Vertex AI endpoint or Cloud Run service that follows the decisions."""
    return {"target": config.deployment.target, "target_settings": config.deployment.target_settings}


def approval_doc(config: PipelineConfig) -> str:
    hours = f"{config.deployment.approval_timeout_hours:g}"
    return (
        "\n**Approval** (`deployment.approval: promote`): a challenger that passes is not promoted at once. The task "
        "`approve` waits for a person's answer (Airflow UI: the run's *Required actions*, or `PATCH .../hitlDetails` "
        f"of the REST API) and shows the figures. Approve: `promote` makes it the champion. Reject, or no answer within "
        f"{hours} h: `reject` ends the canary, the champion stays, and the deployment history says who rejected it and why.\n"
    )


def promotion_dag(config: PipelineConfig | str | Path) -> DAG:
    """Hourly: once a canary's window is over, compare challenger and champion online and
    promote or reject the challenger (``force`` decides before the window ends). With
    ``deployment.approval: promote`` a challenger that passes waits for a person's approval
    (:mod:`airflow_mlops.provider.factory.approval`)."""
    config = as_config(config)
    canary = config.deployment.canary
    gated = config.deployment.approval == "promote"
    with DAG(
        dag_id=f"{config.name}_promotion",
        description=f"Canary analysis of {config.name}: promote or reject the challenger",
        schedule=PROMOTION_SCHEDULE,
        max_active_runs=1,
        tags=["mlops", config.name, "deployment"],
        params={
            "force": Param(False, type="boolean", title="Decide now",
                           description="Compare and decide even if the canary window is not over."),
        },
        doc_md=(
            f"### {config.name} promotion\n\nEvery hour: is a canary running and is its {canary.window_minutes}-minute "
            "window over? Then the challenger's online error rate, p95 latency and accuracy or MAE (on predictions whose "
            "labels have arrived) are compared with the champion's; it is promoted or rejected and the decision, "
            "with its figures, goes to the deployment record, and the serving target follows (`deployment.target`: "
            f"{config.deployment.target}). Otherwise the task is skipped with the reason.\n"
            + (approval_doc(config) if gated else "")
        ),
        **dag_defaults(config),
    ) as dag:
        common = {
            "thresholds": CanaryThresholds(**options(canary, CanaryThresholds)),
            "task": config.task,
            **remote_target(config),
            **{**component_defaults(config), "cache": False},
        }
        gate: dict[str, Any] = {"await_approval": True} if gated else {}
        analysis = CanaryAnalysisOperator(**step(config, "canary_analysis"), force="{{ params.force }}", **gate, **common)
        if gated:
            approval_gate(config, analysis, common)
    return dag


def approval_gate(config: PipelineConfig, analysis: CanaryAnalysisOperator, common: dict[str, Any]) -> None:
    """``approve`` -> ``promote`` -> ``reject`` after the canary analysis (``deployment.approval: promote``)."""
    from airflow_mlops.provider.factory.approval import APPROVAL_TASK, approval_arguments
    from airflow_mlops.provider.operators.approval import ApplyAnswerOperator, CanaryApprovalOperator

    approve = CanaryApprovalOperator(**approval_arguments(config))
    where = {k: v for k, v in step(config, "canary_analysis").items() if k != "task_id"}
    promote = ApplyAnswerOperator(task_id="promote", answer="approve", approval_task_id=APPROVAL_TASK, **where, **common)
    # Reject skips the approval's direct downstream (promote); reject runs when promote was skipped
    reject = ApplyAnswerOperator(task_id="reject", answer="reject", approval_task_id=APPROVAL_TASK,
                                 trigger_rule="all_skipped", **where, **common)
    analysis >> approve >> promote >> reject


def rollback_dag(config: PipelineConfig | str | Path) -> DAG:
    """Triggered by hand: ``champion`` goes back to the version before it."""
    config = as_config(config)
    with DAG(
        dag_id=f"{config.name}_rollback",
        description=f"Roll {config.name} back to the previous champion",
        schedule=None,
        tags=["mlops", config.name, "deployment"],
        params={"reason": Param("manual rollback", type="string", title="Reason", minLength=1)},
        doc_md=f"### {config.name} rollback\n\nTrigger to move `champion` back to the version before it; the "
        "prediction server follows within a poll; a `vertex` / `cloud_run` target gets all traffic moved to it "
        f"(`deployment.target`: {config.deployment.target}). Same as `make rollback` (which moves the registry only).\n",
        **dag_defaults(config),
    ) as dag:
        RollbackModelOperator(
            **step(config, "rollback"),
            reason="{{ params.reason }}",
            **remote_target(config),
            **{**component_defaults(config), "cache": False},
        )
    return dag
