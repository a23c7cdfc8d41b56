"""Where the MLOps view reads each pipeline from: the artifact root its DAGs write to.

The pipelines are found as the DAG files find them (:func:`~airflow_mlops.contract.config.include_dirs`
of the DAGs folder, ``$MLOPS_INCLUDE_DIR`` first), and each is read from the root the DAG factory
gives it (:func:`~airflow_mlops.provider.factory.launch.resolve_artifact_root`: ``$MLOPS_ARTIFACT_ROOT``,
else ``[mlops] artifact_root``, else the YAML's ``artifact_root``). Pipelines with no YAML, and those
whose YAML does not load, are read from the machine root, as before per-pipeline roots; the latter
are listed with their config error, so that a broken YAML shows in the view instead of hiding the
pipeline (the DAG processor reports the same error as an import error of the DAG files).

Only the DAGs folder's own include directories are seen: a DAG file in a subdirectory of the DAGs
folder that finds its YAML relative to itself needs ``$MLOPS_INCLUDE_DIR`` for the view to see it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_mlops.artifacts.store import to_uri
from airflow_mlops.contract.config import PipelineConfig, PipelineConfigError, load_pipeline_config, pipeline_configs
from airflow_mlops.provider.plugin.data import valid_pipeline_name

log = logging.getLogger(__name__)

#: how long the YAMLs found are trusted before the include directories are listed again (a YAML
#: whose modification time and size did not change is not parsed again)
CONFIG_TTL_SECONDS = 30.0
#: ``root_source`` of a pipeline read from its YAML's ``artifact_root``
FROM_YAML = "pipeline.yaml"
#: ``root_source`` of a pipeline read from the machine root while no machine setting is made
MACHINE_ROOT = "machine root"


@dataclass(frozen=True)
class FoundConfig:
    """A pipeline YAML found in an include directory: loaded, or why it did not load."""

    path: Path
    config: PipelineConfig | None
    error: str | None

    @property
    def pipeline(self) -> str:
        """The name its DAGs carry (``pipeline:``), else its directory's."""
        return self.config.name if self.config is not None else self.path.parent.name


@dataclass(frozen=True)
class PipelineSource:
    """Where the view reads one pipeline from, and why.

    :param root: the artifact root URI (the pipeline's files are under ``<root>/<pipeline>/``).
    :param root_source: what chose it: ``pipeline.yaml``, ``$MLOPS_ARTIFACT_ROOT``,
        ``[mlops] artifact_root`` or ``machine root``.
    :param config: the pipeline YAML's path, None when none was found.
    :param config_error: why that YAML did not load.
    """

    pipeline: str
    root: str
    root_source: str
    config: str | None = None
    config_error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"artifact_root": self.root, "root_source": self.root_source, "config": self.config,
                "config_error": self.config_error}


class PipelineConfigs:
    """The pipeline YAMLs of some include directories, listed at most once per ``ttl`` seconds and
    each parsed again only when its modification time or size changed.

    :param include_dirs: the include directories, or a function giving them (called on each refresh).
    """

    def __init__(self, include_dirs: Iterable[Path] | Callable[[], Iterable[Path]], ttl: float = CONFIG_TTL_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if callable(include_dirs):
            self._include_dirs = include_dirs
        else:
            fixed = list(include_dirs)
            self._include_dirs = lambda: fixed
        self.ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._listed_at: float | None = None
        self._found: list[FoundConfig] = []
        self._loaded: dict[Path, tuple[tuple[int, int], FoundConfig]] = {}
        self.dirs: list[Path] = []

    def found(self) -> list[FoundConfig]:
        """The YAMLs, in :func:`~airflow_mlops.contract.config.pipeline_configs`' order."""
        with self._lock:
            now = self._clock()
            if self._listed_at is None or now - self._listed_at >= self.ttl:
                self.dirs = list(self._include_dirs())
                self._found = [self._load(path) for path in pipeline_configs(self.dirs).values()]
                self._listed_at = now
            return self._found

    def _load(self, path: Path) -> FoundConfig:
        try:
            stat = os.stat(path)
        except OSError as e:
            return FoundConfig(path, None, f"cannot read {path}: {e.strerror or e}")
        key = (stat.st_mtime_ns, stat.st_size)
        cached = self._loaded.get(path)
        if cached is not None and cached[0] == key:
            return cached[1]
        try:
            found = FoundConfig(path, load_pipeline_config(path), None)
        except PipelineConfigError as e:
            log.warning("MLOps view: %s", e)
            found = FoundConfig(path, None, str(e))
        self._loaded[path] = (key, found)
        return found


def machine_setting() -> tuple[str, str] | None:
    """The machine's artifact root setting, which wins over every YAML as in the DAG factory:
    ``(name, root URI)``, or None when neither ``$MLOPS_ARTIFACT_ROOT`` nor ``[mlops] artifact_root`` is set."""
    from airflow_mlops.provider.compat import conf

    if os.environ.get("MLOPS_ARTIFACT_ROOT"):
        return "$MLOPS_ARTIFACT_ROOT", to_uri(os.environ["MLOPS_ARTIFACT_ROOT"]).rstrip("/")
    configured = conf.get("mlops", "artifact_root", fallback=None)
    if configured:
        return "[mlops] artifact_root", to_uri(configured).rstrip("/")
    return None


def yaml_sources(found: Iterable[FoundConfig], machine_root: str, machine_label: str) -> dict[str, PipelineSource]:
    """The pipelines of the YAMLs found, each with the root its DAGs write to (``machine_root``,
    called ``machine_label``, when its YAML did not load); a second YAML of the same pipeline name
    is ignored (logged)."""
    from airflow_mlops.provider.factory.launch import resolve_artifact_root

    setting = machine_setting()
    sources: dict[str, PipelineSource] = {}
    for f in found:
        if not valid_pipeline_name(f.pipeline):
            log.warning("MLOps view: %s: %r is not a pipeline name", f.path, f.pipeline)
            continue
        if f.pipeline in sources:
            log.warning("MLOps view: %s names pipeline %s again (read from %s)", f.path, f.pipeline, sources[f.pipeline].config)
            continue
        if f.config is None:
            source = PipelineSource(f.pipeline, machine_root, machine_label, str(f.path), f.error)
        else:
            root = to_uri(resolve_artifact_root(f.config)).rstrip("/")
            source = PipelineSource(f.pipeline, root, setting[0] if setting else FROM_YAML, str(f.path))
        sources[f.pipeline] = source
    return sources
