"""Pipeline configuration (``include/<pipeline>/pipeline.yaml``) and its typed loader."""

from __future__ import annotations

from airflow_mlops.contract.config.locate import INCLUDE_DIR_ENV, pipeline_config_path
from airflow_mlops.contract.config.pipeline import (
    FeatureSpec,
    PipelineConfig,
    PipelineConfigError,
    RuntimeSettings,
    load_pipeline_config,
)

__all__ = [
    "FeatureSpec",
    "INCLUDE_DIR_ENV",
    "PipelineConfig",
    "PipelineConfigError",
    "RuntimeSettings",
    "load_pipeline_config",
    "pipeline_config_path",
]
