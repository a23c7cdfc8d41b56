"""Shared by the runtime plane's tests: the penguin data, and the helper modules of the test
folders (``components/pipeline_helpers.py``, ``predictions/log_helpers.py``) on ``sys.path``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
for folder in ("components", "predictions"):
    if str(HERE / folder) not in sys.path:
        sys.path.insert(0, str(HERE / folder))


@pytest.fixture(scope="session")
def penguins_csv() -> Path:
    from importlib import resources

    return Path(str(resources.files("palmerpenguins").joinpath("data/penguins.csv")))
