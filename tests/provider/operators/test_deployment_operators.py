"""The rollout operators: remote targets get the registry's decision; canary analysis skips when
there is nothing to decide."""

from __future__ import annotations

import pytest

from airflow_mlops.contract import ArtifactRef
from airflow_mlops.provider.compat import AirflowSkipException
from airflow_mlops.provider.operators import (
    CanaryAnalysisOperator,
    ComponentOperator,
    ComponentOutput,
    DeployModelOperator,
)

VERSION = ArtifactRef("model_version", "ModelVersion", "models:/penguin/2", "register", "f2", "file:///a/execution.json",
                      {"name": "penguin", "version": "2", "model_uri": "gs://bucket/penguin/train/f1/attempt-1/model"})


def deploy_operator(target: str, settings: dict) -> DeployModelOperator:
    return DeployModelOperator(
        task_id="deploy", pipeline="penguin", artifact_root="file:///tmp/x", target=target, target_settings=settings,
        model_version=ComponentOutput("register", "model_version"), infra_blessing=ComponentOutput("infra", "infra_blessing"),
        weight=0.25,
    )


@pytest.fixture
def decided(monkeypatch):
    """The local part (the deploy component) decided a canary of version 2 over champion 1."""
    decision = {"action": "canary", "version": "2", "champion": "1", "canary": "2", "reason": "", "previous_champion": "1"}
    monkeypatch.setattr(ComponentOperator, "execute", lambda self, context: {"outputs": {"deployment": {"properties": decision}}})
    monkeypatch.setattr(DeployModelOperator, "_resolve_inputs", lambda self, context: {"model_version": VERSION})
    return decision


def test_vertex_gets_the_canary_with_the_saved_model(decided, monkeypatch):
    calls = []
    monkeypatch.setattr("airflow_mlops.provider.deploy.vertex.vertex_rollout", lambda *a, **kw: calls.append((a, kw)) or {"ok": 1})
    settings = {"project": "p", "region": "europe-west1", "endpoint_id": "42", "serving_container_image_uri": "img"}
    result = deploy_operator("vertex", settings).execute({})
    (args, kwargs), = calls
    assert args == ("canary", settings, "penguin", "2", "gs://bucket/penguin/train/f1/attempt-1/model/saved_model")
    assert kwargs["weight"] == 0.25 and kwargs["gcp_conn_id"] == "google_cloud_default"
    assert result["target"] == {"ok": 1}


def test_cloud_run_gets_the_canary_next_to_the_champion(decided, monkeypatch):
    calls = []
    monkeypatch.setattr("airflow_mlops.provider.deploy.cloud_run.cloud_run_rollout", lambda *a, **kw: calls.append((a, kw)) or {})
    settings = {"project": "p", "region": "r", "service": "penguin", "image": "img"}
    deploy_operator("cloud_run", settings).execute({})
    (args, kwargs), = calls
    assert args == ("canary", settings, "penguin", "2")
    assert kwargs["weight"] == 0.25 and kwargs["current_version"] == "1"


def test_nothing_to_change_is_not_sent(decided, monkeypatch):
    decided.update(action="none")
    monkeypatch.setattr("airflow_mlops.provider.deploy.vertex.vertex_rollout", lambda *a, **kw: pytest.fail("called"))
    assert deploy_operator("vertex", {}).execute({})["target"] == {"action": "none"}


def test_an_unknown_target_is_refused():
    with pytest.raises(ValueError, match="target must be one of local, vertex, cloud_run"):
        deploy_operator("k8s", {})


@pytest.mark.parametrize(("decision", "skipped"), [("wait", True), ("none", True), ("promote", False), ("reject", False)])
def test_canary_analysis_skips_without_a_decision(monkeypatch, decision, skipped):
    report = {"decision": decision, "reason": "because"}
    seen = {}

    def execute(self, context):
        seen["force"] = self.component_params["force"]
        return {"outputs": {"canary_report": {"properties": report}}}

    monkeypatch.setattr(ComponentOperator, "execute", execute)
    op = CanaryAnalysisOperator(task_id="c", pipeline="penguin", artifact_root="file:///tmp/x", thresholds={}, force="True")
    if skipped:
        with pytest.raises(AirflowSkipException, match="no decision: because"):
            op.execute({})
    else:
        assert op.execute({})["outputs"]["canary_report"]["properties"]["decision"] == decision
    assert seen["force"] is True
