"""A small regression model (scikit-learn's diabetes data, a few features) registered in MLflow
the way register does it, and a classifier of the same features for task-mismatch tests."""

from __future__ import annotations

import json
from pathlib import Path

FEATURES = {"bmi": "numeric", "bp": "numeric", "s5": "numeric", "group": "categorical"}
LABEL = "target"
ROW = {"bmi": 0.06, "bp": 0.02, "s5": 0.03, "group": "high"}


def diabetes_frame():
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True).frame
    frame["group"] = ["high" if v > 0 else "low" for v in frame["age"]]
    return frame[[*FEATURES, LABEL]]


def build_model(frame, task: str, directory: Path) -> Path:
    """A model of ``task`` trained 5 epochs on ``frame``, saved as ``directory/model.keras`` +
    ``transform.json`` (the model artifact's layout)."""
    import keras

    from airflow_mlops.runtime.components.transform import analyze_chunk, finalize, merge
    from airflow_mlops.runtime.ml import mlp
    from airflow_mlops.runtime.ml.context import TrainingContext
    from airflow_mlops.runtime.ml.features import training_arrays

    label_kind = "numeric" if task == "regression" else "categorical"
    columns = {name: frame[name].tolist() for name in [*FEATURES, LABEL]}
    transform = finalize(merge([analyze_chunk(columns, FEATURES, LABEL, label_kind)]), FEATURES, LABEL, task)
    keras.utils.set_random_seed(1)
    context = TrainingContext.from_transform(transform, task, hyperparameters={}, learning_rate=0.01, epochs=5,
                                             batch_size=32, seed=1, hidden_units=(8,))
    model = mlp.build_model(context)
    x, y, _ = training_arrays(frame, transform, LABEL)
    model.fit(x, y, epochs=5, batch_size=32, verbose=0)
    directory.mkdir(parents=True, exist_ok=True)
    model.save(directory / "model.keras")
    (directory / "transform.json").write_text(json.dumps(transform))
    return directory


def register(tracking_uri: str, artifact_root: str, name: str, model_dir: Path) -> str:
    """``model_dir`` as a new version of ``name`` (the files logged to a run, as register does); its version."""
    from airflow_mlops.runtime.ml.model_registry import Registry

    registry = Registry(tracking_uri, name, name, f"{artifact_root}/{name}/_mlflow")
    client = registry.client()
    if not client.search_registered_models(f"name = '{name}'"):
        client.create_registered_model(name)
    run_id = client.create_run(registry.experiment_id(client)).info.run_id
    client.log_artifacts(run_id, str(model_dir), "model")
    return str(client.create_model_version(name, source=f"runs:/{run_id}/model", run_id=run_id).version)


def keras_values(model_dir: Path, rows: list[dict]) -> list[float]:
    """The saved model's own output for ``rows``, one value per row."""
    import numpy as np

    from airflow_mlops.runtime.ml.model import load_model

    model = load_model(str(model_dir / "model.keras"))
    inputs = {}
    for name, kind in FEATURES.items():
        if kind == "numeric":
            inputs[name] = np.array([[np.nan if r[name] is None else r[name]] for r in rows], dtype="float32")
        else:
            inputs[name] = np.array([["" if r[name] is None else r[name]] for r in rows], dtype=object)
    return [float(v) for v in np.asarray(model(inputs, training=False)).reshape(-1)]
