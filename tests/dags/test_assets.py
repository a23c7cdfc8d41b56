"""Why a training run started, from its run type and the asset events that triggered it."""

from __future__ import annotations

import pytest

from airflow_mlops.assets import new_examples_asset, retrain_asset, run_reason

RETRAIN = retrain_asset("penguin").uri
NEW = new_examples_asset("penguin").uri


@pytest.mark.parametrize(
    ("run_type", "events", "reason"),
    [
        ("scheduled", [], "schedule"),
        ("manual", [], "manual"),
        ("backfill", [], "backfill"),
        ("asset_triggered", [(NEW, {"rows": 10})], "new data"),
        ("asset_triggered", [(RETRAIN, {"drift": True, "degradation": False})], "drift"),
        ("asset_triggered", [(RETRAIN, {"drift": False, "degradation": True})], "degradation"),
        ("asset_triggered", [(RETRAIN, {"drift": True, "degradation": True}), (NEW, {})], "drift + degradation + new data"),
        ("asset_triggered", [(RETRAIN, {"drift": True}), (RETRAIN, {"drift": True})], "drift"),
    ],
)
def test_run_reason(run_type, events, reason):
    result = run_reason("penguin", run_type, events)
    assert result["reason"] == reason
    assert [e["uri"] for e in result["events"]] == [uri for uri, _ in events]


def test_asset_uris_are_per_pipeline():
    assert (RETRAIN, NEW) == ("mlops://penguin/retrain", "mlops://penguin/new_examples")
    assert retrain_asset("other").uri == "mlops://other/retrain"
