"""The ``<pipeline>_monitoring`` and ``<pipeline>_data_arrival`` DAGs: what starts a retraining."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, Param

from airflow_mlops.contract.config import PipelineConfig
from airflow_mlops.contract.layout import landing_state_uri
from airflow_mlops.contract.params import IngestParams, MonitorOptions, MonitorParams
from airflow_mlops.provider.alerts import DEFAULT_ALERTS, AlertCallback
from airflow_mlops.provider.assets import covered_by_request, new_examples_asset, retrain_asset
from airflow_mlops.provider.compat import AirflowSkipException, latest_inlet_event
from airflow_mlops.provider.factory.launch import step
from airflow_mlops.provider.factory.training import as_config, component_defaults, dag_defaults, options
from airflow_mlops.provider.operators import IngestDataOperator, MonitorOperator
from airflow_mlops.provider.sensors import NewDataSensor


def monitoring_dag(config: PipelineConfig | str | Path, alert_callbacks: Sequence[AlertCallback] = DEFAULT_ALERTS) -> DAG:
    """Every ``monitoring.schedule``: the monitor step over the last ``window_minutes`` of
    predictions; on drift or degradation the retrain Asset is updated (its event's extra carries
    the verdict) and the alert callbacks are called."""
    from airflow.sdk import task  # TaskFlow's machinery: only the DAG files that build this DAG pay its import

    config = as_config(config)
    monitoring = config.monitoring
    retrain = retrain_asset(config.name)
    with DAG(
        dag_id=f"{config.name}_monitoring",
        description=f"Drift and performance monitoring of {config.name}",
        schedule=monitoring.schedule,
        max_active_runs=1,
        tags=["mlops", config.name, "monitoring"],
        params={
            "window_minutes": Param(monitoring.window_minutes, type="integer", minimum=1, title="Window (minutes)",
                                    description="How far back from the end of the data interval to look."),
        },
        doc_md=(
            f"### {config.name} monitoring\n\nThe predictions of the window vs the champion's training data "
            "(Evidently data drift), and accuracy (a regression: MAE) on predictions whose labels have arrived. Drift or degradation "
            f"updates the Asset `{retrain.uri}` (which starts `{config.name}_training`) and raises an alert.\n"
        ),
        **dag_defaults(config),
    ) as dag:
        monitor = MonitorOperator(
            **step(config, "monitor"),
            # The window ends when the run was due (a scheduled run) or triggered (a manual run,
            # which has no data interval in Airflow 3).
            component_params=MonitorParams(
                **options(monitoring, MonitorOptions), features=config.feature_types(), label=config.label, task=config.task,
                window_start="{{ (dag_run.run_after - macros.timedelta(minutes=params.window_minutes)).isoformat() }}",
                window_end="{{ dag_run.run_after.isoformat() }}",
            ),
            **{**component_defaults(config), "cache": False},
        )

        @task(task_id="request_retraining", inlets=[retrain], outlets=[retrain])
        def request_retraining(result: dict[str, Any], **context: Any) -> dict[str, Any]:
            """Skipped unless the verdict is an alert about traffic no earlier request covers;
            otherwise the Asset event carries the verdict."""
            verdict = result["outputs"]["monitoring"]["properties"]
            if verdict.get("status") != "alert":
                raise AirflowSkipException(f"no retraining: verdict {verdict.get('status')} ({'; '.join(verdict.get('reasons') or []) or 'nothing wrong'})")
            last = latest_inlet_event(context["inlet_events"], retrain)
            covered = covered_by_request(verdict, last.timestamp if last is not None else None)
            if covered:
                raise AirflowSkipException(f"no new retraining request: {covered} (verdict: {'; '.join(verdict['reasons'])})")
            context["outlet_events"][retrain].extra = {
                "drift": bool(verdict.get("drift")), "degradation": bool(verdict.get("degradation")),
                "reasons": list(verdict.get("reasons") or []), "window_end": verdict.get("window_end"),
                "report": verdict.get("report"),
            }
            for callback in alert_callbacks:
                callback(verdict, context)
            return verdict

        request_retraining(monitor.output)  # type: ignore[arg-type]  # an XComArg, resolved at run time
    return dag


def data_arrival_dag(config: PipelineConfig | str | Path) -> DAG:
    """Always waiting (deferred, in the triggerer) for a new batch in ``monitoring.landing``;
    a batch is ingested and announced through the new-examples Asset, which starts training."""
    from airflow.sdk import task  # TaskFlow's machinery: only the DAG files that build this DAG pay its import

    config = as_config(config)
    common = component_defaults(config)
    new_examples = new_examples_asset(config.name)
    with DAG(
        dag_id=f"{config.name}_data_arrival",
        description=f"New data for {config.name}: ingest it and start training",
        schedule="@continuous",
        max_active_runs=1,
        tags=["mlops", config.name, "data"],
        render_template_as_native_obj=True,
        doc_md=(
            f"### {config.name} data arrival\n\n`NewDataSensor` waits (deferred) for objects in "
            f"`{config.landing_uri}` that no run has claimed yet; the batch is ingested (a snapshot and its "
            f"splits) and the Asset `{new_examples.uri}` is updated, which starts `{config.name}_training`.\n"
        ),
        **dag_defaults(config),
    ) as dag:
        wait = NewDataSensor(
            task_id="wait_for_new_data",
            prefix=config.landing_uri,
            state_uri=landing_state_uri(common["artifact_root"], config.name),
            pattern="*.csv" if config.format == "csv" else "*",
            poll_seconds=config.monitoring.poll_seconds,
            deferrable=True,
        )
        ingest = IngestDataOperator(
            **step(config, "ingest_batch"),
            component_params=IngestParams(**config.data.to_dict(), task=config.task),
            source="{{ ti.xcom_pull(task_ids='wait_for_new_data')['objects'] }}",
            include_feedback=False,
            **{**common, "cache": False},
        )

        @task(task_id="announce", outlets=[new_examples])
        def announce(batch: dict[str, Any], ingested: dict[str, Any], **context: Any) -> dict[str, Any]:
            examples = ingested["outputs"]["examples"]
            extra = {"objects": batch["objects"], "rows": examples["properties"]["rows"], "examples_uri": examples["uri"]}
            context["outlet_events"][new_examples].extra = extra
            return extra

        wait >> ingest
        announce(wait.output, ingest.output)  # type: ignore[arg-type]  # XComArgs, resolved at run time
    return dag
