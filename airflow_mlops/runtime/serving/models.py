"""A registered model version, loaded for serving: rows in, class probabilities out."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    version: str
    model: Any
    classes: list[str]
    features: dict[str, str]

    def predict(self, rows: Sequence[Mapping[str, Any]]):
        """Class probabilities, shape ``(len(rows), len(classes))``."""
        import numpy as np

        inputs = {}
        for name, kind in self.features.items():
            if kind == "numeric":
                column = np.array([_number(r.get(name)) for r in rows], dtype="float32")
            else:
                column = np.array([("" if r.get(name) is None else str(r.get(name))) for r in rows], dtype=object)
            inputs[name] = column.reshape(-1, 1)
        return np.asarray(self.model(inputs, training=False))


def _number(value: Any) -> float:
    return float("nan") if value is None else float(value)


class ModelCache:
    """Downloads versions from the registry once, into ``cache_dir/<version>``, and keeps the
    loaded ones in memory (the champion and the challenger)."""

    def __init__(self, registry, cache_dir: str):
        self.registry = registry
        self.cache_dir = cache_dir
        self._loaded: dict[str, LoadedModel] = {}
        self._lock = threading.Lock()

    def get(self, version: str) -> LoadedModel:
        with self._lock:
            if version not in self._loaded:
                self._loaded[version] = self._load(version)
            return self._loaded[version]

    def keep_only(self, versions: set[str]) -> None:
        with self._lock:
            for version in set(self._loaded) - versions:
                del self._loaded[version]

    def _load(self, version: str) -> LoadedModel:
        import mlflow

        from airflow_mlops.runtime.ml.model import load_model

        target = os.path.join(self.cache_dir, self.registry.model_name, version)
        if not os.path.exists(os.path.join(target, "model", "model.keras")):
            os.makedirs(target, exist_ok=True)
            log.info("downloading %s version %s", self.registry.model_name, version)
            mlflow.set_tracking_uri(self.registry.tracking_uri)
            mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/{self.registry.model_name}/{version}", dst_path=os.path.join(target, "model"),
                tracking_uri=self.registry.tracking_uri,
            )
        model_dir = os.path.join(target, "model")
        with open(os.path.join(model_dir, "transform.json")) as f:
            transform = json.load(f)
        model = load_model(os.path.join(model_dir, "model.keras"))
        loaded = LoadedModel(
            version=version,
            model=model,
            classes=list(transform["label"]["classes"]),
            features={name: spec["type"] for name, spec in transform["features"].items()},
        )
        loaded.predict([{}])  # build the graph now, not on the first request
        log.info("loaded %s version %s", self.registry.model_name, version)
        return loaded
