"""The README's pipeline-YAML reference is the one generated from the typed sections."""

from __future__ import annotations

from pathlib import Path

from airflow_mlops.contract.config.model import TrainingSettings, ValidationSettings
from airflow_mlops.contract.config.reference import reference_markdown, rows

README = Path(__file__).resolve().parents[3] / "README.md"


def test_the_readme_shows_the_current_reference():
    assert reference_markdown() in README.read_text(), (
        "README.md's pipeline YAML reference is out of date: paste the output of "
        "`python -m airflow_mlops.contract.config.reference`"
    )


def test_nested_sections_are_flattened_with_their_path_and_defaults():
    found = {key: (kind, default) for key, kind, default, _ in rows(TrainingSettings, "training")}
    assert found["training.epochs"] == ("an integer", "`30`")
    assert found["training.hidden_units"] == ("a list of integers", "`[16, 8]`")
    drift = {key for key, *_ in rows(ValidationSettings, "validation")}
    assert "validation.drift.on_drift" in drift
