"""Why a training run started, from its run type and the asset events that triggered it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from airflow_mlops.provider.assets import covered_by_request, new_examples_asset, retrain_asset, run_reason

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


NEWEST = "2026-03-01T10:58:53.120+00:00"


@pytest.mark.parametrize(
    ("last_request_at", "newest", "covered"),
    [
        (None, NEWEST, False),  # never requested
        (datetime(2026, 3, 1, 10, 59, 9, tzinfo=UTC), NEWEST, True),  # requested after the newest prediction
        (datetime(2026, 3, 1, 10, 59, 9), NEWEST, True),  # a naive time is UTC
        (datetime(2026, 3, 1, 10, 30, tzinfo=UTC), NEWEST, False),  # traffic arrived after the request
        (datetime(2026, 3, 1, 10, 58, 53, 120000, tzinfo=UTC), NEWEST, False),  # same instant: not covered
        (datetime(2026, 3, 1, 9, 59, tzinfo=timezone(-timedelta(hours=1))), NEWEST, True),  # 10:59 UTC
        (datetime(2026, 3, 1, 10, 59, tzinfo=UTC), None, False),  # nothing judged
    ],
)
def test_an_alert_is_covered_only_by_a_request_after_its_newest_prediction(last_request_at, newest, covered):
    reason = covered_by_request({"last_prediction_at": newest}, last_request_at)
    assert (reason is not None) is covered
    if covered:
        assert "already requested" in reason and NEWEST in reason
