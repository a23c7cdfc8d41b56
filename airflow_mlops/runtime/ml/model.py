"""Loading a trained model (``model.keras``) for evaluation and serving.

A model from a training module file carries that file (``training_module.py``) next to
``model.keras``: it is imported before loading, so the module's own Keras layers (registered
with ``keras.saving.register_keras_serializable``) load where the module is not installed.
"""

from __future__ import annotations

import os
import threading

#: the module file's copy inside a model artifact
MODULE_FILE = "training_module.py"
_LOADING = threading.Lock()


def load_model(path: str):
    """The Keras model at ``path`` (``.../model.keras``)."""
    import keras

    import airflow_mlops.runtime.ml.preprocessing  # noqa: F401  (registers the built-in layers)

    bundled = os.path.join(os.path.dirname(path), MODULE_FILE)
    if not os.path.exists(bundled):
        return keras.models.load_model(path)
    from airflow_mlops.runtime.ml.training_module import import_file, registered_classes

    # Versions whose module files register a layer under the same name (an edited BillShape)
    # must each load with their own class. Keras looks its global registry up before a
    # custom_object_scope (keras 3.5 serialization_lib), and the file imported last owns the
    # name there: so the name is given back to this version's class before loading.
    with _LOADING:
        keras.saving.get_custom_objects().update(registered_classes(import_file(bundled)))
        return keras.models.load_model(path)
