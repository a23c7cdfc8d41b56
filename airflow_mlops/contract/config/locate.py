"""Where a DAG file finds its pipeline's YAML, and which pipeline YAMLs a DAGs folder sees."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

INCLUDE_DIR_ENV = "MLOPS_INCLUDE_DIR"
CONFIG_NAME = "pipeline.yaml"


def include_dirs(dags_dir: str | Path) -> list[Path]:
    """Where pipeline YAMLs are looked for, first match first: ``$MLOPS_INCLUDE_DIR``, else
    ``include/`` next to the DAGs folder (this repo, the Docker image), else ``include/`` inside
    it (Cloud Composer, which mounts only the bucket's ``dags/``).

    :param dags_dir: the directory of the DAG file.
    """
    dags = Path(dags_dir).resolve()
    candidates = [Path(os.environ[INCLUDE_DIR_ENV]).resolve()] if os.environ.get(INCLUDE_DIR_ENV) else []
    return list(dict.fromkeys(candidates + [dags.parent / "include", dags / "include"]))  # each once, in order


def pipeline_config_path(dag_file: str | Path, pipeline: str) -> Path:
    """Where ``<pipeline>/pipeline.yaml`` is for a DAG file: the first of :func:`include_dirs`
    (of the DAG file's directory) that has it."""
    candidates = include_dirs(Path(dag_file).resolve().parent)
    for include in candidates:
        path = include / pipeline / CONFIG_NAME
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"no {pipeline}/{CONFIG_NAME} in " + ", ".join(str(c) for c in candidates) + f" (set ${INCLUDE_DIR_ENV})"
    )


def pipeline_configs(includes: Iterable[Path]) -> dict[str, Path]:
    """Every ``<include>/<name>/pipeline.yaml``, by ``name``: for each name the one
    :func:`pipeline_config_path` picks (the first include directory that has it)."""
    found: dict[str, Path] = {}
    for include in includes:
        try:
            names = sorted(os.listdir(include))
        except OSError:  # missing, not a directory, unreadable
            continue
        for name in names:
            path = include / name / CONFIG_NAME
            if name not in found and path.is_file():
                found[name] = path
    return found
