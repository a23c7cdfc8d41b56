from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory):
    """A pipeline with its own artifact root, MLflow registry and copy of the curated schema,
    shared by the modules that only read its registry (those that change the registry define
    their own, module-scoped: test_registry_components, test_monitor, test_infra_validate_cleanup)."""
    from pipeline_helpers import new_pipeline

    return new_pipeline(tmp_path_factory)


@pytest.fixture(scope="session")
def first_run(pipeline, penguins_csv):
    """The whole chain once on the penguins data: the registry then has champion version 1."""
    return pipeline.chain(str(penguins_csv))
