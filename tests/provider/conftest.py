"""Fixtures of the NewDataSensor / NewDataTrigger tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    path = tmp_path / "landing"
    path.mkdir()
    return path


@pytest.fixture
def state_uri(tmp_path: Path) -> str:
    return f"file://{tmp_path}/state/landing.json"
