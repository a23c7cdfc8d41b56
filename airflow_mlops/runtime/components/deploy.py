"""deploy: roll a registered, infra-validated version out to the local serving target.

A model whose training data drifted from the champion's (validate's ``drifted_columns``) in a
run that monitoring did not ask for is held (``hold``: registered, no canary) unless
``on_drift`` is ``canary``.

A version that is already the canary, that served before and was superseded by a newer
champion, or that the champion was rolled back from, gets no canary (``none``, with the reason):
a re-run whose steps are all cache hits deploys its old version again.

``action``: ``canary`` (the challenger answers ``weight`` of the requests for
``window_minutes``; the first model ever, or the first after the pipeline's task changed,
becomes the champion at once) or ``promote``
(champion now). The registry aliases move and the
deployment record is written (``airflow_mlops.runtime.serving.rollout``); the prediction server follows
both within a poll. Remote targets (Vertex AI, Cloud Run) are driven by the operator on top.

Inputs: ``model_version`` (ModelVersion) and its ``infra_blessing`` (InfraBlessing). Parameters: ``action``, ``weight``, ``window_minutes``, ``reason``. Settings:
``registry``. Output ``deployment`` (``deployment.json``: the decision).
"""

from __future__ import annotations

from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.contract import ComponentError, ErrorKind
from airflow_mlops.contract.components import DEPLOY
from airflow_mlops.contract.params import DeployParams
from airflow_mlops.runtime.components.base import Component, ComponentResult, ExecutionContext, OutputArtifact


def task_change(rollout, version: str) -> str | None:
    """Why ``version`` cannot have a canary beside the champion - the pipeline's task changed, so
    the server (which answers in the new task's shape) cannot serve the old champion - or None."""
    from airflow_mlops.runtime.ml.model_registry import CHAMPION

    champion = rollout.registry.version(rollout.client, CHAMPION)
    if champion is None or str(champion.version) == version:
        return None
    name = rollout.registry.model_name
    theirs, ours = (rollout.client.get_model_version(name, v).tags.get("task", "classification") for v in (champion.version, version))
    if theirs == ours:
        return None
    return (f"the champion (version {champion.version}) is a {theirs} model and version {version} a {ours} one: "
            "no canary between them, promoted at once")


def drift_hold(params: DeployParams, rollout) -> str | None:
    """Why a model of drifted training data is held back from a canary, or None. Drift that
    monitoring saw in production and asked a retraining for is expected; drift nobody saw
    there (a new batch, a schedule) may be a data bug that validation's limits did not catch."""
    from airflow_mlops.runtime.ml.model_registry import CHAMPION

    if not params.drifted_columns or params.on_drift == "canary" or "drift" in params.started_because:
        return None
    if rollout.registry.version(rollout.client, CHAMPION) is None:
        return None
    return (f"training data drifted from the champion's in {', '.join(params.drifted_columns)} and this run "
            f"({params.started_because or 'started by hand'}) was not a retraining monitoring asked for: "
            "held back from a canary (deployment.canary.on_drift: hold); check the validation report, then run "
            "again with the trigger form's canary_despite_drift to send it to a canary")


def not_again(rollout, version: str) -> dict | None:
    """The ``none`` result when ``version`` is already the canary (its window goes on) or, by
    :func:`~airflow_mlops.runtime.serving.rollout.superseded_by`, must not get a canary again;
    else None."""
    from airflow_mlops.runtime.ml.model_registry import CHALLENGER
    from airflow_mlops.runtime.serving.rollout import superseded_by

    record = rollout.record()
    if record.canary and record.canary.version == version:
        return {"action": "none", "version": version, "champion": record.champion, "canary": version,
                "reason": f"version {version} is already the canary (since {record.canary.started_at}); its window goes on"}
    why = superseded_by(record, version)
    if why is None:
        return None
    challenger = rollout.registry.version(rollout.client, CHALLENGER)
    if challenger is not None and str(challenger.version) == version:  # register named it the challenger
        rollout.client.delete_registered_model_alias(rollout.registry.model_name, CHALLENGER)
    return {"action": "none", "version": version, "champion": record.champion,
            "canary": record.canary.version if record.canary else None,
            "reason": f"version {version} {why}: not sent to a canary again (a rollback or a direct promotion serves it again)"}


def hold(rollout, version: str, reason: str, log) -> dict:
    """The version stays registered without a canary; the champion serves alone."""
    from airflow_mlops.runtime.ml.model_registry import CHALLENGER

    name = rollout.registry.model_name
    rollout.client.set_model_version_tag(name, version, "held", reason[:250])
    challenger = rollout.registry.version(rollout.client, CHALLENGER)
    if challenger is not None and str(challenger.version) == version:
        rollout.client.delete_registered_model_alias(name, CHALLENGER)
    record = rollout.record()
    log.warning("hold: version %s - %s", version, reason)
    return {"action": "hold", "version": version, "champion": record.champion,
            "canary": record.canary.version if record.canary else None, "reason": reason}


def run(ctx: ExecutionContext) -> ComponentResult:
    from airflow_mlops.runtime.ml.model_registry import Registry
    from airflow_mlops.runtime.serving.rollout import Rollout, RolloutError

    params: DeployParams = ctx.params
    action = params.action
    by = f"{ctx.spec.run.dag_id}/{ctx.spec.run.run_id}" if ctx.spec.run.dag_id else "deploy"
    rollout = Rollout(Registry.from_spec(ctx.spec), ctx.spec.artifact_root, ctx.spec.pipeline, by)
    try:
        blessing = ctx.spec.inputs["infra_blessing"].properties
        version = str(ctx.spec.inputs["model_version"].properties["version"])
        if not blessing.get("blessed") or str(blessing.get("version")) != version:
            raise ComponentError(ErrorKind.CONFIG, f"deploy: version {version} has not passed infra validation")
        changed = task_change(rollout, version) if action == "canary" else None
        repeat = not_again(rollout, version) if action == "canary" and not changed else None
        held = drift_hold(params, rollout) if action == "canary" and not changed and not repeat else None
        if repeat:
            result = repeat
        elif changed:
            result = rollout.promote(version, changed)
        elif held:
            result = hold(rollout, version, held, ctx.log)
        elif action == "canary":
            result = rollout.start_canary(version, params.weight, params.window_minutes)
        else:
            result = rollout.promote(version, params.reason or "promoted directly")
    except RolloutError as exc:
        raise ComponentError(ErrorKind.CONFIG, f"deploy: {exc}") from None
    ctx.log.info("%s: version %s; champion %s, canary %s. %s", result["action"], result["version"],
                 result["champion"], result["canary"] or "none", result["reason"])
    ArtifactStore().write_json(ctx.output_uri("deployment", "deployment.json"), {**result, "by": by})
    return ComponentResult(
        outputs={"deployment": OutputArtifact(ctx.output_uri("deployment"), result)},
        metrics={"action": result["action"], "champion": result["champion"], "canary": result["canary"]},
    )


COMPONENT = Component.implementing(DEPLOY, run)
