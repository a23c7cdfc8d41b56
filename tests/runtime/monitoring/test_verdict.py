"""The verdict's rules, and the names of its copies."""

from __future__ import annotations

import pytest
from pipeline_helpers import FEATURES

from airflow_mlops.runtime.monitoring.verdict import safe_name, verdict
from airflow_mlops.runtime.predictions.partitions import utc_iso


def test_times_are_put_in_the_logs_format():
    assert utc_iso("2026-03-01T10:00:00Z") == "2026-03-01T10:00:00.000+00:00"
    assert utc_iso("2026-03-01T12:00:00+02:00") == "2026-03-01T10:00:00.000+00:00"
    assert utc_iso("2026-03-01T10:00:00") == "2026-03-01T10:00:00.000+00:00"
    assert safe_name("2026-03-01T10:00:00+00:00") == "2026-03-01T10-00-00Z"
    assert safe_name("2026-03-01T10:00:00.250Z") == "2026-03-01T10-00-00.250Z"


def figures(rows=100, drifted=(), labelled=0, accuracy=None) -> dict:
    names = list(FEATURES)
    return {"rows": rows, "features": {n: {"detected": n in drifted, "note": ""} for n in names},
            "drifted_features": list(drifted), "drift_share": len(drifted) / len(names), "labelled": labelled, "accuracy": accuracy}


@pytest.mark.parametrize(
    "kwargs, overrides, status, drift, degradation",
    [
        ({}, {}, "ok", False, False),
        ({}, {"rows": 29}, "no_traffic", False, False),
        ({}, {"rows": 0, "drifted": ("sex", "island", "body_mass_g")}, "no_traffic", False, False),
        ({}, {"drifted": ("sex", "island")}, "ok", False, False),  # 2/6 < 0.5
        ({}, {"drifted": ("sex", "island", "bill_depth_mm")}, "alert", True, False),  # 3/6 >= 0.5
        ({"must_not_drift": ["sex"]}, {"drifted": ("sex",)}, "alert", True, False),
        ({"must_not_drift": ["sex"]}, {"drifted": ("island",)}, "ok", False, False),
        ({"drift_share": 0.0}, {}, "ok", False, False),  # a share of 0 still needs a drifted feature
        ({}, {"labelled": 20, "accuracy": 0.84}, "alert", False, True),
        ({}, {"labelled": 20, "accuracy": 0.85}, "ok", False, False),
        ({}, {"labelled": 19, "accuracy": 0.1}, "ok", False, False),
        ({}, {"labelled": 50, "accuracy": 0.5, "drifted": ("sex", "island", "body_mass_g")}, "alert", True, True),
    ],
)
def test_verdict_rules(kwargs, overrides, status, drift, degradation):
    settings = {"drift_share": 0.5, "must_not_drift": [], "min_rows": 30, "min_accuracy": 0.85, "min_labels": 20, **kwargs}
    result = verdict(figures(**overrides), **settings)
    assert (result["status"], result["drift"], result["degradation"]) == (status, drift, degradation), result["reasons"]
    assert result["reasons"] and set(result) >= {"rows", "drift_share", "drifted_features", "accuracy", "labelled", "at"}
