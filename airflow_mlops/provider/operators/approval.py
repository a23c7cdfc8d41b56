"""The approval gate of a promotion (``deployment.approval: promote``): a canary that passed its
analysis waits for a person's answer in the Airflow UI (the standard provider's human-in-the-loop
:class:`ApprovalOperator`), and the answer is then applied by the canary analysis component.

``canary_analysis`` (decision ``await_approval``) -> ``approve`` (:class:`CanaryApprovalOperator`)
-> ``promote`` -> ``reject`` (both :class:`ApplyAnswerOperator`). Approve: ``promote`` makes the
canary's version the champion and ``reject`` is skipped. Reject, or no answer before the timeout:
the approval operator skips ``promote``, and ``reject`` (trigger rule ``all_skipped``) ends the
canary, recording who rejected it and their comment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.providers.standard.operators.hitl import ApprovalOperator

from airflow_mlops.contract.params import ANSWERS
from airflow_mlops.provider.compat import AirflowSkipException
from airflow_mlops.provider.operators.deployment import CanaryAnalysisOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

#: the canary analysis' decision when a passing canary waits for a person
AWAIT_APPROVAL = "await_approval"
#: the XCom key of the approval task's answer (chosen options, who, the form's fields)
ANSWER_KEY = "answer"


def analysis_metrics(context: Context, task_id: str) -> dict[str, Any]:
    """The metrics of the canary analysis task's result (decision, versions, figures, checks)."""
    result = context["ti"].xcom_pull(task_ids=task_id) or {}
    return dict(result.get("metrics") or {})


class CanaryApprovalOperator(ApprovalOperator):
    """Ask a person to approve or reject a canary that passed its analysis (``subject`` and
    ``body`` are templates that show the analysis' figures). When the analysis decided anything
    else (it rejected the canary, say) there is nothing to ask: the task is skipped with the reason.

    :param analysis_task_id: the canary analysis task whose decision and figures are asked about.
    """

    #: the fields of the answer's form (the DAG's own params, e.g. ``force``, are not asked: Airflow
    #: 3.1 would show them in the form too)
    form_fields: tuple[str, ...] = ("comment",)

    def __init__(self, *, analysis_task_id: str = "canary_analysis", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.analysis_task_id = analysis_task_id

    @property
    def serialized_params(self) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in super().serialized_params.items() if k in self.form_fields}

    def execute(self, context: Context) -> Any:
        metrics = analysis_metrics(context, self.analysis_task_id)
        if metrics.get("decision") != AWAIT_APPROVAL:
            raise AirflowSkipException(
                f"nothing to approve: the canary analysis decided {metrics.get('decision')!r}, not {AWAIT_APPROVAL!r}")
        return super().execute(context)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        # On Reject, ApprovalOperator skips its downstream by raising (Airflow 3's DownstreamTasksSkipped),
        # so its return value never reaches XCom: the answer is kept under its own key first.
        if "error" not in event:
            context["ti"].xcom_push(key=ANSWER_KEY, value={
                "chosen_options": list(event["chosen_options"]),
                "responded_by_user": event.get("responded_by_user"),
                "params_input": dict(event.get("params_input") or {}),
            })
        return super().execute_complete(context, event)


class ApplyAnswerOperator(CanaryAnalysisOperator):
    """Apply the person's answer to the canary they were asked about: ``approve`` promotes it,
    ``reject`` ends it (the champion stays). The deployment record says who answered, in the
    Airflow UI, and their comment; with no user (the approval timed out) that nobody answered.
    Skipped, with the reason, when the answer was the other one or nobody was asked.

    :param answer: which answer this task applies: ``approve`` or ``reject``.
    :param approval_task_id: the approval task whose answer is applied.
    :param analysis_task_id: the canary analysis task (the canary's version).
    """

    def __init__(self, *, answer: str, approval_task_id: str = "approve", analysis_task_id: str = "canary_analysis",
                 **kwargs: Any) -> None:
        if answer not in ANSWERS:
            raise ValueError(f"answer must be one of {', '.join(ANSWERS)} (got {answer!r})")
        super().__init__(**kwargs)
        self.answer = answer
        self.approval_task_id = approval_task_id
        self.analysis_task_id = analysis_task_id

    def execute(self, context: Context) -> dict[str, Any]:
        response = context["ti"].xcom_pull(task_ids=self.approval_task_id, key=ANSWER_KEY)
        if not response:
            raise AirflowSkipException("nobody was asked: no canary awaited approval")
        chosen = [str(option).lower() for option in response.get("chosen_options") or []]
        if chosen != [self.answer]:
            raise AirflowSkipException(f"the answer was {', '.join(chosen) or 'none'}: nothing to {self.answer}")
        user = response.get("responded_by_user") or {}
        self.component_params = {
            **self.component_params,
            "answer": self.answer,
            "version": analysis_metrics(context, self.analysis_task_id).get("challenger"),
            "answered_by": user.get("name") or user.get("id"),
            "comment": (response.get("params_input") or {}).get("comment"),
        }
        return super().execute(context)
