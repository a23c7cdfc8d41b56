"""Pipeline configuration (``include/<pipeline>/pipeline.yaml``) and its typed loader."""

from __future__ import annotations

from airflow_mlops.config.pipeline import (
    FeatureSpec,
    PipelineConfig,
    PipelineConfigError,
    RuntimeSettings,
    load_pipeline_config,
)

__all__ = ["FeatureSpec", "PipelineConfig", "PipelineConfigError", "RuntimeSettings", "load_pipeline_config"]
