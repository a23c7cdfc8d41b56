"""The built-in model (ml/mlp.py, ml/features.py): it converges, it can overfit a handful of
rows, and it stays finite on absurd input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pipeline_helpers import FEATURES, LABEL

from airflow_mlops.runtime.components.transform import analyze_chunk, finalize, merge
from airflow_mlops.runtime.ml.features import training_arrays


@pytest.fixture(scope="module")
def penguins(penguins_csv) -> pd.DataFrame:
    return pd.read_csv(penguins_csv)


@pytest.fixture(scope="module")
def transform(penguins) -> dict:
    columns = {c: [None if pd.isna(v) else v for v in penguins[c]] for c in [*FEATURES, LABEL]}
    return finalize(merge([analyze_chunk(columns, FEATURES, LABEL)]), FEATURES, LABEL)


def fit(transform, frame, epochs, learning_rate=0.01, hidden=(16, 8)):
    import keras

    from airflow_mlops.runtime.ml import mlp
    from airflow_mlops.runtime.ml.context import TrainingContext

    keras.utils.set_random_seed(1)
    context = TrainingContext.from_transform(
        transform, "classification", hyperparameters={}, learning_rate=learning_rate, epochs=epochs, batch_size=16,
        seed=1, hidden_units=tuple(hidden),
    )
    model = mlp.build_model(context)
    x, y, _ = training_arrays(frame, transform, LABEL)
    history = model.fit(x, y, epochs=epochs, batch_size=16, verbose=0).history
    return model, history


def test_training_converges(transform, penguins):
    train, test = penguins.iloc[::2], penguins.iloc[1::2]
    model, history = fit(transform, train, epochs=15)
    losses = history["loss"]
    assert all(np.isfinite(losses))
    assert losses[-1] < losses[0] * 0.5
    assert sum(b < a for a, b in zip(losses, losses[1:])) >= 10  # mostly decreasing
    x, y, _ = training_arrays(test, transform, LABEL)
    accuracy = (np.asarray(model.predict(x, verbose=0)).argmax(1) == y).mean()
    assert accuracy > 0.9


def test_the_model_can_overfit_a_handful_of_rows(transform, penguins):
    rows = penguins.dropna().groupby(LABEL).head(2)  # 6 rows, 2 per class
    _, history = fit(transform, rows, epochs=150, learning_rate=0.05)
    assert history["accuracy"][-1] == 1.0
    assert history["loss"][-1] < 0.05


def test_no_nan_with_extreme_or_missing_inputs(transform, penguins):
    model, history = fit(transform, penguins.iloc[:120], epochs=3)
    extreme = pd.DataFrame(
        {
            "island": ["Dream", "Atlantis", None, "", "Biscoe", "Torgersen"],
            "bill_length_mm": [1e30, -1e30, np.nan, np.inf, -np.inf, 0.0],
            "bill_depth_mm": [1e38, np.nan, -1e38, 17.0, 1e-30, np.nan],
            "flipper_length_mm": [np.nan] * 6,
            "body_mass_g": [-1.0, 1e12, np.nan, np.inf, 4000.0, -np.inf],
            "sex": ["male", "unknown", None, np.nan, "female", ""],
            LABEL: ["Adelie"] * 6,
        }
    )
    x, _, _ = training_arrays(extreme, transform, LABEL)
    probabilities = np.asarray(model.predict(x, verbose=0))
    assert np.isfinite(probabilities).all()
    assert probabilities.sum(axis=1) == pytest.approx(np.ones(6), abs=1e-5)

    # Training on rows like these keeps the loss finite too.
    _, history = fit(transform, pd.concat([penguins.iloc[:60], extreme]), epochs=3)
    assert all(np.isfinite(history["loss"]))


def test_column_names_keras_refuses_as_layer_names(tmp_path):
    """Real column names (``od280/od315_of_diluted_wines``, ``a b``) train, save, load and are
    fed by those names."""
    import keras

    from airflow_mlops.runtime.ml import mlp
    from airflow_mlops.runtime.ml.context import TrainingContext
    from airflow_mlops.runtime.ml.model import load_model

    features = {"od280/od315": "numeric", "colour (hue)": "categorical", "x": "numeric"}
    frame = pd.DataFrame({"od280/od315": np.linspace(1, 4, 40), "colour (hue)": ["red", "white"] * 20,
                          "x": np.arange(40.0), "y": ["a"] * 20 + ["b"] * 20})
    columns = {c: list(frame[c]) for c in frame.columns}
    transform = finalize(merge([analyze_chunk(columns, features, "y")]), features, "y")
    context = TrainingContext.from_transform(transform, "classification", hyperparameters={}, learning_rate=0.05, epochs=5,
                                             batch_size=8, seed=1, hidden_units=(4,))
    model = mlp.build_model(context)
    x, y, _ = training_arrays(frame, transform, "y")
    model.fit(x, y, epochs=5, verbose=0)
    model.save(tmp_path / "model.keras")
    loaded = load_model(str(tmp_path / "model.keras"))
    assert isinstance(loaded, keras.Model)
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(model(x)), atol=1e-6)
    swapped = {"x": x["x"], "od280/od315": x["od280/od315"], "colour (hue)": x["colour (hue)"]}
    np.testing.assert_allclose(np.asarray(loaded(swapped)), np.asarray(model(x)), atol=1e-6)


SCALE_MODULE = """
import keras


@keras.saving.register_keras_serializable(package="versions")
class Scale(keras.layers.Layer):
    def call(self, x):
        return x * FACTOR


def build(features):
    inputs = {name: keras.Input(shape=(1,), name=name) for name in features}
    return keras.Model(inputs, Scale()(keras.layers.Concatenate()(list(inputs.values()))))
"""


def test_each_version_loads_with_its_own_module(tmp_path):
    """Two versions whose module files register a layer under the same name: after loading the
    second, the first loads again with its own class (a rollback must not run v2's code)."""
    import importlib.util

    from airflow_mlops.runtime.ml.model import MODULE_FILE, load_model

    folders = {}
    for factor in (1.0, 3.0):
        folder = tmp_path / f"v{factor:g}"
        folder.mkdir()
        (folder / MODULE_FILE).write_text(SCALE_MODULE.replace("FACTOR", str(factor)))
        spec = importlib.util.spec_from_file_location(f"scale_{factor:g}", folder / MODULE_FILE)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.build(["a"]).save(folder / "model.keras")
        folders[factor] = folder
    x = {"a": np.array([[2.0]], dtype="float32")}
    first = float(np.asarray(load_model(str(folders[1.0] / "model.keras"))(x))[0, 0])
    second = float(np.asarray(load_model(str(folders[3.0] / "model.keras"))(x))[0, 0])
    again = float(np.asarray(load_model(str(folders[1.0] / "model.keras"))(x))[0, 0])
    assert (first, second, again) == (2.0, 6.0, 2.0)
