"""The Assets that connect a pipeline's DAGs, and why a training run started."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import Asset

RUN_TYPE_REASONS = {"scheduled": "schedule", "manual": "manual", "backfill": "backfill"}


def new_examples_asset(pipeline: str) -> Asset:
    """Updated by ``<pipeline>_data_arrival`` when a new batch of data has been ingested."""
    return Asset(name=f"{pipeline}_new_examples", uri=f"mlops://{pipeline}/new_examples")


def retrain_asset(pipeline: str) -> Asset:
    """Updated by ``<pipeline>_monitoring`` on drift or performance degradation."""
    return Asset(name=f"{pipeline}_retrain", uri=f"mlops://{pipeline}/retrain")


def batch_input_asset(pipeline: str) -> Asset:
    """Starts ``<pipeline>_batch_prediction``; an event's extra ``source`` names the rows to predict."""
    return Asset(name=f"{pipeline}_batch_input", uri=f"mlops://{pipeline}/batch_input")


def batch_predictions_asset(pipeline: str) -> Asset:
    """Updated by ``<pipeline>_batch_prediction`` when a batch has been predicted."""
    return Asset(name=f"{pipeline}_batch_predictions", uri=f"mlops://{pipeline}/batch_predictions")


def batch_source(context: Mapping[str, Any], default: str) -> str:
    """What a batch-prediction run predicts: the trigger form's ``source``, else the ``source`` of
    the newest triggering Asset event that has one, else ``default`` rendered as a template
    (``{{ ds }}``: the run's date; a manual run's, which has none, the day it was triggered)."""
    given = str((context.get("params") or {}).get("source") or "").strip()
    if given:
        return given
    events = context.get("triggering_asset_events") or {}
    for event in sorted((e for items in events.values() for e in items), key=lambda e: e.timestamp, reverse=True):
        named = str((event.extra or {}).get("source") or "").strip()
        if named:
            return named
    if not default:
        from airflow_mlops.provider.compat import AirflowFailException

        raise AirflowFailException("no source to predict: give one in the trigger form (source) or in the input Asset "
                                   "event's extra, or set batch_prediction.source")
    return render_with_ds(context, default)


def render_with_ds(context: Mapping[str, Any], template: str) -> str:
    """``template`` rendered in the task's context; a run without a logical date (manual,
    asset-triggered), which has no ``ds``, gets the day it was due (``run_after``)."""
    if context.get("ds") is None and context.get("dag_run") is not None:
        day = context["dag_run"].run_after
        context = {**context, "ds": day.strftime("%Y-%m-%d"), "ds_nodash": day.strftime("%Y%m%d")}
    return context["task"].render_template(template, context)


def run_reason(pipeline: str, run_type: str, events: Iterable[tuple[str, Mapping[str, Any]]]) -> dict[str, Any]:
    """Why a training run started: ``schedule``, ``manual``, ``backfill``, ``new data``,
    ``drift``, ``degradation`` (or both), from the run type and the triggering asset events
    (``(uri, extra)`` pairs)."""
    events = list(events)
    if run_type != "asset_triggered" or not events:
        return {"reason": RUN_TYPE_REASONS.get(run_type, run_type), "events": []}
    reasons = []
    for uri, extra in events:
        if uri == retrain_asset(pipeline).uri:
            reasons += [r for r in ("drift", "degradation") if extra.get(r)] or ["retrain requested"]
        elif uri == new_examples_asset(pipeline).uri:
            reasons.append("new data")
        else:
            reasons.append(uri)
    return {"reason": " + ".join(dict.fromkeys(reasons)), "events": [{"uri": u, "extra": dict(e)} for u, e in events]}


def covered_by_request(verdict: Mapping[str, Any], last_request_at: datetime | None) -> str | None:
    """Why an alert needs no new retraining request, or ``None`` if it does.

    A request made after the newest prediction the verdict judged already covers that traffic:
    the retraining it started reads the labelled traffic up to its start. Asking again would only
    train the same model twice (an hourly run whose window overlaps a manual run's, say).

    :param verdict: the monitor's verdict (``last_prediction_at``: ISO time or ``None``).
    :param last_request_at: when the retrain Asset was last updated, if ever.
    """
    newest = verdict.get("last_prediction_at")
    if last_request_at is None or not newest:
        return None
    newest_at = datetime.fromisoformat(newest)
    if last_request_at.tzinfo is None:
        last_request_at = last_request_at.replace(tzinfo=UTC)
    if newest_at >= last_request_at:
        return None
    return (f"retraining was already requested at {last_request_at.isoformat(timespec='seconds')}, after the newest "
            f"prediction of this window ({newest}): that retraining covers this traffic")
