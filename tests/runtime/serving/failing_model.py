"""A penguin classifier that loads and passes the server's load check but fails on every real row.

The load check (:func:`~airflow_mlops.runtime.serving.models.load_model_dir`) predicts two rows
with every feature missing; :class:`FailsOnRealRows` answers those and raises on any row with a
measurement. Written as a model directory (``model.keras``, ``transform.json`` and the
``training_module.py`` that defines the layer, as a bundled training module is), so that a
server whose model cache holds it loads it like any downloaded version."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from serving_helpers import FEATURES

CLASSES = ["Adelie", "Chinstrap", "Gentoo"]
MESSAGE = "this challenger fails on every real row"

LAYER = f'''
import keras
import numpy as np


@keras.saving.register_keras_serializable(package="failing_challenger")
class FailsOnRealRows(keras.layers.Layer):
    def call(self, inputs):
        numbers = np.concatenate([keras.ops.convert_to_numpy(x).astype("float64") for x in inputs[:{sum(k == "numeric" for k in FEATURES.values())}]], axis=1)
        if not np.isnan(numbers).all():
            raise ValueError("{MESSAGE}")
        return keras.ops.softmax(keras.ops.zeros((numbers.shape[0], {len(CLASSES)})))

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], {len(CLASSES)})
'''


def write_failing_model(model_dir: Path) -> Path:
    """The model directory at ``model_dir`` (created; replaced if it exists)."""
    import keras

    from airflow_mlops.runtime.ml.training_module import import_file, registered_classes

    if model_dir.exists():
        shutil.rmtree(model_dir)
    model_dir.mkdir(parents=True)
    (model_dir / "training_module.py").write_text(LAYER)
    module = import_file(str(model_dir / "training_module.py"))
    keras.saving.get_custom_objects().update(registered_classes(module))
    numeric = [n for n, k in FEATURES.items() if k == "numeric"]
    categorical = [n for n, k in FEATURES.items() if k != "numeric"]
    inputs = {n: keras.Input(shape=(1,), name=n, dtype="float32") for n in numeric}
    inputs |= {n: keras.Input(shape=(1,), name=n, dtype="string") for n in categorical}
    output = module.FailsOnRealRows()([inputs[n] for n in numeric + categorical])
    keras.Model(inputs=inputs, outputs=output).save(model_dir / "model.keras")
    transform = {"label": {"name": "species", "classes": CLASSES},
                 "features": {n: {"type": k} for n, k in FEATURES.items()}}
    (model_dir / "transform.json").write_text(json.dumps(transform))
    return model_dir
