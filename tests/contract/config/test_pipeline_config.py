"""The typed pipeline-config loader."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from airflow_mlops.contract.config import PipelineConfigError, load_pipeline_config

REPO = Path(__file__).resolve().parents[3]
PENGUIN = REPO / "include" / "penguin" / "pipeline.yaml"


def test_the_shipped_penguin_config_loads():
    config = load_pipeline_config(PENGUIN)
    assert config.name == "penguin"
    assert config.label == "species"
    assert config.source_uris == ["package://palmerpenguins/data/penguins.csv", f"file://{REPO}/.mlops/landing/penguin"]
    assert config.feature_names() == ["island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex"]
    assert {f.name: f.type for f in config.features}["island"] == "categorical"
    assert config.split == {"train": 0.7, "eval": 0.15, "test": 0.15}
    assert config.project_root == REPO
    assert config.artifact_root_uri == f"file://{REPO}/.mlops/artifacts"
    assert config.runtime.launcher == "local" and config.runtime.timeout_minutes == 30
    deployment = config.deployment
    assert (deployment.target, deployment.canary.weight, deployment.canary.window_minutes) == ("local", 0.1, 60)
    assert (deployment.serving.host, deployment.serving.port) == ("127.0.0.1", 3000)


def test_deployment_problems_are_reported(tmp_path):
    path = _write(
        tmp_path,
        """
        pipeline: p
        data: {source: x.csv, label: y}
        features: {a: numeric}
        deployment:
          target: vertex
          vertex: {project: my-project, zone: z}
          canary: {weight: 1.5, windows: 3}
          serving: {port: 0}
        """,
    )
    with pytest.raises(PipelineConfigError) as err:
        load_pipeline_config(path)
    expected = [
        "deployment.vertex.zone: unknown field",
        "deployment.vertex.region: required when deployment.target is vertex",
        "deployment.vertex.endpoint_id: required when deployment.target is vertex",
        "deployment.canary.windows: unknown field",
        "deployment.canary.weight: must be between 0 and 1 (got 1.5)",
        "deployment.serving.port: must be greater than 0 (got 0)",
    ]
    for fragment in expected:
        assert any(fragment in p for p in err.value.problems), (fragment, err.value.problems)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "include" / "p" / "pipeline.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_every_invalid_field_is_reported_at_once(tmp_path):
    path = _write(
        tmp_path,
        """
        pipeline: Penguin-1
        colour: blue
        data:
          format: xlsx
          label: species
          split: {train: 0.8, eval: 0.3, test: oops}
        features:
          island: categorical
          body_mass_g: float
          species: categorical
        runtime:
          timeout_minutes: 0
          retries: many
        """,
    )
    with pytest.raises(PipelineConfigError) as err:
        load_pipeline_config(path)
    problems = err.value.problems
    expected = [
        "colour: unknown field",
        "pipeline: must be lowercase letters",
        "data.source: required",
        "data.format: must be one of auto, csv, parquet (got 'xlsx')",
        "data.split.test: must be a number between 0 and 1 (got 'oops')",
        "features.body_mass_g.type: must be one of categorical, numeric (got 'float')",
        "data.label: 'species' is also listed under features",
        "runtime.timeout_minutes: must be greater than 0",
        "runtime.retries: must be an integer (got 'many')",
    ]
    for fragment in expected:
        assert any(fragment in p for p in problems), (fragment, problems)
    assert str(path) in str(err.value)


def test_split_ratios_must_add_up_to_one(tmp_path):
    path = _write(
        tmp_path,
        """
        pipeline: p
        data: {source: x.csv, label: y, split: {train: 0.8, eval: 0.3, test: 0.1}}
        features: {a: numeric}
        """,
    )
    with pytest.raises(PipelineConfigError, match=r"data.split: ratios must add up to 1 \(they add up to 1.2\)"):
        load_pipeline_config(path)


@pytest.mark.parametrize(
    "text, message",
    [
        ("pipeline: [unclosed", "not valid YAML"),
        ("- a\n- b\n", "must contain a mapping at the top level"),
        ("pipeline: p\ndata: {source: x.csv, label: y}\n", "features: required"),
    ],
)
def test_malformed_files(tmp_path, text, message):
    with pytest.raises(PipelineConfigError, match=message):
        load_pipeline_config(_write(tmp_path, text))


def test_missing_file(tmp_path):
    with pytest.raises(PipelineConfigError, match="cannot read the file"):
        load_pipeline_config(tmp_path / "nope.yaml")


def test_absolute_and_remote_artifact_roots(tmp_path):
    base = "pipeline: p\ndata: {source: x.csv, label: y}\nfeatures: {a: numeric}\n"
    gcs = load_pipeline_config(_write(tmp_path, base + "artifact_root: gs://bucket/mlops\n"))
    assert gcs.artifact_root_uri == "gs://bucket/mlops"
    assert gcs.split == {"train": 0.7, "eval": 0.15, "test": 0.15}


def test_python_data_sources_pass_through_unchanged(tmp_path):
    from airflow_mlops.contract.config.runtime import is_on_this_machine

    function = "python://sklearn.datasets:load_diabetes?as_frame=true&scaled=false"
    alone = load_pipeline_config(_write(tmp_path / "a", f"pipeline: p\ndata: {{source: '{function}', label: target}}\n"
                                                         "features: {age: numeric}\n"))
    assert alone.source_uris == function
    listed = load_pipeline_config(_write(tmp_path / "b", f"pipeline: p\ndata: {{source: ['{function}', landing/], "
                                                          "label: target}\nfeatures: {age: numeric}\n"))
    assert listed.source_uris == [function, f"file://{tmp_path}/b/landing"]
    assert not is_on_this_machine(function)  # like package://: read in the runtime environment, wherever it runs


def test_dag_files_find_their_config_next_to_or_inside_the_dags_folder(tmp_path, monkeypatch):
    from airflow_mlops.contract.config import pipeline_config_path

    monkeypatch.delenv("MLOPS_INCLUDE_DIR", raising=False)
    assert pipeline_config_path(REPO / "dags" / "penguin_training.py", "penguin") == PENGUIN
    # Cloud Composer: only the bucket's dags/ is mounted, include/ is synced into it.
    composer = tmp_path / "gcs" / "dags"
    (composer / "include" / "penguin").mkdir(parents=True)
    (composer / "include" / "penguin" / "pipeline.yaml").write_text(PENGUIN.read_text())
    assert pipeline_config_path(composer / "penguin_training.py", "penguin") == composer / "include" / "penguin" / "pipeline.yaml"
    monkeypatch.setenv("MLOPS_INCLUDE_DIR", str(REPO / "include"))
    assert pipeline_config_path(composer / "penguin_training.py", "penguin") == PENGUIN
    with pytest.raises(FileNotFoundError, match="no other/pipeline.yaml in"):
        pipeline_config_path(composer / "x.py", "other")
