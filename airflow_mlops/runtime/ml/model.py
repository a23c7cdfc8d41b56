"""The classifier: preprocessing from the transform artifact, then a small dense network."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_mlops.runtime.ml.preprocessing import model_input_layers, preprocess


def build_model(transform: Mapping[str, Any], hidden_units: Sequence[int], learning_rate: float):
    import keras

    features = {name: spec["type"] for name, spec in transform["features"].items()}
    inputs = model_input_layers(features)
    x = preprocess(inputs, transform)
    for i, units in enumerate(hidden_units):
        x = keras.layers.Dense(units, activation="relu", name=f"hidden_{i}")(x)
    outputs = keras.layers.Dense(len(transform["label"]["classes"]), activation="softmax", name="probabilities")(x)
    model = keras.Model(inputs=inputs, outputs=outputs, name="classifier")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def load_model(path: str):
    import keras

    import airflow_mlops.runtime.ml.preprocessing  # noqa: F401  (registers the custom layers)

    return keras.models.load_model(path)
