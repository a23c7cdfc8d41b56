"""The drift policy: drift beyond the hard limit or of a must-not-drift feature stops the run
before training; milder drift goes on, and its model is held back from a canary unless
monitoring asked for the retraining or the config (or the trigger form) says canary."""

from __future__ import annotations

import logging

import pytest

from airflow_mlops.contract import ComponentError, ErrorKind
from airflow_mlops.contract.params import DeployParams, DriftThresholds
from airflow_mlops.runtime.components.deploy import drift_hold, hold
from airflow_mlops.runtime.components.validate import Findings, enforce_verdict
from airflow_mlops.runtime.ml.data_validation import Drift

LOG = logging.getLogger("test")


def findings(*drifts: Drift) -> Findings:
    return Findings(anomalies=[], drifts=list(drifts), baseline="stats", schema_uri="schema.pbtxt")


def test_drift_beyond_the_hard_limit_stops_the_run_whatever_on_drift_says():
    with pytest.raises(ComponentError) as stopped:
        enforce_verdict(findings(Drift("body_mass_g", "jensen_shannon_divergence", 0.93, 0.3),
                                 Drift("sex", "l_infinity", 0.1, 0.3)), DriftThresholds(on_drift="warn"), "report.html", LOG)
    assert stopped.value.kind is ErrorKind.DATA
    assert stopped.value.message.startswith(
        "data drift vs the champion's training data beyond what validation.drift allows: "
        "body_mass_g jensen_shannon_divergence 0.930 > 0.800 (stop_above). Nothing is trained.")
    assert stopped.value.details["drifted_columns"] == ["body_mass_g"]


def test_a_must_not_drift_feature_stops_the_run_at_its_threshold():
    policy = DriftThresholds(must_not_drift=("body_mass_g",))
    with pytest.raises(ComponentError) as stopped:
        enforce_verdict(findings(Drift("body_mass_g", "jensen_shannon_divergence", 0.35, 0.3)), policy, "r", LOG)
    assert "body_mass_g jensen_shannon_divergence 0.350 > 0.300 (must_not_drift)" in stopped.value.message


def test_milder_drift_goes_on_and_is_logged(caplog):
    with caplog.at_level(logging.WARNING):
        enforce_verdict(findings(Drift("bill_length_mm", "jensen_shannon_divergence", 0.5, 0.3)), DriftThresholds(), "r", LOG)
    assert "data drift in bill_length_mm (on_drift: warn, going on)" in caplog.text
    with pytest.raises(ComponentError, match="on_drift: fail"):
        enforce_verdict(findings(Drift("bill_length_mm", "jensen_shannon_divergence", 0.5, 0.3)),
                        DriftThresholds(on_drift="fail"), "r", LOG)


class FakeClient:
    def __init__(self):
        self.calls = []

    def set_model_version_tag(self, *args):
        self.calls.append(("tag", *args))

    def delete_registered_model_alias(self, *args):
        self.calls.append(("delete_alias", *args))


class FakeRegistry:
    model_name = "penguin"

    def __init__(self, aliases: dict[str, str]):
        self.aliases = aliases

    def version(self, client, alias):
        return type("Version", (), {"version": self.aliases[alias]})() if alias in self.aliases else None


class FakeRollout:
    def __init__(self, aliases: dict[str, str]):
        self.registry, self.client = FakeRegistry(aliases), FakeClient()

    def record(self):
        return type("Record", (), {"champion": self.registry.aliases.get("champion"), "canary": None})()


@pytest.mark.parametrize("drifted, because, on_drift, champion, held", [
    (("body_mass_g",), "new data", "hold", True, True),
    (("body_mass_g",), "schedule", "hold", True, True),
    (("body_mass_g",), "drift", "hold", True, False),              # monitoring asked for it
    (("body_mass_g",), "drift + degradation", "hold", True, False),
    (("body_mass_g",), "new data", "canary", True, False),          # the config or the trigger form says canary
    ((), "new data", "hold", True, False),                          # nothing drifted
    (("body_mass_g",), "new data", "hold", False, False),           # no champion: nothing to protect
])
def test_when_a_model_of_drifted_data_is_held_back(drifted, because, on_drift, champion, held):
    params = DeployParams(drifted_columns=drifted, started_because=because, on_drift=on_drift)
    reason = drift_hold(params, FakeRollout({"champion": "1"} if champion else {}))
    assert (reason is not None) is held
    if held:
        assert reason.startswith(f"training data drifted from the champion's in body_mass_g and this run ({because}) "
                                 "was not a retraining monitoring asked for: held back from a canary")


def test_a_held_version_is_tagged_and_is_no_challenger():
    rollout = FakeRollout({"champion": "1", "challenger": "2"})
    result = hold(rollout, "2", "drifted", LOG)
    assert result == {"action": "hold", "version": "2", "champion": "1", "canary": None, "reason": "drifted"}
    assert rollout.client.calls == [("tag", "penguin", "2", "held", "drifted"), ("delete_alias", "penguin", "challenger")]


def test_rendered_template_values_are_read_back():
    """What the DAG renders: validate's list as its repr, the why task's reason."""
    params = DeployParams.from_dict({"drifted_columns": "['body_mass_g', 'sex']", "started_because": "new data",
                                     "on_drift": "hold"}, coerce=True)
    assert params.drifted_columns == ("body_mass_g", "sex")
