"""Rollout operators: infra validation, deploy (canary / promote), rollback, canary analysis."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow.sdk.exceptions import AirflowSkipException

from airflow_mlops.provider.operators.component import ComponentOperator, ComponentOutput

TARGETS = ("local", "vertex", "cloud_run")


class InfraValidateOperator(ComponentOperator):
    """Load the registered version in a real prediction server and have it answer rows of the
    test split with the expected schema within ``max_latency_ms`` (p95). Failure fails the task
    without retries and with the reason; nothing is rolled out.

    :param model_version: the ``model_version`` output of the register task.
    :param examples: the ``examples`` output of the ingest task (its test split is sent).
    :param features: ``{name: "numeric" | "categorical"}``.
    :param sample_rows: how many test rows to send.
    :param max_latency_ms: p95 latency bound.
    """

    ui_color = "#fdebd0"

    def __init__(
        self,
        *,
        model_version: ComponentOutput,
        examples: ComponentOutput,
        features: Mapping[str, str],
        sample_rows: int = 20,
        max_latency_ms: float = 1000.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            component="infra_validate",
            inputs={"model_version": model_version, "examples": examples},
            component_params={"features": dict(features), "sample_rows": sample_rows, "max_latency_ms": max_latency_ms},
            **kwargs,
        )


class DeployModelOperator(ComponentOperator):
    """Roll an infra-validated version out: ``canary`` (the challenger answers ``weight`` of the
    requests for ``window_minutes``; the first model becomes champion at once) or ``promote``.

    The registry aliases and the deployment record always change (the local BentoML server
    follows them). With ``target`` ``vertex`` or ``cloud_run`` the same decision is then applied
    to the Vertex AI endpoint (``traffic_split``) or the Cloud Run service (revision traffic).

    :param model_version: the ``model_version`` output of the register task.
    :param infra_blessing: the ``infra_blessing`` output of the infra-validation task.
    :param target: ``local``, ``vertex`` or ``cloud_run``.
    :param target_settings: the target's settings (``deployment.vertex`` / ``deployment.cloud_run``).
    :param gcp_conn_id: the Google Cloud connection for remote targets.
    """

    template_fields = (*ComponentOperator.template_fields, "target_settings")
    ui_color = "#fdebd0"

    def __init__(
        self,
        *,
        model_version: ComponentOutput,
        infra_blessing: ComponentOutput,
        action: str = "canary",
        weight: float = 0.1,
        window_minutes: int = 60,
        target: str = "local",
        target_settings: Mapping[str, Any] | None = None,
        gcp_conn_id: str = "google_cloud_default",
        **kwargs: Any,
    ) -> None:
        if target not in TARGETS:
            raise ValueError(f"target must be one of {', '.join(TARGETS)} (got {target!r})")
        super().__init__(
            component="deploy",
            inputs={"model_version": model_version, "infra_blessing": infra_blessing},
            component_params={"action": action, "weight": weight, "window_minutes": window_minutes},
            **kwargs,
        )
        self.target = target
        self.target_settings = dict(target_settings or {})
        self.gcp_conn_id = gcp_conn_id

    def execute(self, context) -> dict[str, Any]:
        result = super().execute(context)
        if self.target != "local":
            result["target"] = self.deploy_remote(result["outputs"]["deployment"]["properties"], context)
        return result

    def deploy_remote(self, decision: Mapping[str, Any], context) -> dict[str, Any]:
        """Apply the registry's decision to the remote target."""
        action = {"bootstrap": "promote", "canary": "canary", "promote": "promote"}.get(decision["action"])
        if action is None:
            self.log.info("nothing to change on %s: %s", self.target, decision["reason"])
            return {"action": "none"}
        version_ref = self._resolve_inputs(context)["model_version"].properties
        version, name = str(decision["version"]), version_ref["name"]
        weight = float(self.component_params["weight"])
        if self.target == "vertex":
            from airflow_mlops.provider.deploy.vertex import vertex_rollout

            return vertex_rollout(action, self.target_settings, name, version, f"{version_ref['model_uri']}/saved_model",
                                  weight=weight, gcp_conn_id=self.gcp_conn_id, log=self.log)
        from airflow_mlops.provider.deploy.cloud_run import cloud_run_rollout

        return cloud_run_rollout(action, self.target_settings, name, version, weight=weight,
                                 current_version=decision.get("previous_champion") or decision.get("champion"),
                                 gcp_conn_id=self.gcp_conn_id, log=self.log)


class RollbackModelOperator(ComponentOperator):
    """``champion`` back to the version before it (a running canary ends too); the prediction
    server follows within a poll.

    :param reason: recorded with the decision (templated through ``component_params``).
    """

    ui_color = "#fadbd8"

    def __init__(self, *, reason: str = "rollback requested", **kwargs: Any) -> None:
        super().__init__(component="rollback", component_params={"reason": reason}, **kwargs)


class CanaryAnalysisOperator(ComponentOperator):
    """At the end of the canary window compare challenger and champion online (error rate,
    p95 latency, accuracy on labelled predictions) and promote or reject the challenger. No
    canary, or a window still open: the task is skipped with the reason.

    :param thresholds: ``max_error_rate_increase``, ``max_latency_ratio``, ``max_accuracy_drop``,
        ``min_requests``, ``min_labels``.
    :param force: decide now, even before the window ends (templated, e.g. ``"{{ params.force }}"``).
    """

    ui_color = "#fdebd0"

    def __init__(self, *, thresholds: Mapping[str, Any], force: bool | str = False, **kwargs: Any) -> None:
        super().__init__(
            component="canary_analysis", component_params={**thresholds, "force": force}, **kwargs
        )

    def execute(self, context) -> dict[str, Any]:
        force = self.component_params.get("force")
        self.component_params["force"] = str(force).lower() in ("1", "true", "yes") if isinstance(force, str) else bool(force)
        result = super().execute(context)
        report = result["outputs"]["canary_report"]["properties"]
        if report["decision"] in ("none", "wait"):
            raise AirflowSkipException(f"no decision: {report['reason']}")
        return result
