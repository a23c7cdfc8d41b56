"""A custom penguin model: the built-in transform plus engineered bill-shape features (a layer
of our own) and a wider network with dropout.

Train it instead of the built-in MLP with ``training.module: model.py`` in pipeline.yaml. The API
is in ``airflow_mlops.runtime.ml.context``. Layers of your own must be registered with
``keras.saving.register_keras_serializable`` so that the saved model loads again: this file is
stored with the model and imported before it is loaded (in evaluation and in the server).
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="penguin_model")
class BillShape(keras.layers.Layer):
    """log(bill length / bill depth) and log(flipper length / bill length): shape, not size.
    Missing or non-positive measurements give 0."""

    def call(self, inputs):
        length, depth, flipper = (ops.cast(t, "float32") for t in inputs)

        def log_ratio(a, b):
            ok = ops.logical_and(ops.greater(a, 0.0), ops.greater(b, 0.0))
            return ops.where(ok, ops.log(ops.where(ok, a, 1.0) / ops.where(ok, b, 1.0)), 0.0)

        return ops.concatenate([log_ratio(length, depth), log_ratio(flipper, length)], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], 2)


def build_model(context):
    hp = context.hyperparameters
    inputs = context.inputs()
    shape = BillShape(name="bill_shape")([inputs["bill_length_mm"], inputs["bill_depth_mm"], inputs["flipper_length_mm"]])
    x = keras.layers.Concatenate(name="features_and_shape")([context.preprocess(inputs), shape])
    for i, units in enumerate(hp.get("hidden_units", [32, 16])):
        x = keras.layers.Dense(int(units), activation="relu", name=f"hidden_{i}")(x)
        x = keras.layers.Dropout(float(hp.get("dropout", 0.1)), name=f"dropout_{i}")(x)
    # context.head: softmax over the species; context.compile: the task's loss, Adam at training.learning_rate
    return context.compile(keras.Model(inputs, context.head(x), name="penguin_bill_shape"))
