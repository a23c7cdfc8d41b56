"""Serving runs a version's inference as one traced graph (:func:`~airflow_mlops.runtime.serving.models.compile_inference`):
its answers must be the Keras model's own, and a model whose layers cannot be traced is still
served, eagerly."""

from __future__ import annotations

from importlib import resources

import pytest
from failing_model import MESSAGE, write_failing_model
from serving_helpers import FEATURES

#: float32 rounding between a graph and the eager call of the same operations
TOLERANCE = 1e-6


def penguin_rows() -> list[dict]:
    """Every penguin as a request row (missing measurements as None), plus rows real traffic
    sends: an unseen island, an empty row, a value far out of range."""
    import csv

    with resources.files("palmerpenguins").joinpath("data/penguins.csv").open() as f:
        rows = [
            {name: (None if row[name] in ("", "NA") else (float(row[name]) if kind == "numeric" else row[name]))
             for name, kind in FEATURES.items()}
            for row in csv.DictReader(f)
        ]
    return rows + [{**rows[0], "island": "Atlantis"}, {}, {**rows[1], "body_mass_g": 1e9}]


@pytest.fixture(scope="module")
def champion(models, tmp_path_factory):
    from airflow_mlops.runtime.serving.models import ModelCache

    return ModelCache(models.registry(), str(tmp_path_factory.mktemp("compiled")), task="classification").get("1")


def test_the_served_version_runs_as_a_traced_graph(champion):
    import tensorflow as tf

    assert isinstance(champion.compiled, tf.types.experimental.PolymorphicFunction)
    # one graph for every batch size: no retracing per request size
    for size in (1, 7, 64):
        champion.predict(penguin_rows()[:size])
    assert champion.compiled.experimental_get_tracing_count() == 1


def test_the_graphs_answers_equal_the_keras_models_within_float32_rounding(champion):
    import numpy as np

    rows = penguin_rows()
    for batch in (rows, rows[:1], rows[-3:]):
        inputs = champion.inputs(batch)
        compiled = champion.compiled(inputs).numpy()
        eager = np.asarray(champion.model(inputs, training=False))
        assert compiled.shape == eager.shape == (len(batch), 3)
        assert np.isfinite(compiled).all()
        assert np.abs(compiled - eager).max() <= TOLERANCE
        assert (compiled.argmax(axis=1) == eager.argmax(axis=1)).all()
    # and the answers serving decodes are the same classes as the eager model's
    answers = champion.answers(rows)
    eager_classes = np.asarray(champion.model(champion.inputs(rows), training=False)).argmax(axis=1)
    assert [a["prediction"] for a in answers] == [champion.classes[i] for i in eager_classes]


def test_a_model_that_cannot_be_traced_is_served_eagerly(tmp_path, caplog):
    from airflow_mlops.runtime.serving.models import load_model_dir

    model_dir = write_failing_model(tmp_path / "model")
    with caplog.at_level("WARNING"):
        loaded = load_model_dir(str(model_dir), "5", "classification", "penguin")
    assert loaded.compiled is None
    assert "penguin version 5 is served eagerly" in caplog.text
    # eagerly, it behaves as its layer says: answers rows with nothing measured, fails on real ones
    assert len(loaded.answers([{}])) == 1
    with pytest.raises(ValueError, match=MESSAGE):
        loaded.answers([{"bill_length_mm": 40.0}])
