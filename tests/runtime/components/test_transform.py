"""Feature engineering: the analyzers, and the Keras layers that reproduce them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from airflow_mlops.runtime.components.transform import analyze_chunk, finalize, merge

FEATURES = {"size": "numeric", "colour": "categorical"}
ROWS = {
    "size": [1.0, 2.0, None, 4.0, 10.0, float("nan"), 7.5],
    "colour": ["red", "blue", "red", None, "green", "red", "blue"],
    "label": ["a", "b", "a", "a", "b", "b", "a"],
}


def chunks(rows: dict[str, list], sizes: list[int]) -> list[dict[str, list]]:
    out, start = [], 0
    for size in sizes:
        out.append({k: v[start : start + size] for k, v in rows.items()})
        start += size
    return out


@pytest.mark.parametrize("sizes", [[7], [3, 4], [1, 1, 1, 4], [2, 0, 5]])
def test_mean_variance_and_vocabulary_do_not_depend_on_chunking(sizes):
    transform = finalize(merge([analyze_chunk(c, FEATURES, "label") for c in chunks(ROWS, sizes)]), FEATURES, "label")
    present = np.array([1.0, 2.0, 4.0, 10.0, 7.5])
    size = transform["features"]["size"]
    assert size["mean"] == pytest.approx(present.mean())
    assert size["variance"] == pytest.approx(present.var())  # population variance, like Keras Normalization
    assert size["missing"] == 2 and size["count"] == 5
    colour = transform["features"]["colour"]
    assert colour["vocabulary"] == ["red", "blue", "green"]  # by frequency, ties by value
    assert colour["missing"] == 1
    assert transform["label"]["classes"] == ["a", "b"]


def test_a_single_class_label_is_a_data_error():
    from airflow_mlops.contract import ComponentError

    rows = {**ROWS, "label": ["a"] * 7}
    with pytest.raises(ComponentError, match="need 2 or more"):
        finalize(merge([analyze_chunk(rows, FEATURES, "label")]), FEATURES, "label")


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
