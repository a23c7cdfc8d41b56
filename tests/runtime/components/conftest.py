from __future__ import annotations

import pytest


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
