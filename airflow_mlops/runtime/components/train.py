"""train: a Keras classifier whose first layers are the transform, on every visible GPU.

Inputs: ``examples`` (Examples), ``transform`` (Transform). Parameters: :class:`TrainParams`
(airflow_mlops/contract/params.py). Settings: ``registry`` (parameters, per-epoch metrics and the
curves go to the pipeline run's MLflow run).

Checkpoints every epoch in the scratch directory (Keras ``BackupAndRestore``), so a retried or
preempted task resumes at the last finished epoch. Output ``model`` (Model): ``model.keras``,
``saved_model/`` (TF SavedModel for TF Serving / Vertex), ``transform.json``, ``history.json``,
``training_curves.png``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.contract import ComponentError, ComponentSpec, ErrorKind
from airflow_mlops.contract.components import TRAIN
from airflow_mlops.contract.params import TrainOptions, TrainParams
from airflow_mlops.runtime.components.base import Component, ComponentResult, ExecutionContext, OutputArtifact

# -- data -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingData:
    """Model inputs and label indices of the train and eval splits."""

    x_train: dict[str, Any]
    y_train: Any
    x_eval: dict[str, Any]
    y_eval: Any


def load_training_data(examples, transform: dict[str, Any], label: str, log) -> TrainingData:
    """The train and eval splits as arrays; rows without a known label are dropped (and counted)."""
    from airflow_mlops.runtime.ml.examples import read_split
    from airflow_mlops.runtime.ml.features import training_arrays

    x_train, y_train, dropped = training_arrays(read_split(examples, "train"), transform, label)
    x_eval, y_eval, _ = training_arrays(read_split(examples, "eval"), transform, label)
    if dropped:
        log.warning("dropped %d training rows whose label is missing or unknown", dropped)
    if len(y_train) == 0:
        raise ComponentError(ErrorKind.DATA, "train: no training rows with a known label")
    log.info("training on %d rows, evaluating on %d rows each epoch", len(y_train), len(y_eval))
    return TrainingData(x_train, y_train, x_eval, y_eval)


# -- model and checkpoints ------------------------------------------------------------------------


def distribution_strategy(log):
    """MirroredStrategy over all GPUs when there are several, the default strategy otherwise."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if len(gpus) > 1:
        log.info("training on %d GPUs with MirroredStrategy", len(gpus))
        return tf.distribute.MirroredStrategy(), len(gpus)
    log.info("training on %s", "1 GPU" if gpus else "the CPU (no GPU visible)")
    return tf.distribute.get_strategy(), len(gpus)


def build_model_on_devices(transform: dict[str, Any], params: TrainParams, log) -> tuple[Any, int]:
    """The compiled model, built under the distribution strategy, and the number of GPUs."""
    from airflow_mlops.runtime.ml.model import build_model

    strategy, gpus = distribution_strategy(log)
    with strategy.scope():
        model = build_model(transform, list(params.hidden_units), params.learning_rate)
    return model, gpus


@contextlib.contextmanager
def checkpoints(scratch_dir: str, log) -> Iterator[tuple[str, int | None, Callable[[], None] | None]]:
    """The local checkpoint directory, the epochs an earlier attempt finished (``None``: none),
    and what to call after each epoch to save the checkpoint where a retry finds it.

    Checkpoints live in the scratch directory, which a failed or killed attempt keeps. Keras
    writes them to local disk; when the scratch directory is remote (``gs://``: the retry may run
    on another machine) they are downloaded from it first and uploaded to it after every epoch."""
    if scratch_dir.startswith("file://"):
        backup_dir = scratch_dir.removeprefix("file://") + "/backup"
        resumed = _resume_epoch(backup_dir)
        if resumed is not None:
            log.info("resuming from the checkpoint after epoch %d", resumed)
        yield backup_dir, resumed, None
        return
    store, remote = ArtifactStore(), f"{scratch_dir.rstrip('/')}/backup"
    with tempfile.TemporaryDirectory(prefix="mlops-checkpoints-") as tmp:
        backup_dir = os.path.join(tmp, "backup")
        if store.exists(f"{remote}/training_metadata.json"):
            with store.local_dir(remote) as downloaded:
                shutil.copytree(downloaded, backup_dir)
        resumed = _resume_epoch(backup_dir)
        if resumed is not None:
            log.info("resuming from the checkpoint after epoch %d (%s)", resumed, remote)
        yield backup_dir, resumed, lambda: store.put_dir(backup_dir, remote)


def _resume_epoch(backup_dir: str) -> int | None:
    """Epochs already finished by an earlier attempt, from Keras' BackupAndRestore metadata."""
    meta = os.path.join(backup_dir, "training_metadata.json")
    if not os.path.exists(meta):
        return None
    with open(meta) as f:
        return int(json.load(f)["epoch"])  # Keras stores the number of finished epochs


# -- MLflow ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingRun:
    """The pipeline run's MLflow run, as train logs to it."""

    client: Any
    run_id: str

    @classmethod
    def open(cls, spec: ComponentSpec, params: TrainParams) -> TrainingRun:
        """The pipeline run's MLflow run, with the hyper-parameters logged."""
        from airflow_mlops.runtime.ml.model_registry import Registry

        registry = Registry.from_spec(spec)
        client = registry.client()
        run_id = registry.pipeline_run_id(client, spec.run, spec.invocation_uri)
        hyper = {f"train.{k}": v for k, v in params.to_dict().items() if k in TrainOptions.field_names()}
        registry.log_params(client, run_id, hyper)
        return cls(client, run_id)

    def log_epoch(self, epoch: int, logs: dict[str, float]) -> None:
        """One epoch's finite metrics, as ``train.<metric>`` at step ``epoch``."""
        import numpy as np
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(f"train.{k}", v, now, epoch) for k, v in logs.items() if np.isfinite(v)])

    def log_curves(self, path: str) -> None:
        self.client.log_artifact(self.run_id, path, "train")


# -- fit ------------------------------------------------------------------------------------------


def _epoch_logger(log, epochs: int, on_epoch):
    import keras

    class EpochLogger(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs = {k: float(v) for k, v in (logs or {}).items()}
            log.info("epoch %d/%d %s", epoch + 1, epochs, " ".join(f"{k}={v:.4f}" for k, v in sorted(logs.items())))
            on_epoch(epoch, logs)

    return EpochLogger()


def fit(model, data: TrainingData, params: TrainParams, backup_dir: str, log, on_epoch, on_checkpoint=None) -> dict[str, list[float]]:
    """Fit with a checkpoint every epoch (resuming from ``backup_dir``; ``on_checkpoint()`` after
    each one is written); the history.

    A loss that became NaN or infinite is an error."""
    import keras
    import numpy as np

    history = model.fit(
        data.x_train,
        data.y_train,
        validation_data=(data.x_eval, data.y_eval) if len(data.y_eval) else None,
        epochs=params.epochs,
        batch_size=params.batch_size,
        shuffle=True,
        verbose=0,
        callbacks=[
            keras.callbacks.BackupAndRestore(backup_dir, save_freq="epoch", delete_checkpoint=False),
            *([keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: on_checkpoint())] if on_checkpoint else []),
            _epoch_logger(log, params.epochs, on_epoch),
        ],
    ).history
    losses = history.get("loss", [])
    if not losses or not all(np.isfinite(losses)):
        raise ComponentError(ErrorKind.INTERNAL, f"train: the loss became NaN or infinite ({losses[-3:]}); lower the learning rate")
    return history


# -- export ---------------------------------------------------------------------------------------


def plot_curves(history: dict[str, list[float]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        epochs = range(1, len(history.get(metric, [])) + 1)
        ax.plot(epochs, history.get(metric, []), label=f"train {metric}")
        if f"val_{metric}" in history:
            ax.plot(epochs, history[f"val_{metric}"], label=f"eval {metric}")
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def export_model(model, history: dict[str, list[float]], transform: dict[str, Any], uri: str, mlflow_run: TrainingRun) -> None:
    """Write the model (Keras and SavedModel), its transform, history and curves to ``uri``; the
    curves also go to MLflow."""
    with tempfile.TemporaryDirectory(prefix="mlops-model-") as tmp:
        model.save(f"{tmp}/model.keras")
        model.export(f"{tmp}/saved_model")
        with open(f"{tmp}/history.json", "w") as f:
            json.dump(history, f, indent=2)
        with open(f"{tmp}/transform.json", "w") as f:
            json.dump(transform, f, indent=2)
        plot_curves(history, f"{tmp}/training_curves.png")
        mlflow_run.log_curves(f"{tmp}/training_curves.png")
        ArtifactStore().put_dir(tmp, uri)


# -- the component --------------------------------------------------------------------------------


def run(ctx: ExecutionContext) -> ComponentResult:
    import keras

    params: TrainParams = ctx.params
    transform = ArtifactStore().read_json(f"{ctx.spec.inputs['transform'].uri}/transform.json")

    keras.utils.set_random_seed(params.seed)
    data = load_training_data(ctx.spec.inputs["examples"], transform, params.label, ctx.log)
    model, gpus = build_model_on_devices(transform, params, ctx.log)
    mlflow_run = TrainingRun.open(ctx.spec, params)
    with checkpoints(ctx.scratch_dir, ctx.log) as (backup_dir, resumed, on_checkpoint):
        history = fit(model, data, params, backup_dir, ctx.log, mlflow_run.log_epoch, on_checkpoint)
    export_model(model, history, transform, ctx.output_uri("model"), mlflow_run)
    return model_result(ctx, history, transform, mlflow_run.run_id, resumed, gpus)


def model_result(
    ctx: ExecutionContext, history: dict[str, list[float]], transform: dict[str, Any], run_id: str, resumed: int | None, gpus: int
) -> ComponentResult:
    """The ``model`` output and the final metrics (logged)."""
    final = {k: float(v[-1]) for k, v in history.items() if v}
    ctx.log.info("final: %s", " ".join(f"{k}={v:.4f}" for k, v in sorted(final.items())))
    metrics = {**final, "epochs_run": len(history["loss"]), "resumed_from_epoch": resumed, "gpus": gpus}
    properties = {"format": "keras", "classes": transform["label"]["classes"], "features": list(transform["features"]), "mlflow_run_id": run_id}
    return ComponentResult(outputs={"model": OutputArtifact(ctx.output_uri("model"), properties)}, metrics=metrics)


COMPONENT = Component.implementing(TRAIN, run)
