"""Where each step of a pipeline's DAGs runs: ``runtime:`` of the YAML with the machine's overrides.

Machine-level settings (environment variables, the ``[mlops]`` Airflow section) win over the
YAML, so the same YAML runs on a laptop and on Composer. Combinations that cannot work (a pod and
an artifact root on the worker's disk, say) fail when the DAG file loads, with their field paths.
"""

from __future__ import annotations

import os
from typing import Any

from airflow_mlops.contract.config import PipelineConfig
from airflow_mlops.contract.config.loader import PipelineConfigError
from airflow_mlops.contract.config.runtime import StepLaunch, runtime_problems

#: the steps whose components read or write the model registry
REGISTRY_STEPS = (
    "validate", "tune", "evaluate", "register", "infra_validate", "deploy", "monitor", "canary_analysis", "rollback",
    "check_batch", "predict_batch",
)


def machine_setting(env: str, option: str, fallback: str) -> str:
    """``$<env>``, else the Airflow option ``[mlops] <option>``, else ``fallback`` (the YAML's)."""
    from airflow_mlops.provider.compat import conf

    return os.environ.get(env) or conf.get("mlops", option, fallback=None) or fallback


def resolve_artifact_root(config: PipelineConfig) -> str:
    return machine_setting("MLOPS_ARTIFACT_ROOT", "artifact_root", config.artifact_root_uri)


def resolve_tracking_uri(config: PipelineConfig) -> str:
    return machine_setting("MLOPS_TRACKING_URI", "tracking_uri", config.registry.tracking_uri or config.default_tracking_uri)


def resolve_runtime_image(config: PipelineConfig) -> str | None:
    return machine_setting("MLOPS_RUNTIME_IMAGE", "runtime_image", config.runtime.image or "") or None


def check_runtime(config: PipelineConfig, more_inputs: dict[str, list[tuple[str, str]]] | None = None) -> None:
    """Raise :class:`PipelineConfigError` (field paths) for launchers that cannot work as configured.

    :param more_inputs: what the steps of one DAG read besides :func:`step_inputs` (the batch
        prediction's source: checked for that DAG only)."""
    problems = runtime_problems(
        config.runtime,
        image=resolve_runtime_image(config),
        artifact_root=resolve_artifact_root(config),
        tracking_uri=None if config.registry.mlflow_conn_id else resolve_tracking_uri(config),
        registry_steps=REGISTRY_STEPS,
        gpus={"train": config.training.gpus, "tune": config.training.gpus},
        step_inputs={**step_inputs(config), **(more_inputs or {})},
    )
    if problems:
        raise PipelineConfigError(config.config_path, problems)


def step_inputs(config: PipelineConfig) -> dict[str, list[tuple[str, str]]]:
    """What steps read from outside the artifact root and the registry, with the YAML field it comes from."""
    sources = [config.source_uris] if isinstance(config.source_uris, str) else list(config.source_uris)
    return {
        "ingest": [("data.source", uri) for uri in sources],
        "validate": [("validation.schema", config.schema_uri)],
        "ingest_batch": [("monitoring.landing", config.landing_uri)],
    }


def launcher_options(config: PipelineConfig, launch: StepLaunch) -> dict[str, Any]:
    """The keyword arguments of the step's launcher (none for ``local``)."""
    runtime = config.runtime
    common = {"image": resolve_runtime_image(config), "gpus": launch.gpus, "poll_seconds": runtime.poll_seconds}
    if launch.launcher == "kubernetes":
        return {**common, **launch.kubernetes.to_dict()}
    if launch.launcher == "vertex":
        return {**common, **launch.vertex.to_dict()}
    return {}


def step(config: PipelineConfig, task_id: str, gpus: int = 0) -> dict[str, Any]:
    """The operator arguments that say where ``task_id`` runs: ``task_id``, ``launcher``,
    ``launcher_options``, ``deferrable``."""
    launch = config.runtime.for_step(task_id, gpus)
    return {
        "task_id": task_id,
        "launcher": launch.launcher,
        "launcher_options": launcher_options(config, launch),
        "deferrable": config.runtime.deferrable and launch.remote,
    }
