"""The ``<pipeline>_training`` DAG: the continuous-training pipeline of one pipeline config."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

from airflow.sdk import DAG, Param

from airflow_mlops.config import PipelineConfig, load_pipeline_config
from airflow_mlops.operators import IngestDataOperator

ARTIFACT_ROOT_ENV = "MLOPS_ARTIFACT_ROOT"


def resolve_artifact_root(config: PipelineConfig) -> str:
    """``$MLOPS_ARTIFACT_ROOT``, else ``[mlops] artifact_root``, else the pipeline YAML's value.

    Machine-level settings win so the same YAML runs on a laptop and on Composer.
    """
    from airflow.sdk import conf

    return os.environ.get(ARTIFACT_ROOT_ENV) or conf.get("mlops", "artifact_root", fallback=None) or config.artifact_root_uri


def training_dag(config: PipelineConfig | str | Path) -> DAG:
    """The training DAG for ``config`` (a :class:`PipelineConfig` or the path of its YAML)."""
    if not isinstance(config, PipelineConfig):
        config = load_pipeline_config(config)
    artifact_root = resolve_artifact_root(config)
    timeout = config.runtime.timeout_minutes * 60
    common = dict(
        pipeline=config.name,
        artifact_root=artifact_root,
        cache="{{ params.cache }}",
        project_root=str(config.project_root),
        component_timeout=timeout,
        # Airflow's own limit is a backstop a little past the launcher's, which kills cleanly.
        execution_timeout=timedelta(seconds=timeout + 120),
    )
    with DAG(
        dag_id=f"{config.name}_training",
        description=config.description or f"Continuous training of {config.name}",
        schedule=config.schedule,
        start_date=datetime.combine(config.start_date, datetime.min.time(), tzinfo=timezone.utc),
        catchup=False,
        max_active_runs=1,
        tags=["mlops", config.name, "training"],
        default_args={
            "owner": config.owner,
            "retries": config.runtime.retries,
            "retry_delay": timedelta(seconds=config.runtime.retry_delay_seconds),
        },
        params={
            "cache": Param(
                True,
                type="boolean",
                title="Use the cache",
                description="Reuse the outputs of steps whose inputs, parameters and code are unchanged.",
            ),
        },
        doc_md=_doc(config, artifact_root),
    ) as dag:
        IngestDataOperator(
            task_id="ingest",
            source=config.source,
            label=config.label,
            split=config.split,
            data_format=config.format,
            doc_md="Reads the source data, writes a Parquet snapshot split into train/eval/test.",
            **common,
        )
    return dag


def _doc(config: PipelineConfig, artifact_root: str) -> str:
    features = ", ".join(f"`{f.name}` ({f.type})" for f in config.features)
    return (
        f"### {config.name} training\n\n"
        f"Config: `{config.config_path}`  \n"
        f"Source: `{config.source}`  \n"
        f"Label: `{config.label}`; features: {features}  \n"
        f"Artifacts: `{artifact_root}/{config.name}/`\n"
    )
