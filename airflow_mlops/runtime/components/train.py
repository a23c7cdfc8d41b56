"""train: the pipeline's training module builds a Keras model (whose first layers are the
transform) for its task, trained on every visible GPU.

Inputs: ``examples`` (Examples), ``transform`` (Transform). Parameters: :class:`TrainParams`
(airflow_mlops/contract/params.py): the training module (``training.module``; default the built-in
MLP, :mod:`airflow_mlops.runtime.ml.mlp`; its API: :mod:`airflow_mlops.runtime.ml.context`), its
hyper-parameters, the task. The module's source is part of the fingerprint: an edit retrains. A
broken module is a ``model`` error naming it. Settings: ``registry`` (parameters, per-epoch
metrics and the curves go to the pipeline run's MLflow run).

Checkpoints every epoch in the scratch directory (Keras ``BackupAndRestore``), so a retried or
preempted task resumes at the last finished epoch. Output ``model`` (Model): ``model.keras``,
``saved_model/`` (TF SavedModel for TF Serving / Vertex), ``transform.json``, ``history.json``,
``training_curves.png``, and a module file's copy ``training_module.py`` (imported before the
model is loaded, for the module's own layers).
"""

from __future__ import annotations

import contextlib
import hashlib
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
from airflow_mlops.runtime.ml.context import TrainingContext, TrainingData
from airflow_mlops.runtime.ml.training_module import TrainingModule

# -- data -----------------------------------------------------------------------------------------


def load_training_data(examples, transform: dict[str, Any], label: str, seed: int, log) -> TrainingData:
    """The train and eval splits, streamed from the examples; rows without a known label are
    dropped (and counted)."""
    from airflow_mlops.runtime.ml.examples import split_uri
    from airflow_mlops.runtime.ml.split_stream import SplitStream

    train, eval_ = (SplitStream(split_uri(examples, split), transform, label) for split in ("train", "eval"))
    usable, dropped = train.counts()
    if dropped:
        log.warning("dropped %d training rows whose label is missing or unknown", dropped)
    if usable == 0:
        raise ComponentError(ErrorKind.DATA, "train: no training rows with a known label")
    log.info("training on %d rows, evaluating on %d rows each epoch (read as a stream)", usable, eval_.rows)
    return TrainingData(train, eval_, seed)


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


def training_context(transform: dict[str, Any], params: TrainParams, log) -> TrainingContext:
    """What the module sees: transform statistics, hyper-parameters, the distribution strategy."""
    strategy, gpus = distribution_strategy(log)
    return TrainingContext.from_transform(
        transform, params.task, hyperparameters=dict(params.hyperparameters), learning_rate=params.learning_rate,
        epochs=params.epochs, batch_size=params.batch_size, seed=params.seed, hidden_units=tuple(params.hidden_units),
        strategy=strategy, gpus=gpus, log=log,
    )


def build_model(module: TrainingModule, context: TrainingContext, data: TrainingData):
    """The module's model, built under the distribution strategy and compiled (with the task's
    loss when the module did not compile it); checked to give the task's output."""
    import keras

    from airflow_mlops.runtime.ml.outputs import shape_problem

    try:
        with context.strategy.scope():
            model = module.build_model(context)
            if isinstance(model, keras.Model) and not model.compiled:
                context.compile(model)
    except Exception as exc:
        raise module.failure("build_model failed", exc) from None
    if not isinstance(model, keras.Model):
        raise module.error(f"build_model returned {type(model).__name__}; it must return a keras.Model")
    sample = data.sample(2)
    try:
        output = model(sample, training=False)
    except Exception as exc:
        raise module.failure(f"the model cannot take the raw features ({', '.join(sample)})", exc) from None
    problem = shape_problem(context.task, context.label.classes, output, len(next(iter(sample.values()))))
    if problem:
        raise module.error(problem)
    return model


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


class FrameworkFailure(Exception):
    """What went wrong in our own callbacks (a checkpoint upload, the MLflow metrics) while the
    module's fit ran: not the module's fault, re-raised as it was (an I/O error is retried).
    The original rides on the instance: Keras re-raises with ``from None``."""

    def __init__(self, original: Exception):
        super().__init__(f"{type(original).__name__}: {original}")
        self.original = original


def _ours(function):
    """``function`` with its exceptions wrapped in :class:`FrameworkFailure`."""
    def call(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except Exception as exc:
            raise FrameworkFailure(exc) from exc

    return call


def training_callbacks(context: TrainingContext, backup_dir: str, on_epoch, on_checkpoint=None) -> list[Any]:
    """A checkpoint every epoch (resuming from ``backup_dir``; ``on_checkpoint()`` after each
    one is written), a stop on a NaN loss, the epoch log line and ``on_epoch(epoch, logs)``."""
    import keras

    return [
        keras.callbacks.BackupAndRestore(backup_dir, save_freq="epoch", delete_checkpoint=False),
        *([keras.callbacks.LambdaCallback(on_epoch_end=_ours(lambda epoch, logs: on_checkpoint()))] if on_checkpoint else []),
        keras.callbacks.TerminateOnNaN(),
        _epoch_logger(context.log, context.epochs, _ours(on_epoch)),
    ]


def default_fit(model, data: TrainingData, context: TrainingContext) -> dict[str, list[float]]:
    """Keras ``fit`` over the train split streamed (shuffled each epoch), validated on the eval
    split, with the context's callbacks."""
    return model.fit(
        data.train_dataset(context.batch_size),
        validation_data=data.eval_dataset(context.batch_size),
        epochs=context.epochs,
        verbose=0,
        callbacks=context.callbacks,
    ).history


def fit(module: TrainingModule, model, data: TrainingData, context: TrainingContext) -> dict[str, list[float]]:
    """The module's ``fit`` or :func:`default_fit`; the history as plain floats.

    A module's fit that raises, returns no loss history or whose loss became NaN or infinite is
    a model error."""
    import numpy as np

    try:
        history = (module.fit or default_fit)(model, data, context)
    except FrameworkFailure as failure:
        raise failure.original from None
    except (OSError, MemoryError):
        raise  # the machine's or the storage's trouble: retried
    except Exception as exc:
        if isinstance(data.failure, (OSError, MemoryError)):
            raise data.failure from None  # reading a split failed inside tf.data: retried too
        raise module.failure("training failed", exc) from None
    history = getattr(history, "history", history)  # a keras History object is accepted too
    if not isinstance(history, dict) or not history.get("loss"):
        raise module.error(f"fit must return the history, a mapping with a 'loss' list (got {type(history).__name__})")
    history = {k: [float(v) for v in values] for k, values in history.items()}
    losses = history["loss"]
    if not all(np.isfinite(losses)):
        raise module.error(f"the loss became NaN or infinite (last epochs: {losses[-3:]}); lower the learning rate, "
                           "or check the model and the target's scale")
    return history


# -- export ---------------------------------------------------------------------------------------


def plot_curves(history: dict[str, list[float]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    second = next((m for m in ("accuracy", "mae", "rmse") if m in history), None)
    metrics = ("loss", second) if second else ("loss",)
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 4), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
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


def save_and_reload(model, folder: str, module: TrainingModule, sample: dict[str, Any]) -> None:
    """``model.keras`` and ``saved_model/`` in ``folder``; then ``model.keras`` loaded back the
    way evaluation and the server load it, and checked to answer ``sample`` as the trained
    model does. A model that cannot be saved, exported or loaded back (a layer of the module
    without ``get_config``, say) is the module's error, found here and not after registration."""
    import numpy as np

    from airflow_mlops.runtime.ml.model import load_model

    try:
        model.save(f"{folder}/model.keras")
        model.export(f"{folder}/saved_model")
    except Exception as exc:
        raise module.failure("the model cannot be saved", exc) from None
    try:
        loaded = load_model(f"{folder}/model.keras")
        again, before = np.asarray(loaded(sample, training=False)), np.asarray(model(sample, training=False))
    except Exception as exc:
        raise module.failure("the saved model does not load back (register your own layers with "
                             "keras.saving.register_keras_serializable and give them get_config)", exc) from None
    if again.shape != before.shape or not np.allclose(again, before, rtol=1e-4, atol=1e-5, equal_nan=True):
        raise module.error("the saved model, loaded back, predicts otherwise than the trained one "
                           f"(largest difference {np.nanmax(np.abs(again - before)) if again.shape == before.shape else again.shape}); "
                           "check get_config of your own layers")


def export_model(
    model, history: dict[str, list[float]], transform: dict[str, Any], uri: str, mlflow_run: TrainingRun, module: TrainingModule,
    sample: dict[str, Any],
) -> None:
    """Write the model (Keras and SavedModel), its transform, history and curves - and a module
    file's copy - to ``uri``; the curves also go to MLflow."""
    from airflow_mlops.runtime.ml.model import MODULE_FILE

    with tempfile.TemporaryDirectory(prefix="mlops-model-") as tmp:
        if module.bundled_source is not None:
            with open(f"{tmp}/{MODULE_FILE}", "w") as f:
                f.write(module.bundled_source)
        save_and_reload(model, tmp, module, sample)
        with open(f"{tmp}/history.json", "w") as f:
            json.dump(history, f, indent=2)
        with open(f"{tmp}/transform.json", "w") as f:
            json.dump(transform, f, indent=2)
        plot_curves(history, f"{tmp}/training_curves.png")
        mlflow_run.log_curves(f"{tmp}/training_curves.png")
        ArtifactStore().put_dir(tmp, uri)


# -- the component --------------------------------------------------------------------------------


def module_fingerprint(spec: ComponentSpec) -> str:
    """The training module's source: editing it retrains (an installed module too)."""
    from airflow_mlops.runtime.ml.training_module import source_of

    source = source_of(spec.params.get("module"), spec.params.get("module_source"))
    return hashlib.sha256(source.encode()).hexdigest()[:20]


def run(ctx: ExecutionContext) -> ComponentResult:
    import keras

    from airflow_mlops.runtime.ml import training_module

    params = tuned(ctx)
    transform = ArtifactStore().read_json(f"{ctx.spec.inputs['transform'].uri}/transform.json")
    if transform["label"].get("task", "classification") != params.task:
        raise ComponentError(ErrorKind.CONFIG, f"train: the transform was made for task {transform['label'].get('task')}, "
                             f"the pipeline's task is {params.task}")

    module = training_module.load(params.module, params.module_source)
    ctx.log.info("training module: %s (task %s)", module.name, params.task)
    keras.utils.set_random_seed(params.seed)
    data = load_training_data(ctx.spec.inputs["examples"], transform, params.label, params.seed, ctx.log)
    context = training_context(transform, params, ctx.log)
    model = build_model(module, context, data)
    mlflow_run = TrainingRun.open(ctx.spec, params)
    with checkpoints(ctx.scratch_dir, ctx.log) as (backup_dir, resumed, on_checkpoint):
        context.callbacks = training_callbacks(context, backup_dir, mlflow_run.log_epoch, on_checkpoint)
        history = fit(module, model, data, context)
    sample = data.sample(4)
    export_model(model, history, transform, ctx.output_uri("model"), mlflow_run, module, sample)
    return model_result(ctx, history, transform, mlflow_run.run_id, resumed, context.gpus, module.name)


def tuned(ctx: ExecutionContext) -> TrainParams:
    """Train's parameters, with the tune step's best values when it ran (input
    ``tuned_hyperparameters``): they win over the YAML's and the trigger form's."""
    params: TrainParams = ctx.params
    ref = ctx.spec.inputs.get("tuned_hyperparameters")
    if ref is None:
        return params
    from airflow_mlops.runtime.ml.search_space import apply

    values = ArtifactStore().read_json(f"{ref.uri}/best.json")["values"]
    ctx.log.info("hyper-parameters from the tune step: %s", ", ".join(f"{k}={v}" for k, v in sorted(values.items())))
    return TrainParams.from_dict(apply(values, params.to_dict()))


def model_result(
    ctx: ExecutionContext, history: dict[str, list[float]], transform: dict[str, Any], run_id: str, resumed: int | None, gpus: int,
    module: str,
) -> ComponentResult:
    """The ``model`` output and the final metrics (logged)."""
    final = {k: float(v[-1]) for k, v in history.items() if v}
    ctx.log.info("final: %s", " ".join(f"{k}={v:.4f}" for k, v in sorted(final.items())))
    metrics = {**final, "epochs_run": len(history["loss"]), "resumed_from_epoch": resumed, "gpus": gpus}
    label = transform["label"]
    properties = {"format": "keras", "task": label.get("task", "classification"), "module": module,
                  **({"classes": label["classes"]} if "classes" in label else {}),
                  "features": list(transform["features"]), "mlflow_run_id": run_id,
                  **({"tuned": ctx.spec.inputs["tuned_hyperparameters"].properties.get("values")}
                     if "tuned_hyperparameters" in ctx.spec.inputs else {})}
    return ComponentResult(outputs={"model": OutputArtifact(ctx.output_uri("model"), properties)}, metrics=metrics)


COMPONENT = Component.implementing(TRAIN, run, external_fingerprint=module_fingerprint)
