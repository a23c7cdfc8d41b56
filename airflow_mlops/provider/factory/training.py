"""The ``<pipeline>_training`` DAG: the continuous-training pipeline of one pipeline config.

ingest -> validate -> transform -> train (pool ``gpu``) -> evaluate -> register -> infra_validate -> deploy
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, Param

from airflow_mlops.contract.config import PipelineConfig, load_pipeline_config
from airflow_mlops.contract.params import (
    CanaryRollout,
    DeployParams,
    EvaluateParams,
    InfraValidateParams,
    InfraValidationOptions,
    IngestParams,
    MetricThreshold,
    RegisterOptions,
    RegisterParams,
    TrainOptions,
    TrainParams,
    TransformParams,
    TuneParams,
    TuningOptions,
    ValidateOptions,
    ValidateParams,
)
from airflow_mlops.contract.typed import Record
from airflow_mlops.provider.assets import new_examples_asset, retrain_asset, run_reason
from airflow_mlops.provider.factory.launch import (
    check_runtime,
    resolve_artifact_root,
    resolve_tracking_uri,
    step,
)
from airflow_mlops.provider.operators import (
    DeployModelOperator,
    EvaluateModelOperator,
    InfraValidateOperator,
    IngestDataOperator,
    RegisterModelOperator,
    TrainModelOperator,
    TransformOperator,
    TuneHyperparametersOperator,
    ValidateDataOperator,
)

GPU_POOL = "gpu"


def training_schedule(config: PipelineConfig) -> Any:
    """The cron schedule **or** new data **or** a retraining request from monitoring."""
    from airflow.timetables.assets import AssetOrTimeSchedule
    from airflow.timetables.trigger import CronTriggerTimetable

    assets = new_examples_asset(config.name) | retrain_asset(config.name)
    if not config.schedule:
        return assets
    # AssetOrTimeSchedule is typed for serialized assets; DAG authors pass SDK assets, as Airflow's docs do.
    return AssetOrTimeSchedule(timetable=CronTriggerTimetable(config.schedule, timezone="UTC"), assets=assets)  # type: ignore[arg-type]


def component_defaults(config: PipelineConfig) -> dict:
    """What every component task of a pipeline's DAGs shares: where artifacts go, the cache
    switch, the launcher's timeout and the registry."""
    check_runtime(config)
    timeout = config.runtime.timeout_minutes * 60
    return dict(
        pipeline=config.name,
        artifact_root=resolve_artifact_root(config),
        cache="{{ params.cache }}",
        project_root=str(config.project_root),
        component_timeout=timeout,
        # Airflow's own limit is a backstop a little past the launcher's, which kills cleanly.
        execution_timeout=timedelta(seconds=timeout + 120),
        registry={"tracking_uri": resolve_tracking_uri(config), "model_name": config.model_name},
        mlflow_conn_id=config.registry.mlflow_conn_id,
    )


def dag_defaults(config: PipelineConfig) -> dict:
    return dict(
        start_date=datetime.combine(config.start_date, datetime.min.time(), tzinfo=UTC),
        catchup=False,
        default_args={
            "owner": config.owner,
            "retries": config.runtime.retries,
            "retry_delay": timedelta(seconds=config.runtime.retry_delay_seconds),
        },
    )


def options(section: Record, record: type[Record]) -> dict:
    """The fields of ``record`` (a step's options) out of a config section made from it."""
    return {name: getattr(section, name) for name in record.field_names()}


def as_config(config: PipelineConfig | str | Path) -> PipelineConfig:
    return config if isinstance(config, PipelineConfig) else load_pipeline_config(config)


def training_dag(config: PipelineConfig | str | Path) -> DAG:
    """The training DAG for ``config`` (a :class:`PipelineConfig` or the path of its YAML)."""
    from airflow.sdk import task  # TaskFlow's machinery: only the DAG files that build this DAG pay its import

    config = as_config(config)
    common = component_defaults(config)
    artifact_root, registry = common["artifact_root"], common["registry"]
    features = config.feature_types()
    beam_args = list(config.validation.beam_pipeline_args)
    training = config.training
    with DAG(
        dag_id=f"{config.name}_training",
        description=config.description or f"Continuous training of {config.name}",
        schedule=training_schedule(config),
        max_active_runs=1,
        tags=["mlops", config.name, "training"],
        **dag_defaults(config),
        params={
            "epochs": Param(training.epochs, type="integer", minimum=1, title="Epochs"),
            "learning_rate": Param(training.learning_rate, type="number", exclusiveMinimum=0, title="Learning rate"),
            "canary_despite_drift": Param(
                False,
                type="boolean",
                title="Canary despite drift",
                description="Send the new model to a canary even though its training data drifted from the champion's.",
            ),
            "cache": Param(
                True,
                type="boolean",
                title="Use the cache",
                description="Reuse the outputs of steps whose inputs, parameters and code are unchanged.",
            ),
            **({"tune": Param(
                True,
                type="boolean",
                title="Tune hyper-parameters",
                description="Search hyper-parameters before training (a cache hit when nothing changed); off: train "
                "with the last tuning result found, whatever data it was found on.",
            )} if training.tuning.enabled else {}),
        },
        doc_md=_doc(config, artifact_root, registry["tracking_uri"]),
    ) as dag:

        @task(task_id="why")
        def why(**context: Any) -> dict:
            """Why this run started (schedule, new data, drift, degradation, manual, backfill)."""
            events = context.get("triggering_asset_events") or {}
            pairs = [(event.asset.uri, event.extra or {}) for _, items in events.items() for event in items]
            run_type = context["dag_run"].run_type
            reason = run_reason(config.name, str(getattr(run_type, "value", run_type)), pairs)
            logging.getLogger("airflow.task").info("this run started because of: %s", reason["reason"])
            return reason

        ingest = IngestDataOperator(
            **step(config, "ingest"),
            component_params=IngestParams(**{**config.data.to_dict(), "source": config.source_uris}, task=config.task),
            doc_md="Reads the source data, writes a Parquet snapshot split into train/eval/test.",
            **common,
        )
        why() >> ingest
        validate = ValidateDataOperator(
            **step(config, "validate"),
            examples=ingest.artifact("examples"),
            component_params=ValidateParams(
                **options(config.validation, ValidateOptions), features=features, label=config.label, schema_uri=config.schema_uri
            ),
            beam_pipeline_args=beam_args,
            doc_md="TFDV statistics on Beam; anomalies against the curated schema fail the run; "
            "drift against the champion's training data warns or fails.",
            **common,
        )
        transform = TransformOperator(
            **step(config, "transform"),
            examples=ingest.artifact("examples"),
            schema=validate.artifact("schema"),
            component_params=TransformParams(
                features=features, label=config.label, task=config.task, positive_class=config.settings.positive_class
            ),
            beam_pipeline_args=beam_args,
            doc_md="Vocabularies and mean/variance over the training split (full pass on Beam).",
            **common,
        )
        tune = None
        if training.tuning.enabled:
            tune = TuneHyperparametersOperator(
                **step(config, "tune", gpus=training.gpus),
                examples=ingest.artifact("examples"),
                transform=transform.artifact("transform"),
                component_params=TuneParams(
                    **options(training, TrainOptions), **options(training.tuning, TuningOptions), label=config.label,
                    task=config.task, module_source=config.training_module_source(),
                ),
                search="{{ params.tune }}",
                pool=GPU_POOL,
                pool_slots=max(1, training.gpus),
                doc_md="Hyper-parameter search (Keras Tuner) over `training.tuning.search_space`; train uses the best "
                "values. Every trial is a child run in MLflow. Runs in the `gpu` pool.",
                **common,
            )
        train = TrainModelOperator(
            **step(config, "train", gpus=training.gpus),
            examples=ingest.artifact("examples"),
            transform=transform.artifact("transform"),
            tuned_hyperparameters=tune.artifact("hyperparameters") if tune is not None else None,
            component_params=TrainParams(
                **options(training, TrainOptions), label=config.label, task=config.task,
                module_source=config.training_module_source(),
            ),
            # the trigger form's values
            learning_rate="{{ params.learning_rate }}",
            epochs="{{ params.epochs }}",
            pool=GPU_POOL,
            pool_slots=max(1, training.gpus),
            doc_md="Keras training with the transform as the model's first layers; resumes from its "
            "last epoch checkpoint on retry. Runs in the `gpu` pool.",
            **common,
        )
        evaluate = EvaluateModelOperator(
            **step(config, "evaluate"),
            examples=ingest.artifact("examples"),
            model=train.artifact("model"),
            component_params=EvaluateParams(
                slices=config.evaluation.slices, label=config.label, task=config.task,
                thresholds={name: MetricThreshold.from_dict(bounds) for name, bounds in config.evaluation_thresholds.items()},
                backtest={name: MetricThreshold.from_dict(bounds) for name, bounds in config.evaluation_backtest.items()},
            ),
            doc_md="Test-split metrics, per-slice metrics, thresholds and the comparison with the champion: the blessing.",
            **common,
        )
        register = RegisterModelOperator(
            **step(config, "register"),
            model=train.artifact("model"),
            component_params=RegisterParams(**options(config.registry, RegisterOptions)),
            blessing=evaluate.artifact("blessing"),
            lineage={
                "evaluation": evaluate.artifact("evaluation"),
                "examples": ingest.artifact("examples"),
                "statistics": validate.artifact("statistics"),
                "schema": validate.artifact("schema"),
                "transform": transform.artifact("transform"),
                **({"tuned_hyperparameters": tune.artifact("hyperparameters")} if tune is not None else {}),
            },
            doc_md="A blessed model becomes a registry version with lineage tags and alias `challenger`; "
            "not blessed: skipped, with the reasons.",
            **common,
        )
        deployment = config.deployment
        infra = InfraValidateOperator(
            **step(config, "infra_validate"),
            model_version=register.artifact("model_version"),
            examples=ingest.artifact("examples"),
            component_params=InfraValidateParams(
                **options(deployment.infra_validation, InfraValidationOptions), features=features, task=config.task
            ),
            doc_md="The candidate answers test rows in a real prediction server (schema, latency) before any rollout.",
            **common,
        )
        DeployModelOperator(
            **step(config, "deploy"),
            model_version=register.artifact("model_version"),
            infra_blessing=infra.artifact("infra_blessing"),
            component_params=DeployParams(action="canary", **options(deployment.canary, CanaryRollout)),
            # rendered at run time: the trigger form, validate's drift and why the run started
            on_drift=f"{{{{ 'canary' if params.canary_despite_drift else '{deployment.canary.on_drift}' }}}}",
            drifted_columns="{{ ti.xcom_pull(task_ids='validate')['outputs']['anomalies']['properties']['drifted_columns'] }}",
            started_because="{{ ti.xcom_pull(task_ids='why')['reason'] }}",
            target=deployment.target,
            target_settings=deployment.target_settings,
            doc_md=f"Canary: the challenger answers {deployment.canary.weight:.0%} of requests; "
            f"`{config.name}_promotion` decides after {deployment.canary.window_minutes} min. The first model "
            "becomes champion at once.",
            **common,
        )
    return dag


def _doc(config: PipelineConfig, artifact_root: str, tracking_uri: str) -> str:
    features = ", ".join(f"`{f.name}` ({f.type})" for f in config.features)
    return (
        f"### {config.name} training\n\n"
        "ingest → validate → transform → train → evaluate → register → infra_validate → deploy (canary)\n\n"
        f"Config: `{config.config_path}`  \n"
        f"Source: `{config.source_uris}`  \n"
        f"Label: `{config.label}`; features: {features}  \n"
        f"Artifacts: `{artifact_root}/{config.name}/`  \n"
        f"Registry: `{tracking_uri}`, model `{config.model_name}`\n"
    )
