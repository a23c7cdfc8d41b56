"""Where a DAG file finds its pipeline's YAML."""

from __future__ import annotations

import os
from pathlib import Path

INCLUDE_DIR_ENV = "MLOPS_INCLUDE_DIR"


def pipeline_config_path(dag_file: str | Path, pipeline: str) -> Path:
    """Where ``<pipeline>/pipeline.yaml`` is for a DAG file: ``$MLOPS_INCLUDE_DIR``, else
    ``include/`` next to the DAGs folder (this repo, the Docker image), else ``include/`` inside
    it (Cloud Composer, which mounts only the bucket's ``dags/``)."""
    dags = Path(dag_file).resolve().parent
    candidates = [Path(os.environ[INCLUDE_DIR_ENV])] if os.environ.get(INCLUDE_DIR_ENV) else []
    candidates += [dags.parent / "include", dags / "include"]
    for include in candidates:
        path = include / pipeline / "pipeline.yaml"
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"no {pipeline}/pipeline.yaml in " + ", ".join(str(c) for c in candidates) + f" (set ${INCLUDE_DIR_ENV})"
    )
