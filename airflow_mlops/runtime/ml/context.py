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
(``{"loss": [...], ...}``).
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


@dataclass(frozen=True)
class TrainingData:
    """The train and eval splits: ``x`` is ``{feature: (rows, 1) array}``; ``y`` class indices
    (into ``LabelInfo.classes``; binary: 1 is the positive class) or float32 target values."""

    x_train: dict[str, Any]
    y_train: Any
    x_eval: dict[str, Any]
    y_eval: Any


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
