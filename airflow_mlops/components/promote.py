"""promote: the registered candidate becomes the ``champion``; the previous champion keeps the
alias ``previous`` so a rollback is one alias move.

Input: ``model_version`` (ModelVersion). Settings: ``registry``. Output ``promotion``
(``promotion.json``: champion, previous). Always runs; promoting the champion is a no-op.
"""

from __future__ import annotations

from datetime import datetime, timezone

from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.components.base import Component, ComponentResult, ExecutionContext, OutputArtifact


def promote(registry, client, version: str, log, run_label: str) -> dict[str, str | None]:
    """Move ``champion`` to ``version``; return ``{"champion", "previous"}``."""
    from airflow_mlops.ml.registry import CHALLENGER, CHAMPION, PREVIOUS

    name = registry.model_name
    current = registry.version(client, CHAMPION)
    if current is not None and str(current.version) == version:
        log.info("version %s is already the champion; nothing to do", version)
        previous = registry.version(client, PREVIOUS)
        return {"champion": version, "previous": str(previous.version) if previous else None}
    if current is not None:
        client.set_registered_model_alias(name, PREVIOUS, current.version)
    client.set_registered_model_alias(name, CHAMPION, version)
    challenger = registry.version(client, CHALLENGER)
    if challenger is not None and str(challenger.version) == version:
        client.delete_registered_model_alias(name, CHALLENGER)
    client.set_model_version_tag(name, version, "promoted_at", datetime.now(timezone.utc).isoformat(timespec="seconds"))
    client.set_model_version_tag(name, version, "promoted_by", run_label)
    log.info("champion: version %s (previous: %s)", version, current.version if current else "none")
    return {"champion": version, "previous": str(current.version) if current else None}


def run(ctx: ExecutionContext) -> ComponentResult:
    from airflow_mlops.ml.registry import Registry

    registry = Registry.from_spec(ctx.spec)
    client = registry.client()
    version = str(ctx.spec.inputs["model_version"].properties["version"])
    run_label = f"{ctx.spec.run.dag_id}/{ctx.spec.run.run_id}"
    result = promote(registry, client, version, ctx.log, run_label)
    uri = ctx.output_uri("promotion", "promotion.json")
    ArtifactStore().write_json(uri, {**result, "model": registry.model_name, "by": run_label})
    return ComponentResult(
        outputs={"promotion": OutputArtifact(ctx.output_uri("promotion"), result)},
        metrics={"champion": int(result["champion"]), "previous": int(result["previous"]) if result["previous"] else None},
    )


COMPONENT = Component(
    name="promote",
    run=run,
    inputs={"model_version": "ModelVersion"},
    outputs={"promotion": "Promotion"},
    cacheable=False,
)
