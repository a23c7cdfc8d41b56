"""Continuous training of the Palmer penguins classifier, configured by include/penguin/pipeline.yaml."""

from __future__ import annotations

from pathlib import Path

from airflow_mlops.factory import training_dag

dag = training_dag(Path(__file__).resolve().parents[1] / "include" / "penguin" / "pipeline.yaml")
