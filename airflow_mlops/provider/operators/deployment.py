"""Rollout operators: infra validation, deploy (canary / promote), rollback, canary analysis."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_mlops.contract.components import CANARY_ANALYSIS, DEPLOY, INFRA_VALIDATE, ROLLBACK
from airflow_mlops.contract.config.model import DEPLOY_TARGETS
from airflow_mlops.contract.params import CanaryThresholds
from airflow_mlops.provider.compat import AirflowSkipException
from airflow_mlops.provider.operators.component import ComponentOperator

if TYPE_CHECKING:
    from airflow.sdk import Context



class InfraValidateOperator(ComponentOperator):
    """Load the registered version in a real prediction server and have it answer rows of the
    test split with the expected schema within ``max_latency_ms`` (p95). Failure fails the task
    without retries and with the reason; nothing is rolled out.

    Inputs ``model_version`` (register) and ``examples`` (ingest; its test split is sent).
    Parameters: the fields of :class:`~airflow_mlops.contract.params.InfraValidateParams`.
    """

    interface = INFRA_VALIDATE
    ui_color = "#fdebd0"


class RolloutOperator(ComponentOperator):
    """A rollout step: its component decides in the registry and the deployment record (the local
    BentoML server follows them); with ``target`` ``vertex`` or ``cloud_run`` the operator then
    applies the same decision to the Vertex AI endpoint (``traffic_split``) or the Cloud Run
    service (revision traffic), through :func:`~airflow_mlops.provider.deploy.remote.apply_remote`
    (one mapping of decisions to remote actions) with ``gcp_conn_id``. What was sent goes to the
    task's result as ``target``.

    :param target: ``local``, ``vertex`` or ``cloud_run`` (``deployment.target``).
    :param target_settings: the target's settings (``deployment.vertex`` / ``deployment.cloud_run``).
    """

    template_fields = (*ComponentOperator.template_fields, "target_settings")

    def __init__(
        self,
        *,
        target: str = "local",
        target_settings: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if target not in DEPLOY_TARGETS:
            raise ValueError(f"target must be one of {', '.join(DEPLOY_TARGETS)} (got {target!r})")
        super().__init__(**kwargs)
        self.target = target
        self.target_settings = dict(target_settings or {})

    @property
    def model_name(self) -> str:
        """The registered model's name (as the components take it: ``registry.model_name`` or the pipeline)."""
        return str((self.component_settings.get("registry") or {}).get("model_name") or self.pipeline)

    def apply_remote(
        self,
        decision: str,
        version: str | None,
        reason: str,
        champion: str | None = None,
        artifact_uri: str = "",
        weight: float | None = None,
        model_name: str | None = None,
    ) -> dict[str, Any]:
        """Apply the registry's ``decision`` about ``version`` to the remote target (see
        :func:`~airflow_mlops.provider.deploy.remote.remote_change` for the arguments)."""
        from airflow_mlops.provider.deploy.remote import apply_remote, remote_change

        change = remote_change(decision, version, champion, artifact_uri)
        if change is None:
            self.log.info("nothing to change on %s: %s", self.target, reason)
            return {"action": "none"}
        self.log.info("%s on %s: %s version %s", decision, self.target, change.action, change.version)
        return apply_remote(self.target, self.target_settings, model_name or self.model_name, change, weight=weight,
                            gcp_conn_id=self.gcp_conn_id, log=self.log)


class DeployModelOperator(RolloutOperator):
    """Roll an infra-validated version out: ``canary`` (the challenger answers ``weight`` of the
    requests for ``window_minutes``; the first model becomes champion at once) or ``promote``.

    The registry aliases and the deployment record always change (the local BentoML server
    follows them). With ``target`` ``vertex`` or ``cloud_run`` the same decision is then applied
    to the Vertex AI endpoint (``traffic_split``; the version's ``model/saved_model`` is uploaded)
    or the Cloud Run service (revision traffic), see :class:`RolloutOperator`.

    Inputs ``model_version`` (register) and ``infra_blessing`` (infra_validate). Parameters: the
    fields of :class:`~airflow_mlops.contract.params.DeployParams` (``action``, ``weight``,
    ``window_minutes``).
    """

    ui_color = "#fdebd0"

    interface = DEPLOY

    def execute(self, context: Context) -> dict[str, Any]:
        result = super().execute(context)
        if self.target != "local":
            result["target"] = self.deploy_remote(result["outputs"]["deployment"]["properties"], context)
        return result

    def deploy_remote(self, decision: Mapping[str, Any], context: Context) -> dict[str, Any]:
        """Apply the registry's decision to the remote target."""
        version_ref = self._resolve_inputs(context)["model_version"].properties
        return self.apply_remote(
            decision["action"],
            decision.get("version"),
            decision.get("reason", ""),
            champion=decision.get("previous_champion") or decision.get("champion"),
            artifact_uri=f"{version_ref['model_uri']}/saved_model",
            weight=float(self.checked_params()["weight"]),
            model_name=version_ref["name"],
        )


class RollbackModelOperator(RolloutOperator):
    """``champion`` back to the version before it (a running canary ends too); the prediction
    server follows within a poll. With ``target`` ``vertex`` or ``cloud_run`` all traffic of the
    endpoint / service then goes to that version (:class:`RolloutOperator`).

    Parameters: the fields of :class:`~airflow_mlops.contract.params.RollbackParams` (``reason``).
    """

    interface = ROLLBACK
    ui_color = "#fadbd8"

    def execute(self, context: Context) -> dict[str, Any]:
        result = super().execute(context)
        if self.target != "local":
            decision = result["outputs"]["deployment"]["properties"]
            result["target"] = self.apply_remote(decision["action"], decision.get("version"), decision.get("reason", ""))
        return result


class CanaryAnalysisOperator(RolloutOperator):
    """At the end of the canary window compare challenger and champion online (error rate,
    p95 latency, accuracy or - a regression - MAE on labelled predictions) and promote or reject the challenger. No
    canary, or a window still open: the task is skipped with the reason. With ``target``
    ``vertex`` or ``cloud_run`` the endpoint / service follows (:class:`RolloutOperator`): on
    promote all traffic goes to the new champion, on reject all traffic goes back to the champion
    and the challenger leaves the split.

    Parameters: the fields of :class:`~airflow_mlops.contract.params.CanaryAnalysisParams`
    (``force``: decide now, templated, e.g. ``"{{ params.force }}"``).

    :param thresholds: the thresholds as one record or mapping
        (:class:`~airflow_mlops.contract.params.CanaryThresholds`).
    """

    interface = CANARY_ANALYSIS
    ui_color = "#fdebd0"

    def __init__(self, *, thresholds: CanaryThresholds | Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        # a misspelt threshold is named at DAG parse (thresholds.<name>: unknown field)
        given = CanaryThresholds.from_dict(thresholds, path="thresholds").to_dict() if thresholds is not None else {}
        super().__init__(**{**given, **kwargs})

    def execute(self, context: Context) -> dict[str, Any]:
        self.component_params = self.checked_params()  # a rendered "{{ params.force }}" is a bool from here on
        result = super().execute(context)
        report = result["outputs"]["canary_report"]["properties"]
        if report["decision"] in ("none", "wait"):
            raise AirflowSkipException(f"no decision: {report['reason']}")
        if self.target != "local":
            versions = result.get("metrics") or {}
            result["target"] = self.apply_remote(report["decision"], versions.get("challenger"), report["reason"],
                                                 champion=versions.get("champion"))
        return result
