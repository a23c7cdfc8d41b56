"""Pipeline configuration (``include/<pipeline>/pipeline.yaml``): typed sections and their loader."""

from __future__ import annotations

from airflow_mlops.contract.config.loader import PipelineConfigError, load_pipeline_config, parse_pipeline_config
from airflow_mlops.contract.config.locate import INCLUDE_DIR_ENV, pipeline_config_path
from airflow_mlops.contract.config.model import FeatureSpec, PipelineConfig, RuntimeSettings

__all__ = [
    "FeatureSpec",
    "INCLUDE_DIR_ENV",
    "PipelineConfig",
    "PipelineConfigError",
    "RuntimeSettings",
    "load_pipeline_config",
    "parse_pipeline_config",
    "pipeline_config_path",
]
