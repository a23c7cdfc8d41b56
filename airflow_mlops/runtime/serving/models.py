"""A registered model version, loaded for serving: rows in, the task's answers out.

A version is served only for the task the server was started for (``ServingConfig.task``): its
``transform.json`` says which task it was trained for (:func:`~airflow_mlops.runtime.ml.features.task_of`;
transforms from before tasks are classifications), and a version of another task is
:class:`NotServable` - :class:`ModelCache` refuses it before loading the Keras model, and
remembers the refusal (a version's task never changes), so the watcher does not retry it at
every poll.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_mlops.contract.tasks import CLASSIFICATION

log = logging.getLogger(__name__)


class NotServable(RuntimeError):
    """A model version this server cannot serve: another task than the server's, or an output
    that is not its task's."""


@dataclass
class LoadedModel:
    version: str
    model: Any
    #: the classes, in the order of the model's outputs (binary: negative, positive); empty for a regression
    classes: list[str]
    features: dict[str, str]
    task: str = CLASSIFICATION
    #: the model's inference as one traced graph (:func:`compile_inference`); ``None``: called eagerly
    compiled: Any = None

    def inputs(self, rows: Sequence[Mapping[str, Any]]) -> dict:
        """``rows`` as the model's inputs: one ``(n, 1)`` column per feature, float32 numbers
        (missing: NaN) and strings (missing: empty)."""
        import numpy as np

        inputs = {}
        for name, kind in self.features.items():
            if kind == "numeric":
                column = np.array([_number(r.get(name)) for r in rows], dtype="float32")
            else:
                column = np.array([("" if r.get(name) is None else str(r.get(name))) for r in rows], dtype=object)
            inputs[name] = column.reshape(-1, 1)
        return inputs

    def predict(self, rows: Sequence[Mapping[str, Any]]):
        """The model's raw output for ``rows`` (:mod:`airflow_mlops.runtime.ml.outputs`): class
        probabilities ``(n, classes)``, a binary classifier's ``(n, 1)`` positive-class
        probability, or a regression's ``(n, 1)`` values."""
        return self.predict_inputs(self.inputs(rows))

    def predict_inputs(self, inputs: Mapping[str, Any]):
        """The model's raw output for inputs already in its shape (:meth:`inputs`): batch prediction
        builds them column by column."""
        import numpy as np

        if self.compiled is not None:
            return self.compiled(inputs).numpy()
        return np.asarray(self.model(inputs, training=False))

    def answers(self, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """One answer per row in the task's shape (the one place serving decodes a model's
        output, :func:`airflow_mlops.runtime.ml.outputs.answers`): ``{"prediction": class,
        "probabilities": {class: p}}`` for a classifier, ``{"prediction": value}`` for a regression."""
        from airflow_mlops.runtime.ml.outputs import answers

        return answers(self.task, self.classes, self.predict(rows))

    def output_problem(self) -> str | None:
        """Why the model's output is not its task's (:func:`~airflow_mlops.runtime.ml.outputs.shape_problem`),
        on a row with every feature missing; ``None`` if it is. Also builds the graph, so the
        first request does not."""
        from airflow_mlops.runtime.ml.outputs import shape_problem

        return shape_problem(self.task, self.classes, self.predict([{}, {}]), 2)


def _number(value: Any) -> float:
    return float("nan") if value is None else float(value)


class ModelCache:
    """Downloads versions from the registry once, into ``cache_dir/<version>``, and keeps the
    loaded ones in memory (the champion and the challenger).

    :param task: the only task served (``None``: any task - benchmarks, tools)."""

    def __init__(self, registry, cache_dir: str, task: str | None = None):
        self.registry = registry
        self.cache_dir = cache_dir
        self.task = task
        self._loaded: dict[str, LoadedModel] = {}
        #: versions refused, with the reason
        self.refused: dict[str, str] = {}
        self._lock = threading.Lock()

    def get(self, version: str) -> LoadedModel:
        """:raises NotServable: the version is of another task than :attr:`task`."""
        with self._lock:
            if version in self.refused:
                raise NotServable(self.refused[version])
            if version not in self._loaded:
                try:
                    self._loaded[version] = self._load(version)
                except NotServable as exc:
                    self.refused[version] = str(exc)
                    raise
            return self._loaded[version]

    def keep_only(self, versions: set[str]) -> None:
        with self._lock:
            for version in set(self._loaded) - versions:
                del self._loaded[version]

    def _load(self, version: str) -> LoadedModel:
        import mlflow

        target = os.path.join(self.cache_dir, self.registry.model_name, version)
        if not os.path.exists(os.path.join(target, "model", "model.keras")):
            os.makedirs(target, exist_ok=True)
            log.info("downloading %s version %s", self.registry.model_name, version)
            mlflow.set_tracking_uri(self.registry.tracking_uri)
            mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/{self.registry.model_name}/{version}", dst_path=os.path.join(target, "model"),
                tracking_uri=self.registry.tracking_uri,
            )
        loaded = load_model_dir(os.path.join(target, "model"), version, self.task, self.registry.model_name)
        log.info("loaded %s version %s (%s)", self.registry.model_name, version, loaded.task)
        return loaded


def load_model_dir(model_dir: str, version: str, task: str | None = None, model_name: str = "model") -> LoadedModel:
    """The model in ``model_dir`` (``model.keras``, ``transform.json``, a bundled training module)
    loaded as the server loads a version, with its graph built.

    :param task: the only task accepted (``None``: any).
    :raises NotServable: the model is of another task, or its output is not its task's."""
    from airflow_mlops.runtime.ml.features import task_of
    from airflow_mlops.runtime.ml.model import load_model

    with open(os.path.join(model_dir, "transform.json")) as f:
        transform = json.load(f)
    model_task = task_of(transform)
    if task is not None and model_task != task:
        raise NotServable(
            f"{model_name} version {version} is a {model_task} model; this server serves {task} "
            f"(the pipeline's task) and answers in that shape, so it does not serve it"
        )
    loaded = LoadedModel(
        version=version,
        model=load_model(os.path.join(model_dir, "model.keras")),
        classes=[str(c) for c in transform["label"].get("classes", ())],
        features={name: spec["type"] for name, spec in transform["features"].items()},
        task=model_task,
    )
    loaded.compiled = compile_inference(loaded, model_name)
    problem = loaded.output_problem()  # builds the graph now, not on the first request
    if problem:
        raise NotServable(f"{model_name} version {version}: {problem}")
    return loaded


def compile_inference(loaded: LoadedModel, model_name: str = "model"):
    """The model's inference traced once into a TensorFlow graph with a fixed signature (any
    number of rows, one ``(n, 1)`` column per feature): a request then runs one graph instead of
    Keras's eager, layer-by-layer call (about 7 ms for one row on 2 cores, most of a request).
    Same weights, same operations: the answers equal the eager call's to float32 rounding.

    ``None`` (the version is served eagerly, as before) when the graph cannot be traced - a
    layer of a training module that computes in NumPy, say - with the reason in the log."""
    import keras

    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    signature = {
        name: tf.TensorSpec((None, 1), tf.float32 if kind == "numeric" else tf.string, name=name)
        for name, kind in loaded.features.items()
    }
    model = loaded.model

    @tf.function(input_signature=[signature])
    def infer(inputs):
        return model(inputs, training=False)

    try:
        infer.get_concrete_function()  # traces now: a model that cannot be traced says so here
    except Exception as exc:  # whatever a layer raises while traced: eager still serves
        log.warning("%s version %s is served eagerly (slower): its inference cannot be traced into a graph: %s: %s",
                    model_name, loaded.version, type(exc).__name__, str(exc)[:300])
        return None
    return infer
