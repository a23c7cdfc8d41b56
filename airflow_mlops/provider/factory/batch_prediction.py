"""The ``<pipeline>_batch_prediction`` DAG: input -> check_batch -> predict_batch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow.sdk import DAG, Param

from airflow_mlops.contract.config import PipelineConfig
from airflow_mlops.contract.params import BatchCheckParams, BatchInputOptions, BatchPredictOptions, BatchPredictParams
from airflow_mlops.provider.assets import batch_input_asset, batch_predictions_asset, batch_source, render_with_ds
from airflow_mlops.provider.factory.launch import check_runtime, step
from airflow_mlops.provider.factory.training import as_config, component_defaults, dag_defaults, options
from airflow_mlops.provider.operators import CheckBatchOperator, PredictBatchOperator


def batch_schedule(config: PipelineConfig) -> Any:
    """The input Asset, **or** ``batch_prediction.schedule`` when there is one."""
    from airflow.timetables.assets import AssetOrTimeSchedule
    from airflow.timetables.trigger import CronTriggerTimetable

    asset = batch_input_asset(config.name)
    schedule = config.batch_prediction.schedule
    if not schedule:
        return [asset]
    return AssetOrTimeSchedule(timetable=CronTriggerTimetable(schedule, timezone="UTC"), assets=[asset])  # type: ignore[list-item]


def batch_prediction_dag(config: PipelineConfig | str | Path) -> DAG:
    """The batch-prediction DAG of ``config`` (a :class:`PipelineConfig` or the path of its YAML)."""
    from airflow.sdk import task  # TaskFlow's machinery: only the DAG files that build this DAG pay its import

    config = as_config(config)
    common = component_defaults(config)
    batch = config.batch_prediction
    remote = config.runtime.for_step("check_batch").remote
    if batch.source is not None:
        check_runtime(config, {"check_batch": [("batch_prediction.source", config.batch_source_uri)]})
    # no default folder on this machine for a step that runs elsewhere: each run names its source
    source = "" if batch.source is None and remote else config.batch_source_uri
    inputs, outputs = batch_input_asset(config.name), batch_predictions_asset(config.name)
    with DAG(
        dag_id=f"{config.name}_batch_prediction",
        description=f"Batch prediction with the {config.name} champion",
        schedule=batch_schedule(config),
        max_active_runs=4,
        tags=["mlops", config.name, "batch prediction"],
        params={
            "source": Param(None, type=["null", "string"], title="Rows to predict",
                            description="A file, directory, glob or gs:// prefix of CSV or Parquet, or bigquery://... "
                            f"(default: {source or 'none: batch_prediction.source is not set'})."),
            "cache": Param(True, type="boolean", title="Use the cache",
                           description="The same files checked against the same champion are not read and predicted again."),
        },
        doc_md=(
            f"### {config.name} batch prediction\n\nThe rows in `{source or '(a source given per run)'}` (or the trigger form's `source`, or the "
            f"`source` in the extra of an event of the Asset `{inputs.uri}`) are checked against the champion's schema and "
            "training statistics; the champion then predicts them in windows of "
            f"{batch.batch_size} rows into `predictions.parquet`"
            + (f", copied to `{batch.destination}`" if batch.destination else "")
            + (", and appends them to the prediction log (monitoring sees them)." if batch.log_predictions else ".")
            + f" Each run updates the Asset `{outputs.uri}`.\n"
        ),
        render_template_as_native_obj=False,
        **dag_defaults(config),
    ) as dag:

        @task(task_id="input", inlets=[inputs])
        def choose_input(**context: Any) -> dict[str, str | None]:
            """What to predict (the trigger form's source, an input Asset event's, or the YAML's) and
            where the predictions go, rendered with ``{{ ds }}`` the run's date (or the day it ran)."""
            return {"source": batch_source(context, source),
                    "destination": render_with_ds(context, batch.destination) if batch.destination else None}

        chosen = choose_input()
        check = CheckBatchOperator(
            **step(config, "check_batch"),
            component_params=BatchCheckParams(
                **{**options(batch, BatchInputOptions), "source": "{{ ti.xcom_pull(task_ids='input')['source'] }}"},
                features=config.feature_types(), label=config.label,
            ),
            beam_pipeline_args=list(config.validation.beam_pipeline_args),
            doc_md="Reads the rows, checks them against the champion's schema and skew against its training data.",
            **common,
        )
        predict = PredictBatchOperator(
            **step(config, "predict_batch"),
            batch=check.artifact("batch"),
            component_params=BatchPredictParams(**{
                **options(batch, BatchPredictOptions),
                **({"destination": "{{ ti.xcom_pull(task_ids='input')['destination'] }}"} if batch.destination else {}),
            }, task=config.task),
            outlets=[outputs],
            doc_md="The champion the batch was checked against predicts it, window by window.",
            **common,
        )
        chosen >> check >> predict
    return dag
