"""The built-in training module: the transform's preprocessing, then a small dense network
(``training.hidden_units``) and the task's head, trained with Adam (``training.learning_rate``).

It is what trains when ``training.module`` is not given, and an example of the module API
(:mod:`airflow_mlops.runtime.ml.context`).
"""

from __future__ import annotations

from airflow_mlops.runtime.ml.context import TrainingContext


def build_model(context: TrainingContext):
    import keras

    inputs = context.inputs()
    x = context.preprocess(inputs)
    for i, units in enumerate(context.hidden_units):
        x = keras.layers.Dense(units, activation="relu", name=f"hidden_{i}")(x)
    return context.compile(keras.Model(inputs=inputs, outputs=context.head(x), name=f"{context.task}_mlp"))
