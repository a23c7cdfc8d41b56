from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.contract import SPEC_FILE, ComponentSpec, join_uri

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def penguins_csv() -> Path:
    from importlib import resources

    return Path(str(resources.files("palmerpenguins").joinpath("data/penguins.csv")))


def make_spec(component: str, root: str, params: dict, name: str = "inv", cache: bool = True, **kw) -> ComponentSpec:
    return ComponentSpec(
        component=component,
        pipeline="penguin",
        artifact_root=root,
        invocation_uri=join_uri(root, "penguin", "_invocations", name),
        params=params,
        cache=cache,
        **kw,
    )


def run_cli(spec: ComponentSpec, timeout: float = 300) -> subprocess.CompletedProcess:
    """Write the spec and run ``python -m airflow_mlops.components`` on it, as a launcher would."""
    spec_uri = join_uri(spec.invocation_uri, SPEC_FILE)
    ArtifactStore().write_text(spec_uri, spec.to_json())
    env = {**os.environ, "PYTHONPATH": str(HERE)}
    return subprocess.run(
        [sys.executable, "-m", "airflow_mlops.components", spec.component, "--spec", spec_uri],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """A pipeline with its own artifact root, MLflow registry and copy of the curated schema."""
    import shutil

    from pipeline_helpers import PENGUIN_SCHEMA, Pipeline

    base = tmp_path_factory.mktemp("pipeline")
    shutil.copy(PENGUIN_SCHEMA, base / "schema.pbtxt")
    return Pipeline(
        root=f"file://{base}/artifacts",
        tracking_uri=f"sqlite:///{base}/mlflow.db",
        schema_uri=f"file://{base}/schema.pbtxt",
    )


@pytest.fixture(scope="module")
def first_run(pipeline, penguins_csv):
    """The whole chain once on the penguins data: the registry then has champion version 1."""
    return pipeline.chain(str(penguins_csv))
