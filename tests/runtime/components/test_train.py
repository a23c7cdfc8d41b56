"""The train component: it writes its artifacts, logs epochs to MLflow, and a killed training
resumes from its checkpoint (the model itself: tests/runtime/ml/test_model.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from pipeline_helpers import LABEL

from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.contract import RESULT_FILE, SPEC_FILE, ExecutionRecord, join_uri


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
    params = {"label": LABEL, "hidden_units": [8], "learning_rate": 0.01, "epochs": 60, "batch_size": 32, "seed": 7}

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
        if "epoch 5/60" in line:
            break
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)

    proc, spec = launch("train-resumed")
    output = proc.communicate(timeout=600)[0]
    assert proc.returncode == 0, output[-3000:]
    assert "resuming from the checkpoint after epoch" in output
    record = ExecutionRecord.from_json(ArtifactStore().read_text(join_uri(spec.invocation_uri, RESULT_FILE)))
    assert record.metrics["resumed_from_epoch"] >= 5
    assert record.metrics["epochs_run"] == 60 - record.metrics["resumed_from_epoch"]
    assert "epoch 1/400" not in output  # it did not start over
    # The checkpoints are gone once the step succeeded.
    assert not ArtifactStore().exists(join_uri(pipeline.root, "penguin", "_scratch", "train", record.fingerprint))
