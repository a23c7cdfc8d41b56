"""The model for edge devices (ml/edge.py and register): TFLite converted from the blessed
model, checked against Keras on the test split, stored with the version - or not, with the reason."""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest
from pipeline_helpers import LABEL, own_first_run, own_pipeline  # noqa: F401  (fixtures: this module changes the registry)

from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.contract.params import TfliteExport
from airflow_mlops.runtime.ml.edge import PARITY_FILE, TFLITE_FILE, convert, export_edge, parity
from airflow_mlops.runtime.ml.examples import split_uri
from airflow_mlops.runtime.ml.split_stream import SplitStream

LOG = logging.getLogger("test")


def batches_of_the_test_split(records, batch_rows: int = 50):
    model_uri = records["train"].outputs["model"].uri
    transform = ArtifactStore().read_json(f"{model_uri}/transform.json")
    return SplitStream(split_uri(records["ingest"].outputs["examples"], "test"), transform, LABEL).batches(batch_rows)


def test_the_penguin_model_converts_with_builtin_ops_and_answers_as_keras_does(first_run, tmp_path):
    model_dir = first_run["train"].outputs["model"].uri.removeprefix("file://")
    result = export_edge(model_dir, str(tmp_path / "edge"), batches_of_the_test_split(first_run), TfliteExport(enabled=True), LOG)
    expected_rows = first_run["ingest"].outputs["examples"].properties["splits"]["test"]
    assert result.exported and result.ops == "builtins" and result.rows == expected_rows
    assert result.max_difference < 1e-5 and result.agreement == 1.0
    assert result.tags()["edge_tflite"] == "exported"

    import tensorflow as tf

    from airflow_mlops.runtime.ml.edge import tflite_inputs
    from airflow_mlops.runtime.ml.model import load_model

    flatbuffer = (tmp_path / "edge" / TFLITE_FILE).read_bytes()
    assert len(flatbuffer) == result.size_bytes
    x, _ = next(batches_of_the_test_split(first_run, 5))
    (answer,) = tf.lite.Interpreter(model_content=flatbuffer).get_signature_runner()(**tflite_inputs(x)).values()
    keras_answer = np.asarray(load_model(f"{model_dir}/model.keras")(x, training=False))
    np.testing.assert_allclose(answer, keras_answer, atol=1e-5)
    assert answer.shape == (5, 3)


def test_a_model_outside_the_parity_bound_gets_no_edge_artifact(first_run, tmp_path):
    model_dir = first_run["train"].outputs["model"].uri.removeprefix("file://")
    options = TfliteExport(enabled=True, max_difference=0.0)
    result = export_edge(model_dir, str(tmp_path / "edge"), batches_of_the_test_split(first_run), options, LOG)
    assert not result.exported and result.max_difference > 0
    assert "more than registry.tflite.max_difference 0" in result.reason
    assert not (tmp_path / "edge" / TFLITE_FILE).exists()
    assert result.tags()["edge_tflite"].startswith("not exported: its outputs differ from the Keras model's by up to")


def test_a_model_that_needs_tensorflow_ops_is_refused_when_only_builtins_are_allowed(tmp_path):
    import tensorflow as tf

    class Lower(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec((None, 1), tf.string)])
        def __call__(self, text):
            return tf.strings.to_number(tf.strings.lower(text))

    tf.saved_model.save(Lower(), str(tmp_path / "saved_model"))
    with pytest.raises(ValueError, match="registry.tflite.builtin_ops_only"):
        convert(str(tmp_path / "saved_model"), builtin_ops_only=True)
    _, ops = convert(str(tmp_path / "saved_model"), builtin_ops_only=False)
    assert ops == "builtins+select_tf_ops"


def test_regression_parity_is_measured_in_target_standard_deviations(tmp_path):
    import keras
    import tensorflow as tf

    inputs = keras.Input((1,), name="x")
    model = keras.Model(inputs, keras.layers.Dense(1, kernel_initializer="ones", bias_initializer="zeros")(inputs))
    model.export(str(tmp_path / "saved_model"))
    flatbuffer, _ = convert(str(tmp_path / "saved_model"), builtin_ops_only=True)
    x = {"x": np.array([[1.0], [2.5], [-3.0]], dtype="float32")}
    rows, largest, agreement = parity(flatbuffer, model, [(x, None)], "regression", target_std=10.0, tolerance=1e-6)
    assert (rows, agreement) == (3, 1.0) and largest < 1e-6

    class Shifted:  # a "Keras model" answering 0.5 more than the TFLite one: 0.05 standard deviations
        def __call__(self, x, training=False):
            return tf.constant(x["x"] + 0.5)

    rows, largest, agreement = parity(flatbuffer, Shifted(), [(x, None)], "regression", target_std=10.0, tolerance=0.01)
    assert largest == pytest.approx(0.05) and agreement == 0.0


def test_register_stores_the_tflite_model_with_the_version(pipeline, first_run):
    """The first run registered version 1 without edge export; a retrained model registered with
    ``registry.tflite`` on carries ``model/edge/model.tflite`` and its parity tags."""
    client = pipeline.registry().client()
    assert "edge_tflite" not in client.get_model_version("penguin", "1").tags

    records = dict(first_run)
    records["train"] = pipeline.train(first_run["ingest"].outputs["examples"], first_run["transform"].outputs["transform"], epochs=11)
    records["evaluate"] = pipeline.evaluate(first_run["ingest"].outputs["examples"], records["train"].outputs["model"], min_accuracy=0.5)
    register = pipeline.register(records, params={"tflite": {"enabled": True}}, run_id="edge-1")  # a run of its own
    version = register.outputs["model_version"].properties["version"]
    tags = client.get_model_version("penguin", version).tags
    assert tags["edge_tflite"] == "exported" and tags["edge_tflite_ops"] == "builtins"
    assert float(tags["edge_tflite_max_difference"]) < 1e-5 and tags["edge_tflite_agreement"] == "1"
    assert register.outputs["model_version"].properties["edge_tflite"] == "exported"
    run_id = client.get_model_version("penguin", version).run_id
    files = {a.path for a in client.list_artifacts(run_id, "model/edge")}
    assert files == {f"model/edge/{TFLITE_FILE}", f"model/edge/{PARITY_FILE}"}

    # a bound no model meets: registered all the same, without the edge artifact, with the reason
    records["train"] = pipeline.train(first_run["ingest"].outputs["examples"], first_run["transform"].outputs["transform"], epochs=12)
    records["evaluate"] = pipeline.evaluate(first_run["ingest"].outputs["examples"], records["train"].outputs["model"], min_accuracy=0.5)
    register = pipeline.register(records, params={"tflite": {"enabled": True, "max_difference": 0.0}}, run_id="edge-2")
    version = register.outputs["model_version"].properties["version"]
    tags = client.get_model_version("penguin", version).tags
    assert tags["edge_tflite"].startswith("not exported: its outputs differ") and "max_difference 0" in tags["edge_tflite"]
    run_id = client.get_model_version("penguin", version).run_id
    assert client.list_artifacts(run_id, "model/edge") == []
    assert os.path.basename(client.list_artifacts(run_id, "model")[0].path)  # the model itself is there
