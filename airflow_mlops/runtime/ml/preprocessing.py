"""Keras preprocessing built from the transform artifact, so the exported model takes raw
features and applies exactly the training transform (no training/serving skew)."""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from typing import Any

import keras
from keras import ops

# Inputs are keyed by column name while their layers carry a legal name (layer_name): Keras feeds
# a dict by its keys (tests/runtime/ml/test_model.py) and only warns that the names differ.
warnings.filterwarnings("ignore", message="When providing `inputs` as a dict, all keys in the dict must match")

# Normalised values are clipped: an absurd input (1e30, inf) cannot push the network into
# overflow, so predictions stay finite.
CLIP = 10.0


@keras.saving.register_keras_serializable(package="airflow_mlops")
class NumericPreprocessing(keras.layers.Layer):
    """Missing (NaN) -> the training mean; then ``(x - mean) / std``, clipped to ``[-clip, clip]``."""

    def __init__(self, mean: float, variance: float, clip: float = CLIP, **kwargs: Any):
        super().__init__(**kwargs)
        self.mean = float(mean)
        self.variance = float(variance)
        self.clip = float(clip)

    def call(self, inputs):
        x = ops.cast(inputs, "float32")
        x = ops.where(ops.isnan(x), self.mean, x)
        x = (x - self.mean) / ops.sqrt(self.variance + 1e-12) if self.variance > 0 else x - self.mean
        return ops.clip(x, -self.clip, self.clip)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mean": self.mean, "variance": self.variance, "clip": self.clip}


def layer_name(feature: str) -> str:
    """A Keras layer name for a column name (Keras refuses ``/`` and friends, real data has them:
    ``od280/od315_of_diluted_wines``); the model's inputs stay keyed by the column names."""
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", feature)


def model_input_layers(features: Mapping[str, str]) -> dict[str, keras.KerasTensor]:
    return {
        name: keras.Input(shape=(1,), name=layer_name(name), dtype="float32" if kind == "numeric" else "string")
        for name, kind in features.items()
    }


def preprocess(inputs: Mapping[str, keras.KerasTensor], transform: Mapping[str, Any]) -> keras.KerasTensor:
    """Concatenate every feature's transformed representation."""
    parts = []
    for name, spec in transform["features"].items():
        if spec["type"] == "numeric":
            parts.append(NumericPreprocessing(spec["mean"], spec["variance"], name=f"{layer_name(name)}_normalized")(inputs[name]))
        else:
            lookup = keras.layers.StringLookup(
                vocabulary=spec["vocabulary"], num_oov_indices=1, output_mode="one_hot", name=f"{layer_name(name)}_one_hot"
            )
            parts.append(lookup(inputs[name]))
    return keras.layers.Concatenate(name="features")(parts)
