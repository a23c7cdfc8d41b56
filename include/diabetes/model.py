"""The diabetes model: wide (linear in the standardised measurements) and deep (a small network)
in one Dense output, trained with early stopping on the eval split.

A training module for airflow-mlops (``training.module: model.py`` in pipeline.yaml); the API is
in ``airflow_mlops.runtime.ml.context``. Hyper-parameters come from ``training.hyperparameters``.
"""

from __future__ import annotations


def build_model(context):
    import keras

    hp = context.hyperparameters
    inputs = context.inputs()
    x = context.preprocess(inputs)  # standardised measurements, missing values imputed
    deep = keras.layers.Dense(int(hp.get("hidden_units", 16)), activation="relu", name="deep_hidden")(x)
    deep = keras.layers.Dropout(float(hp.get("dropout", 0.0)), name="deep_dropout")(deep)
    wide_and_deep = keras.layers.Concatenate(name="wide_and_deep")([x, deep])
    # context.head: one value in the target's scale; context.compile: Adam and mean squared error
    return context.compile(keras.Model(inputs, context.head(wide_and_deep), name="diabetes_wide_and_deep"))


def fit(model, data, context):
    import keras

    stop = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=int(context.hyperparameters.get("patience", 20)), restore_best_weights=True
    )
    # the splits as tf.data streams (any size; the train one shuffled each epoch); data.x_train,
    # data.y_train, ... would give them as arrays, for data that fits in memory
    return model.fit(
        data.train_dataset(context.batch_size),
        validation_data=data.eval_dataset(context.batch_size),
        epochs=context.epochs,
        verbose=0,
        callbacks=[*context.callbacks, stop],  # context.callbacks: checkpoints, logs, MLflow metrics
    ).history
