"""Pipeline configuration (``include/<pipeline>/pipeline.yaml``): typed sections and their loader."""

from __future__ import annotations

from airflow_mlops.contract.config.loader import PipelineConfigError, load_pipeline_config, parse_pipeline_config
from airflow_mlops.contract.config.locate import INCLUDE_DIR_ENV, include_dirs, pipeline_config_path, pipeline_configs
from airflow_mlops.contract.config.model import FeatureSpec, PipelineConfig, RuntimeSettings

__all__ = [
    "FeatureSpec",
    "INCLUDE_DIR_ENV",
    "PipelineConfig",
    "PipelineConfigError",
    "RuntimeSettings",
    "include_dirs",
    "load_pipeline_config",
    "parse_pipeline_config",
    "pipeline_config_path",
    "pipeline_configs",
]
