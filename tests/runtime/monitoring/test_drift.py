"""Drift tests: sampling and features without values."""

from __future__ import annotations

import pandas as pd
from pipeline_helpers import FEATURES

from airflow_mlops.runtime.monitoring.drift import drift_report


def test_large_windows_are_sampled_down_to_the_reference_for_the_drift_tests(penguins_csv):
    """Evidently's chi-square test treats the reference's proportions as exact: a window 20
    times the reference drawn from the same population would be 'drifted' most of the time."""
    data = pd.read_csv(penguins_csv)
    reference = data.sample(240, random_state=1)
    window = data.sample(5000, replace=True, random_state=2).assign(request_id="x", prediction="Adelie", model_version="1", timestamp="t")
    _, found = drift_report(reference, window, FEATURES)
    assert found["tested_rows"] == 240 and found["reference_rows"] == 240
    assert found["drifted_features"] == [], found["features"]
    _, capped = drift_report(reference, window, FEATURES, max_rows=100)
    assert capped["tested_rows"] == 100 and capped["reference_rows"] == 240


def test_a_feature_missing_from_every_prediction_counts_as_drifted(penguins_csv):
    data = pd.read_csv(penguins_csv)
    window = data.sample(100, random_state=3).assign(sex=None, request_id="x", prediction="Adelie", model_version="1", timestamp="t")
    _, found = drift_report(data, window, FEATURES)
    assert found["features"]["sex"]["detected"] is True and found["features"]["sex"]["note"] == "no values in the window"
    assert "sex" in found["drifted_features"]
