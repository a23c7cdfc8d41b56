"""Training: it converges, it can overfit a handful of rows, it stays finite on absurd input,
the component writes its artifacts, and a killed training resumes from its checkpoint."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from pipeline_helpers import FEATURES, LABEL

from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.contract import RESULT_FILE, SPEC_FILE, ExecutionRecord, join_uri
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

    from airflow_mlops.runtime.ml.model import build_model

    keras.utils.set_random_seed(1)
    model = build_model(transform, hidden, learning_rate)
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


def test_train_component_writes_its_artifacts(first_run):
    record = first_run["train"]
    files = {f.rsplit("/model/", 1)[1] for f in ArtifactStore().list_files(record.outputs["model"].uri)}
    assert {"model.keras", "history.json", "training_curves.png", "transform.json", "saved_model/saved_model.pb"} <= files
    history = ArtifactStore().read_json(record.outputs["model"].uri + "/history.json")
    assert len(history["loss"]) == record.metrics["epochs_run"] == 10
    assert history["loss"][-1] < history["loss"][0]
    with ArtifactStore().open(record.outputs["model"].uri + "/training_curves.png") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert record.metrics["gpus"] == 0 and record.metrics["resumed_from_epoch"] is None


def test_epoch_metrics_reach_mlflow(pipeline, first_run):
    client = pipeline.registry().client()
    run_id = first_run["train"].outputs["model"].properties["mlflow_run_id"]
    history = client.get_metric_history(run_id, "train.loss")
    assert [m.step for m in history] == list(range(10))
    assert client.get_run(run_id).data.params["train.epochs"] == "10"


def test_a_killed_training_resumes_from_its_last_checkpoint(pipeline, first_run):
    """Kill the train step mid-way (as a preempted node would), run it again: it resumes."""
    examples, transform_ref = first_run["ingest"].outputs["examples"], first_run["transform"].outputs["transform"]
    params = {"label": LABEL, "hidden_units": [8], "learning_rate": 0.01, "epochs": 400, "batch_size": 32, "seed": 7}

    def launch(name: str) -> subprocess.Popen:
        spec = pipeline.spec("train", params, {"examples": examples, "transform": transform_ref})
        spec = type(spec)(**{**spec.__dict__, "invocation_uri": join_uri(pipeline.root, "penguin", "_invocations", name)})
        ArtifactStore().write_text(join_uri(spec.invocation_uri, SPEC_FILE), spec.to_json())
        return subprocess.Popen(
            [sys.executable, "-m", "airflow_mlops.runtime.components", "train", "--spec", join_uri(spec.invocation_uri, SPEC_FILE)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        ), spec

    proc, _ = launch("train-killed")
    for line in proc.stdout:
        if "epoch 5/400" in line:
            break
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)

    proc, spec = launch("train-resumed")
    output = proc.communicate(timeout=600)[0]
    assert proc.returncode == 0, output[-3000:]
    assert "resuming from the checkpoint after epoch" in output
    record = ExecutionRecord.from_json(ArtifactStore().read_text(join_uri(spec.invocation_uri, RESULT_FILE)))
    assert record.metrics["resumed_from_epoch"] >= 5
    assert record.metrics["epochs_run"] == 400 - record.metrics["resumed_from_epoch"]
    assert "epoch 1/400" not in output  # it did not start over
    # The checkpoints are gone once the step succeeded.
    assert not ArtifactStore().exists(join_uri(pipeline.root, "penguin", "_scratch", "train", record.fingerprint))
