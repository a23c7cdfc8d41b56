"""What a training module gets: :class:`TrainingContext`.

A training module (``training.module`` in the pipeline YAML) is a Python module with::

    def build_model(context: TrainingContext) -> keras.Model: ...          # required
    def fit(model, data: TrainingData, context: TrainingContext) -> dict:  # optional, returns the history

``build_model`` gets the features and their transform statistics, the label's classes or the
target's statistics, the hyper-parameters and the distribution strategy (it is called inside
``context.strategy.scope()``). The model takes the raw features - ``{name: (rows, 1)}`` float32
for numeric features (NaN where missing), strings for categorical ones (``""`` where missing) -
and gives the task's output (:mod:`airflow_mlops.runtime.ml.outputs`). Whatever preprocessing it
does must be layers of the model, so that serving applies exactly the same; ``context.inputs()``
and ``context.preprocess()`` give the built-in transform layers, ``context.head()`` the task's
output layer, ``context.compile()`` the task's loss and metrics. An uncompiled model is compiled
with ``context.compile``.

``fit`` replaces the built-in ``model.fit``: it must pass ``context.callbacks`` to its fit
(checkpoints every epoch so a retry resumes, logs, MLflow metrics) and return the history
(``{"loss": [...], ...}``). ``data`` (:class:`TrainingData`) streams the splits as
``tf.data`` datasets (any size) or gives them as arrays (data that fits in memory).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from airflow_mlops.contract.tasks import BINARY_CLASSIFICATION, REGRESSION, is_classification


@dataclass(frozen=True)
class FeatureInfo:
    """One feature and what transform learnt of it on the training split."""

    name: str
    type: str
    #: numeric: mean and variance; categorical: the vocabulary, most frequent first
    mean: float | None = None
    variance: float | None = None
    vocabulary: tuple[str, ...] = ()


@dataclass(frozen=True)
class LabelInfo:
    """The label: its classes (a classifier's outputs, in order; binary: negative, positive) or,
    for a regression, the target's statistics on the training split."""

    name: str
    classes: tuple[str, ...] = ()
    positive_class: str | None = None
    mean: float | None = None
    variance: float | None = None
    min: float | None = None
    max: float | None = None


class TrainingData:
    """The train and eval splits, read as streams: memory holds a window of rows whatever the
    splits' size.

    - ``train_dataset(batch_size)`` / ``eval_dataset(batch_size)``: ``tf.data.Dataset`` s of
      ``({feature: (batch, 1)}, labels)`` batches, read from the splits as Keras iterates them;
      the train one is shuffled afresh each epoch (windows in a random order, rows shuffled
      within them). Use these in ``fit`` for data of any size.
    - ``x_train``, ``y_train``, ``x_eval``, ``y_eval``: a whole split in memory as arrays
      (``{feature: (rows, 1)}``; labels as class indices into ``LabelInfo.classes`` - binary: 1
      is the positive class - or float32 target values), read on first use. Fine for data that
      fits in memory.
    - ``train_rows``, ``eval_rows``: rows with a usable label; ``sample(n)``: the first ``n``
      rows' inputs.

    A split is anything with ``rows``, ``batches(batch_size, rng)``, ``arrays()`` and
    ``head(n)``: :class:`~airflow_mlops.runtime.ml.split_stream.SplitStream` or, in memory,
    :class:`ArraySplit`.
    """

    def __init__(self, train: Any, eval: Any, seed: int = 0):
        self.train, self.eval, self.seed = train, eval, seed
        #: an exception a split's reading raised inside tf.data (where it becomes a TF error)
        self.failure: BaseException | None = None

    @classmethod
    def from_arrays(cls, x_train: dict[str, Any], y_train: Any, x_eval: dict[str, Any], y_eval: Any, seed: int = 0) -> TrainingData:
        return cls(ArraySplit(x_train, y_train), ArraySplit(x_eval, y_eval), seed)

    @property
    def train_rows(self) -> int:
        return self.train.rows

    @property
    def eval_rows(self) -> int:
        return self.eval.rows

    @property
    def x_train(self) -> dict[str, Any]:
        return self.train.arrays()[0]

    @property
    def y_train(self) -> Any:
        return self.train.arrays()[1]

    @property
    def x_eval(self) -> dict[str, Any]:
        return self.eval.arrays()[0]

    @property
    def y_eval(self) -> Any:
        return self.eval.arrays()[1]

    def sample(self, rows: int) -> dict[str, Any]:
        return self.train.head(rows)

    def train_dataset(self, batch_size: int, shuffle: bool = True):
        """The train split as a ``tf.data.Dataset`` of batches, shuffled afresh each epoch."""
        import itertools

        import numpy as np

        epochs = itertools.count()
        return self._dataset(self.train, batch_size, lambda: np.random.default_rng([self.seed, next(epochs)]) if shuffle else None)

    def eval_dataset(self, batch_size: int):
        """The eval split as a ``tf.data.Dataset`` of batches in file order; ``None`` when it has no rows."""
        return self._dataset(self.eval, batch_size, lambda: None) if self.eval_rows else None

    def _dataset(self, split: Any, batch_size: int, rng):
        import math

        import tensorflow as tf

        def batches():
            try:
                yield from split.batches(batch_size, rng())
            except Exception as exc:
                self.failure = exc
                raise

        first = split.batches(1, None)
        x, y = next(first)
        first.close()
        signature = (
            {name: tf.TensorSpec((None, *v.shape[1:]), tf.string if v.dtype == object else tf.as_dtype(v.dtype)) for name, v in x.items()},
            tf.TensorSpec((None, *y.shape[1:]), tf.as_dtype(y.dtype)),
        )
        dataset = tf.data.Dataset.from_generator(batches, output_signature=signature)
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(math.ceil(split.rows / batch_size)))
        return dataset.prefetch(tf.data.AUTOTUNE)


class ArraySplit:
    """A split held in memory (``x``: ``{feature: (rows, 1)}``, ``y``: labels)."""

    def __init__(self, x: dict[str, Any], y: Any):
        self.x, self.y = x, y

    @property
    def rows(self) -> int:
        return len(self.y)

    def arrays(self) -> tuple[dict[str, Any], Any]:
        return self.x, self.y

    def head(self, rows: int) -> dict[str, Any]:
        return {k: v[:rows] for k, v in self.x.items()}

    def batches(self, batch_size: int, rng=None):
        import numpy as np

        order = rng.permutation(self.rows) if rng is not None else np.arange(self.rows)
        for start in range(0, self.rows, batch_size):
            rows = order[start:start + batch_size]
            yield {k: v[rows] for k, v in self.x.items()}, self.y[rows]


@dataclass
class TrainingContext:
    task: str
    features: dict[str, FeatureInfo]
    label: LabelInfo
    #: ``training.hyperparameters`` from the YAML, as given
    hyperparameters: dict[str, Any]
    learning_rate: float
    epochs: int
    batch_size: int
    seed: int
    #: the built-in MLP's layer sizes (``training.hidden_units``)
    hidden_units: tuple[int, ...]
    #: the transform artifact as written by transform (``transform.json``)
    transform: dict[str, Any]
    strategy: Any = None
    gpus: int = 0
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("airflow_mlops.training"))
    #: the callbacks a module's own ``fit`` must pass to Keras (set by train before ``fit``)
    callbacks: list[Any] = field(default_factory=list)

    @classmethod
    def from_transform(cls, transform: dict[str, Any], task: str, **kwargs: Any) -> TrainingContext:
        features = {
            name: FeatureInfo(name, spec["type"], spec.get("mean"), spec.get("variance"), tuple(spec.get("vocabulary", ())))
            for name, spec in transform["features"].items()
        }
        raw = transform["label"]
        label = LabelInfo(
            name=raw["name"], classes=tuple(raw.get("classes", ())), positive_class=raw.get("positive_class"),
            mean=raw.get("mean"), variance=raw.get("variance"), min=raw.get("min"), max=raw.get("max"),
        )
        return cls(task=task, features=features, label=label, transform=transform, **kwargs)

    @property
    def num_classes(self) -> int:
        return len(self.label.classes)

    def feature_types(self) -> dict[str, str]:
        return {name: info.type for name, info in self.features.items()}

    def inputs(self) -> dict[str, Any]:
        """One ``keras.Input`` per raw feature (float32 or string, shape ``(1,)``)."""
        from airflow_mlops.runtime.ml.preprocessing import model_input_layers

        return model_input_layers(self.feature_types())

    def preprocess(self, inputs: dict[str, Any]):
        """The built-in transform: numeric features normalised (missing -> mean), categorical
        ones one-hot over their vocabulary (plus one out-of-vocabulary bucket), concatenated."""
        from airflow_mlops.runtime.ml.preprocessing import preprocess

        return preprocess(inputs, self.transform)

    def head(self, x):
        """The task's output layer on ``x``: softmax over the classes, a sigmoid for the
        positive class, or one value in the target's scale (the network learns it standardised)."""
        import keras

        if self.task == REGRESSION:
            std = (self.label.variance or 1.0) ** 0.5
            standardized = keras.layers.Dense(1, name="standardized_prediction")(x)
            return keras.layers.Rescaling(scale=std, offset=self.label.mean or 0.0, name="prediction")(standardized)
        if self.task == BINARY_CLASSIFICATION:
            return keras.layers.Dense(1, activation="sigmoid", name="probability")(x)
        return keras.layers.Dense(self.num_classes, activation="softmax", name="probabilities")(x)

    def loss(self, outputs: int = 1) -> str:
        """The task's loss for a model with ``outputs`` output units (binary: 1 unit, the
        positive class's probability; or 2, both probabilities)."""
        if self.task == REGRESSION:
            return "mean_squared_error"
        return "binary_crossentropy" if self.task == BINARY_CLASSIFICATION and outputs == 1 else "sparse_categorical_crossentropy"

    def metrics(self) -> list[Any]:
        if self.task == REGRESSION:
            import keras

            return [keras.metrics.MeanAbsoluteError(name="mae"), keras.metrics.RootMeanSquaredError(name="rmse")]
        return ["accuracy"] if is_classification(self.task) else []

    def compile(self, model, optimizer: Any = None) -> Any:
        """Compile ``model`` with ``optimizer`` (default Adam at ``learning_rate``), the task's
        loss and metrics; returns the model."""
        import keras

        shape = getattr(model, "output_shape", None)
        outputs = shape[-1] if isinstance(shape, tuple) and shape and isinstance(shape[-1], int) else 1
        model.compile(
            optimizer=optimizer or keras.optimizers.Adam(learning_rate=self.learning_rate),
            loss=self.loss(outputs),
            metrics=self.metrics(),
        )
        return model
