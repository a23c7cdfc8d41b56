"""YAML ``runtime:``: launchers, per-step overrides and the combinations that cannot work."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from airflow_mlops.contract.config import PipelineConfigError, load_pipeline_config
from airflow_mlops.contract.config.runtime import RuntimeSettings, runtime_problems, vertex_accelerator_type

BASE = """
pipeline: p
data: {source: x.csv, label: y}
features: {a: numeric}
"""


def _load(tmp_path: Path, runtime: str):
    path = tmp_path / "include" / "p" / "pipeline.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(BASE) + textwrap.dedent(runtime))
    return load_pipeline_config(path)


def test_per_step_overrides_change_only_that_step(tmp_path):
    config = _load(tmp_path, """
        runtime:
          launcher: kubernetes
          image: europe-docker.pkg.dev/p/r/runtime:abc
          kubernetes: {namespace: ml, cpu: "2", memory: 8Gi, accelerator: nvidia-l4}
          vertex: {project: p, region: europe-west4}
          steps:
            train: {launcher: vertex, machine_type: n1-standard-8, accelerator: nvidia-tesla-t4, spot: true}
            validate: {memory: 16Gi}
    """)
    runtime = config.runtime
    train = runtime.for_step("train", gpus=1)
    assert (train.launcher, train.gpus, train.remote) == ("vertex", 1, True)
    assert (train.vertex.machine_type, train.vertex.accelerator, train.vertex.spot) == ("n1-standard-8", "nvidia-tesla-t4", True)
    validate = runtime.for_step("validate")
    assert (validate.launcher, validate.kubernetes.memory, validate.kubernetes.cpu) == ("kubernetes", "16Gi", "2")
    ingest = runtime.for_step("ingest")
    assert (ingest.launcher, ingest.kubernetes.memory, ingest.kubernetes.namespace) == ("kubernetes", "8Gi", "ml")
    assert runtime.launchers_used()["train"] == "vertex" and runtime.launchers_used()["deploy"] == "kubernetes"


def test_invalid_runtime_fields_are_reported_with_their_paths(tmp_path):
    with pytest.raises(PipelineConfigError) as err:
        _load(tmp_path, """
            runtime:
              launcher: gke
              kubernetes: {memory: lots, accelerator: t4, image_pull_policy: Sometimes, tolerations: [{key: a, colour: b}]}
              steps:
                trian: {launcher: vertex}
                train: {launcher: spark, cpu: "1.5 cores"}
        """)
    text = str(err.value)
    for expected in (
        "runtime.launcher: must be one of local, kubernetes, vertex (got 'gke')",
        "runtime.kubernetes.memory: not a Kubernetes quantity like 500m, 2, 4Gi (got 'lots')",
        "runtime.kubernetes.accelerator: a GKE accelerator like nvidia-tesla-t4 or nvidia-l4 (got 't4')",
        "runtime.kubernetes.image_pull_policy: must be one of Always, IfNotPresent, Never",
        "runtime.kubernetes.tolerations.0: unknown fields ['colour'] (allowed: effect, key, operator, tolerationSeconds, value)",
        "runtime.steps.train.launcher: must be one of local, kubernetes, vertex (got 'spark')",
        "runtime.steps.train.cpu: not a Kubernetes quantity",
    ):
        assert expected in text, text


def test_unknown_steps_are_named(tmp_path):
    with pytest.raises(PipelineConfigError) as err:
        _load(tmp_path, "runtime: {steps: {trian: {launcher: vertex}}}\n")
    assert "runtime.steps.trian: not a step (steps: ingest, validate, transform, tune, train," in str(err.value)


def _problems(runtime: dict, *, image="img", root="gs://b/a", tracking="http://mlflow:5000", gpus=0) -> list[str]:
    return runtime_problems(RuntimeSettings.from_dict(runtime), image=image, artifact_root=root, tracking_uri=tracking,
                            registry_steps=("validate", "register"), gpus={"train": gpus})


def test_a_local_pipeline_has_no_remote_requirements():
    assert _problems({}, image=None, root="file:///x", tracking="sqlite:///x.db", gpus=2) == []


def test_remote_steps_need_an_image_a_bucket_and_a_reachable_registry():
    problems = _problems({"steps": {"register": {"launcher": "kubernetes"}}}, image=None, root="file:///home/a/.mlops",
                         tracking="sqlite:////home/a/mlflow.db")
    assert problems == [
        "runtime.image: required when steps run remotely (runtime.steps.register.launcher); or set $MLOPS_RUNTIME_IMAGE / [mlops] runtime_image",
        "artifact_root: file:///home/a/.mlops is on this machine, which pods and Vertex AI jobs cannot read "
        "(runtime.steps.register.launcher); use a gs:// bucket",
        "registry.tracking_uri: sqlite:////home/a/mlflow.db is on this machine, which remote steps cannot reach (register); "
        "use an MLflow server (registry.mlflow_conn_id or an http(s) tracking_uri), or run these steps with launcher local",
    ]
    # a remote step that does not use the registry, and a tracking URI from a connection (None), are fine
    assert _problems({"steps": {"train": {"launcher": "kubernetes"}}}, tracking="sqlite:///x.db") == []
    assert _problems({"launcher": "kubernetes"}, tracking=None) == []


def test_vertex_needs_a_project_and_region():
    assert _problems({"steps": {"train": {"launcher": "vertex"}}}) == [
        "runtime.vertex.project: required when steps run on Vertex AI (runtime.steps.train.launcher)",
        "runtime.vertex.region: required when steps run on Vertex AI (runtime.steps.train.launcher)",
    ]
    assert _problems({"launcher": "vertex", "vertex": {"project": "p", "region": "r"}}) == []


def test_gpus_in_composers_own_namespace_are_refused():
    [problem] = _problems({"launcher": "kubernetes"}, gpus=1)
    assert problem.startswith("runtime.steps.train.launcher: train asks for 1 GPU(s), and Composer runs pods in composer-user-workloads without GPUs")
    assert _problems({"launcher": "kubernetes", "kubernetes": {"namespace": "ml", "conn_id": "gke_gpu"}}, gpus=1) == []
    assert _problems({"launcher": "kubernetes", "steps": {"train": {"launcher": "vertex"}},
                      "vertex": {"project": "p", "region": "r"}}, gpus=1) == []


@pytest.mark.parametrize(("gke", "vertex"), [("nvidia-tesla-t4", "NVIDIA_TESLA_T4"), ("nvidia-l4", "NVIDIA_L4"),
                                             ("nvidia-a100-80gb", "NVIDIA_A100_80GB")])
def test_accelerator_names(gke, vertex):
    assert vertex_accelerator_type(gke) == vertex


def test_remote_steps_cannot_read_files_on_this_machine():
    inputs = {"ingest": [("data.source", "package://palmerpenguins/data/penguins.csv"), ("data.source", "file:///home/a/landing")],
              "validate": [("validation.schema", "gs://b/schema.pbtxt")]}
    problems = runtime_problems(RuntimeSettings.from_dict({"launcher": "kubernetes"}), image="i", artifact_root="gs://b/a",
                                tracking_uri=None, registry_steps=(), gpus={}, step_inputs=inputs)
    assert problems == ["data.source: file:///home/a/landing is on this machine, which ingest on kubernetes cannot read; "
                        "put it in a gs:// bucket"]
    local_ingest = RuntimeSettings.from_dict({"launcher": "kubernetes", "steps": {"ingest": {"launcher": "local"}}})
    assert runtime_problems(local_ingest, image="i", artifact_root="gs://b/a", tracking_uri=None, registry_steps=(),
                            gpus={}, step_inputs=inputs) == []
