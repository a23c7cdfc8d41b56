"""A copy of a pipeline's project - its DAG files and ``include/<pipeline>/`` - whose YAML points
at a state of its own: `make demo-loop` and `make drill` run on such a copy, so they neither see
nor change what `make demo` (or an earlier loop) left behind. Runs in the Airflow environment."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def copy_project(project: Path, pipeline: str, dags: Iterable[str], edit: Callable[[dict], None]) -> Path:
    """Copy ``dags/<pipeline>_<name>.py`` for each of ``dags`` and ``include/<pipeline>/`` into
    ``project`` (which must not exist), let ``edit`` change the parsed YAML, and load the result
    (a mistake in the copy shows here, not in the DAG processor). Returns the copy's YAML."""
    (project / "dags").mkdir(parents=True)
    for name in dags:
        shutil.copy(REPO / "dags" / f"{pipeline}_{name}.py", project / "dags")
    shutil.copytree(REPO / "include" / pipeline, project / "include" / pipeline)
    config = project / "include" / pipeline / "pipeline.yaml"
    data = yaml.safe_load(config.read_text())
    edit(data)
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    from airflow_mlops.contract.config import load_pipeline_config

    load_pipeline_config(config)
    return config


def own_environment(home: Path, project: Path, **settings: str) -> dict[str, str]:
    """This process's environment without the machine's Airflow and MLOps settings (an
    ``$MLOPS_ARTIFACT_ROOT`` or ``[mlops] artifact_root`` would point the copy at other state),
    with ``home`` as the Airflow home and the copy's DAGs; ``settings`` are added."""
    runtime = os.environ.get("AIRFLOW__MLOPS__RUNTIME_PYTHON", str(REPO / ".venv-runtime" / "bin" / "python"))
    return {**{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "MLOPS_"))},
            "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__DAGS_FOLDER": str(project / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__MLOPS__RUNTIME_PYTHON": runtime,
            "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false", **settings}
