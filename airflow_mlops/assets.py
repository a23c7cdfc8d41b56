"""The Assets that connect a pipeline's DAGs, and why a training run started."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from airflow.sdk import Asset

RUN_TYPE_REASONS = {"scheduled": "schedule", "manual": "manual", "backfill": "backfill"}


def new_examples_asset(pipeline: str) -> Asset:
    """Updated by ``<pipeline>_data_arrival`` when a new batch of data has been ingested."""
    return Asset(name=f"{pipeline}_new_examples", uri=f"mlops://{pipeline}/new_examples")


def retrain_asset(pipeline: str) -> Asset:
    """Updated by ``<pipeline>_monitoring`` on drift or performance degradation."""
    return Asset(name=f"{pipeline}_retrain", uri=f"mlops://{pipeline}/retrain")


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
