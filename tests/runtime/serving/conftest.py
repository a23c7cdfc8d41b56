"""A registry with two trained penguin models (versions 1 and 2) and a real prediction server."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "components"))

from serving_helpers import FEATURES  # noqa: E402

from airflow_mlops.runtime.components.infra_validate import free_port  # noqa: E402


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    """Versions 1 (champion, deployed by the chain) and 2 (registered, alias challenger)."""
    import shutil
    from importlib import resources

    from pipeline_helpers import PENGUIN_SCHEMA, Pipeline

    base = tmp_path_factory.mktemp("serving")
    shutil.copy(PENGUIN_SCHEMA, base / "schema.pbtxt")
    pipeline = Pipeline(root=f"file://{base}/artifacts", tracking_uri=f"sqlite:///{base}/mlflow.db", schema_uri=f"file://{base}/schema.pbtxt")
    csv = str(resources.files("palmerpenguins").joinpath("data/penguins.csv"))
    first = pipeline.chain(csv, epochs=10)
    assert first["deploy"].metrics["champion"] == "1"
    examples = first["ingest"].outputs["examples"]
    other = pipeline.train(examples, first["transform"].outputs["transform"], epochs=12, run_id="r2")
    evaluation = pipeline.evaluate(examples, other.outputs["model"], min_accuracy=0.5, run_id="r2")
    registered = pipeline.register({**first, "train": other, "evaluate": evaluation}, run_id="r2")
    assert registered.metrics["version"] == 2
    return pipeline


def serving_config(pipeline, tmp_path, **overrides):
    from airflow_mlops.runtime.serving.config import ServingConfig

    values = dict(
        pipeline="penguin", model_name="penguin", tracking_uri=pipeline.tracking_uri, artifact_root=pipeline.root,
        features=FEATURES, cache_dir=str(tmp_path / "models"), port=free_port(), poll_seconds=0.3,
        max_rows=100, max_request_bytes=65536, log_flush_seconds=0.2,
    )
    return ServingConfig(**{**values, **overrides})


@pytest.fixture(scope="session")
def server(models, tmp_path_factory):
    from airflow_mlops.runtime.serving.server import ServerProcess

    state = tmp_path_factory.mktemp("server")
    process = ServerProcess.start(serving_config(models, state), state)
    yield process
    process.stop()


@pytest.fixture
def rollout(models):
    from airflow_mlops.runtime.serving.rollout import Rollout

    return Rollout(models.registry(), models.root, "penguin", by="test")
