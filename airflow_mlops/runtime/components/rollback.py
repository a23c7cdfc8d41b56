"""rollback: ``champion`` goes back to the version before it; a running canary ends.

Parameters: ``reason``. Settings: ``registry``. Output ``deployment`` (``deployment.json``).
The prediction server follows within a poll.
"""

from __future__ import annotations

from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.contract import ComponentError, ErrorKind
from airflow_mlops.contract.components import ROLLBACK
from airflow_mlops.runtime.components.base import Component, ComponentResult, ExecutionContext, OutputArtifact


def run(ctx: ExecutionContext) -> ComponentResult:
    from airflow_mlops.runtime.ml.model_registry import Registry
    from airflow_mlops.runtime.serving.rollout import Rollout, RolloutError

    by = f"{ctx.spec.run.dag_id}/{ctx.spec.run.run_id}" if ctx.spec.run.dag_id else "rollback"
    rollout = Rollout(Registry.from_spec(ctx.spec), ctx.spec.artifact_root, ctx.spec.pipeline, by)
    try:
        result = rollout.rollback(ctx.params.reason)
    except RolloutError as exc:
        raise ComponentError(ErrorKind.CONFIG, f"rollback: {exc}") from None
    ctx.log.info("rolled back: champion is version %s (was %s)", result["champion"], result["previous_champion"])
    ArtifactStore().write_json(ctx.output_uri("deployment", "deployment.json"), {**result, "by": by})
    return ComponentResult(
        outputs={"deployment": OutputArtifact(ctx.output_uri("deployment"), result)},
        metrics={"champion": result["champion"], "rolled_back_from": result["previous_champion"]},
    )


COMPONENT = Component.implementing(ROLLBACK, run)
