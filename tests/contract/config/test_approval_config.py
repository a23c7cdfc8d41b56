"""``deployment.approval`` and ``deployment.approval_timeout_hours`` in the pipeline YAML."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from airflow_mlops.contract.config import PipelineConfigError, load_pipeline_config

BASE = """
pipeline: p
data: {source: x.csv, label: y}
features: {a: numeric}
"""


def _load(tmp_path: Path, deployment: str = ""):
    path = tmp_path / "include" / "p" / "pipeline.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(BASE + textwrap.dedent(deployment))
    return load_pipeline_config(path)


def test_by_default_a_passing_canary_is_promoted_without_asking(tmp_path):
    deployment = _load(tmp_path).deployment
    assert (deployment.approval, deployment.approval_timeout_hours) == ("none", 168.0)


def test_approval_promote_and_its_timeout_are_read(tmp_path):
    deployment = _load(tmp_path, "deployment: {approval: promote, approval_timeout_hours: 24}\n").deployment
    assert (deployment.approval, deployment.approval_timeout_hours) == ("promote", 24.0)


@pytest.mark.parametrize(("given", "problem"), [
    ("{approval: yes}", "deployment.approval: must be a string (got True)"),  # YAML reads yes as true
    ("{approval: manual}", "deployment.approval: must be one of none, promote (got 'manual')"),
    ("{approval: promote, approval_timeout_hours: 0}", "deployment.approval_timeout_hours: must be greater than 0 (got 0.0)"),
    ("{approval: promote, approval_timeout: 3}", "deployment.approval_timeout: unknown field"),
])
def test_other_values_are_named_by_their_field_path(tmp_path, given, problem):
    with pytest.raises(PipelineConfigError) as err:
        _load(tmp_path, f"deployment: {given}\n")
    assert any(problem in p for p in err.value.problems), err.value.problems
