"""The Keras layers that apply the transform inside the model (ml/preprocessing.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest


def test_preprocessing_layers_reproduce_the_transform():
    import keras

    from airflow_mlops.runtime.ml.preprocessing import CLIP, NumericPreprocessing

    mean, variance = 4.9, 10.24
    layer = NumericPreprocessing(mean, variance)
    x = np.array([[1.0], [4.9], [11.3], [np.nan], [1e30], [-np.inf]], dtype="float32")
    out = np.asarray(layer(x)).ravel()
    std = math.sqrt(variance)
    assert out[:3] == pytest.approx([(1.0 - mean) / std, 0.0, (11.3 - mean) / std], rel=1e-5)
    assert out[3] == 0.0  # missing -> the training mean -> 0
    assert out[4] == CLIP and out[5] == -CLIP

    lookup = keras.layers.StringLookup(vocabulary=["red", "blue", "green"], num_oov_indices=1, output_mode="one_hot")
    one_hot = np.asarray(lookup(np.array([["blue"], ["purple"], [""]])))
    assert one_hot.tolist() == [[0, 0, 1, 0], [1, 0, 0, 0], [1, 0, 0, 0]]  # unknown and missing -> OOV


def test_the_layer_survives_saving_and_loading(tmp_path):
    import keras

    from airflow_mlops.runtime.ml.model import load_model
    from airflow_mlops.runtime.ml.preprocessing import NumericPreprocessing

    inputs = keras.Input((1,), name="x")
    model = keras.Model(inputs, NumericPreprocessing(2.0, 4.0)(inputs))
    model.save(tmp_path / "m.keras")
    loaded = load_model(str(tmp_path / "m.keras"))
    assert np.asarray(loaded(np.array([[6.0]], dtype="float32"))).item() == pytest.approx(2.0)
