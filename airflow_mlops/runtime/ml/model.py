"""Loading a trained model (``model.keras``) for evaluation and serving.

A model from a training module file carries that file (``training_module.py``) next to
``model.keras``: it is imported before loading, so the module's own Keras layers (registered
with ``keras.saving.register_keras_serializable``) load where the module is not installed.
"""

from __future__ import annotations

import os

#: the module file's copy inside a model artifact
MODULE_FILE = "training_module.py"


def load_model(path: str):
    """The Keras model at ``path`` (``.../model.keras``)."""
    import keras

    import airflow_mlops.runtime.ml.preprocessing  # noqa: F401  (registers the built-in layers)

    bundled = os.path.join(os.path.dirname(path), MODULE_FILE)
    if os.path.exists(bundled):
        from airflow_mlops.runtime.ml.training_module import import_file

        import_file(bundled)
    return keras.models.load_model(path)
