"""train: a Keras classifier whose first layers are the transform, on every visible GPU.

Inputs: ``examples`` (Examples), ``transform`` (Transform). Parameters: ``features``,
``label``, ``hidden_units``, ``learning_rate``, ``epochs``, ``batch_size``, ``seed``.
Settings: ``registry`` (metrics go to the pipeline run's MLflow run).

Checkpoints every epoch in the scratch directory (Keras ``BackupAndRestore``), so a retried or
preempted task resumes at the last finished epoch. Output ``model`` (Model): ``model.keras``,
``saved_model/`` (TF SavedModel for TF Serving / Vertex), ``history.json``,
``training_curves.png``.
"""

from __future__ import annotations

import json
import os
import tempfile
import time

from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.contract.components import TRAIN
from airflow_mlops.contract.params import TrainOptions, TrainParams
from airflow_mlops.runtime.components.base import Component, ComponentResult, ExecutionContext, OutputArtifact
from airflow_mlops.contract import ComponentError, ErrorKind


def distribution_strategy(log):
    """MirroredStrategy over all GPUs when there are several, the default strategy otherwise."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if len(gpus) > 1:
        log.info("training on %d GPUs with MirroredStrategy", len(gpus))
        return tf.distribute.MirroredStrategy(), len(gpus)
    log.info("training on %s", "1 GPU" if gpus else "the CPU (no GPU visible)")
    return tf.distribute.get_strategy(), len(gpus)


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


def _epoch_logger(log, epochs: int, on_epoch):
    import keras

    class EpochLogger(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs = {k: float(v) for k, v in (logs or {}).items()}
            log.info("epoch %d/%d %s", epoch + 1, epochs, " ".join(f"{k}={v:.4f}" for k, v in sorted(logs.items())))
            on_epoch(epoch, logs)

    return EpochLogger()


def _resume_epoch(backup_dir: str) -> int | None:
    """Epochs already finished by an earlier attempt, from Keras' BackupAndRestore metadata."""
    meta = os.path.join(backup_dir, "training_metadata.json")
    if not os.path.exists(meta):
        return None
    with open(meta) as f:
        return int(json.load(f)["epoch"])  # Keras stores the number of finished epochs


def run(ctx: ExecutionContext) -> ComponentResult:
    import keras
    import numpy as np

    from airflow_mlops.runtime.ml.examples import read_split
    from airflow_mlops.runtime.ml.features import training_arrays
    from airflow_mlops.runtime.ml.model import build_model
    from airflow_mlops.runtime.ml.model_registry import Registry

    params: TrainParams = ctx.params
    store = ArtifactStore()
    label = params.label
    epochs, batch_size = params.epochs, params.batch_size
    transform = store.read_json(f"{ctx.spec.inputs['transform'].uri}/transform.json")
    examples = ctx.spec.inputs["examples"]

    keras.utils.set_random_seed(params.seed)
    x_train, y_train, dropped = training_arrays(read_split(examples, "train"), transform, label)
    x_eval, y_eval, _ = training_arrays(read_split(examples, "eval"), transform, label)
    if dropped:
        ctx.log.warning("dropped %d training rows whose label is missing or unknown", dropped)
    if len(y_train) == 0:
        raise ComponentError(ErrorKind.DATA, "train: no training rows with a known label")
    ctx.log.info("training on %d rows, evaluating on %d rows each epoch", len(y_train), len(y_eval))

    strategy, gpus = distribution_strategy(ctx.log)
    with strategy.scope():
        model = build_model(transform, list(params.hidden_units), params.learning_rate)

    # Checkpoints live in the scratch directory, which a failed or killed attempt keeps.
    backup_dir = ctx.scratch_dir.removeprefix("file://") + "/backup"
    resumed = _resume_epoch(backup_dir)
    if resumed is not None:
        ctx.log.info("resuming from the checkpoint after epoch %d", resumed)

    registry = Registry.from_spec(ctx.spec)
    client = registry.client()
    run_id = registry.pipeline_run_id(client, ctx.spec.run, ctx.spec.invocation_uri)
    from mlflow.entities import Metric

    registry.log_params(client, run_id, {f"train.{k}": v for k, v in params.to_dict().items() if k in TrainOptions.field_names()})

    def on_epoch(epoch: int, logs: dict[str, float]) -> None:
        now = int(time.time() * 1000)
        client.log_batch(run_id, metrics=[Metric(f"train.{k}", v, now, epoch) for k, v in logs.items() if np.isfinite(v)])

    history = model.fit(
        x_train,
        y_train,
        validation_data=(x_eval, y_eval) if len(y_eval) else None,
        epochs=epochs,
        batch_size=batch_size,
        shuffle=True,
        verbose=0,
        callbacks=[
            keras.callbacks.BackupAndRestore(backup_dir, save_freq="epoch", delete_checkpoint=False),
            _epoch_logger(ctx.log, epochs, on_epoch),
        ],
    ).history
    losses = history.get("loss", [])
    if not losses or not all(np.isfinite(losses)):
        raise ComponentError(ErrorKind.INTERNAL, f"train: the loss became NaN or infinite ({losses[-3:]}); lower the learning rate")

    with tempfile.TemporaryDirectory(prefix="mlops-model-") as tmp:
        model.save(f"{tmp}/model.keras")
        model.export(f"{tmp}/saved_model")
        with open(f"{tmp}/history.json", "w") as f:
            json.dump(history, f, indent=2)
        with open(f"{tmp}/transform.json", "w") as f:
            json.dump(transform, f, indent=2)
        plot_curves(history, f"{tmp}/training_curves.png")
        client.log_artifact(run_id, f"{tmp}/training_curves.png", "train")
        store.put_dir(tmp, ctx.output_uri("model"))

    final = {k: float(v[-1]) for k, v in history.items() if v}
    ctx.log.info("final: %s", " ".join(f"{k}={v:.4f}" for k, v in sorted(final.items())))
    metrics = {**final, "epochs_run": len(losses), "resumed_from_epoch": resumed, "gpus": gpus}
    return ComponentResult(
        outputs={
            "model": OutputArtifact(
                ctx.output_uri("model"),
                {"format": "keras", "classes": transform["label"]["classes"], "features": list(transform["features"]), "mlflow_run_id": run_id},
            )
        },
        metrics=metrics,
    )


COMPONENT = Component.implementing(TRAIN, run)
