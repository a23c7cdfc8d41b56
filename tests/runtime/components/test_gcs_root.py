"""No shared filesystem: the whole training pipeline, then monitoring and a canary analysis, with a
gs:// artifact root on the GCS emulator (real google-cloud-storage, gcsfs and MLflow GCS clients).

Every step reads its inputs from the bucket and writes its outputs, execution record and
invocation files there; the MLflow tracking store is a local SQLite file (the registry is not the
artifact root), but the registered models' files live under the gs:// root
(``<root>/<pipeline>/_mlflow``), so a step on another machine can load them. Each step runs in
its own process through the component CLI, its spec and result in the bucket. A sentinel local
artifact root (``$MLOPS_ARTIFACT_ROOT``) and the working directory stay empty, and no step leaves
a temporary download behind in ``$TMPDIR``.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

import pytest
from component_cli import run_cli
from log_helpers import log_records, record
from pipeline_helpers import FEATURES, LABEL, PENGUIN_SCHEMA, Pipeline

from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.contract import RESULT_FILE, ExecutionRecord, join_uri
from airflow_mlops.contract.layout import (
    deployment_record_uri,
    execution_dir,
    feedback_uri,
    predictions_uri,
    verdicts_uri,
)

CANARY = {"max_error_rate_increase": 0.01, "max_latency_ratio": 5.0, "max_accuracy_drop": 0.05, "min_requests": 20,
          "min_labels": 10, "force": True}
MONITOR = {"drift_share": 0.5, "must_not_drift": ["body_mass_g"], "min_rows": 30, "min_accuracy": 0.85, "min_labels": 20}


class CliPipeline(Pipeline):
    """Each step in its own process through the component CLI, as a launcher runs it: the spec is
    read from the bucket and the result comes back from there, nothing else is shared."""

    def run(self, component: str, params: dict, inputs=None, **kw) -> ExecutionRecord:
        spec = self.spec(component, params, inputs, **kw)
        done = run_cli(spec, timeout=600)
        assert done.returncode == 0, f"{component}: exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return ExecutionRecord.from_json(ArtifactStore().read_text(join_uri(spec.invocation_uri, RESULT_FILE)))


def local_files(path) -> list[str]:
    return sorted(os.path.relpath(os.path.join(d, f), path) for d, _, files in os.walk(path) for f in files)


@pytest.fixture
def gcs_pipeline(gcs_bucket, penguins_csv, tmp_path, monkeypatch):
    """A pipeline whose artifact root, data source and curated schema are in the bucket."""
    sentinel = tmp_path / "local-artifacts"
    sentinel.mkdir()
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.setenv("MLOPS_ARTIFACT_ROOT", f"file://{sentinel}")
    monkeypatch.chdir(workdir)
    scratch = tmp_path / "tmp"  # the steps' temporary downloads (Keras, TFDV, MLflow want local files)
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    gcs_bucket.blob("landing/penguins.csv").upload_from_filename(str(penguins_csv))
    gcs_bucket.blob("config/schema.pbtxt").upload_from_filename(str(PENGUIN_SCHEMA))
    bucket = f"gs://{gcs_bucket.name}"
    pipeline = CliPipeline(root=f"{bucket}/mlops", tracking_uri=f"sqlite:///{tmp_path}/mlflow.db",
                        schema_uri=f"{bucket}/config/schema.pbtxt")
    yield pipeline, f"{bucket}/landing/penguins.csv", gcs_bucket
    assert local_files(sentinel) == [], "a step wrote under the local artifact root"
    assert local_files(workdir) == [], "a step wrote into the working directory"
    assert [p for p in os.listdir(scratch) if p.startswith("mlops-")] == [], "a step left its temporary download behind"


def test_training_monitoring_and_canary_on_a_gs_root(gcs_pipeline):
    from airflow_mlops.runtime.ml.examples import read_split
    from airflow_mlops.runtime.serving.record import read_record

    pipeline, source, bucket = gcs_pipeline
    root, store = pipeline.root, ArtifactStore()

    # ingest -> validate -> transform -> train -> evaluate -> register -> infra_validate -> deploy
    first = pipeline.chain(source, run_id="r1", epochs=10)
    assert set(first) == {"ingest", "validate", "transform", "train", "evaluate", "register", "infra_validate", "deploy"}
    assert first["deploy"].metrics == {"action": "bootstrap", "champion": "1", "canary": None}

    # A second model (other epochs) goes to canary: the challenger's files come from the bucket too.
    examples = first["ingest"].outputs["examples"]
    train2 = pipeline.train(examples, first["transform"].outputs["transform"], epochs=12, run_id="r2")
    evaluate2 = pipeline.evaluate(examples, train2.outputs["model"], run_id="r2")
    second = {**first, "train": train2, "evaluate": evaluate2}
    second["register"] = pipeline.register(second, run_id="r2")
    version = second["register"].outputs["model_version"]
    assert version.properties["version"] == "2"
    second["infra_validate"] = pipeline.infra_validate(version, examples, run_id="r2")
    second["deploy"] = pipeline.deploy(version, second["infra_validate"].outputs["infra_blessing"], weight=0.5, run_id="r2")
    assert second["deploy"].metrics == {"action": "canary", "champion": "1", "canary": "2"}

    # Served predictions, as the server logs them, and labels arriving later: all in the bucket.
    rows = read_split(examples, "test").reset_index(drop=True)
    start = datetime.now(UTC)  # after the canary started: canary_analysis reads the log since then
    stamps = [(start + timedelta(milliseconds=10 * i)).isoformat(timespec="milliseconds") for i in range(len(rows))]
    logged = []
    for i, (_, row) in enumerate(rows.iterrows()):
        rec = record(row, f"p-{i}", stamps[i])
        rec["model_version"], rec["model_role"] = ("2", "challenger") if i % 2 else ("1", "champion")
        logged.append(rec)
    log_records(predictions_uri(root, "penguin"), logged)
    labels = "request_id,label\n" + "".join(f"p-{i},{row['species']}\n" for i, (_, row) in enumerate(rows.iterrows()))
    store.write_text(join_uri(feedback_uri(root, "penguin"), "labels.csv"), labels)

    window_start = start.replace(minute=0, second=0, microsecond=0)
    window_end = datetime.fromisoformat(stamps[-1]).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    monitored = pipeline.run("monitor", {"features": FEATURES, "label": LABEL, "window_start": window_start.isoformat(),
                                         "window_end": window_end.isoformat(), **MONITOR}, run_id="m1")
    assert monitored.metrics["status"] == "ok", monitored.metrics
    assert store.list_files(verdicts_uri(root, "penguin"))

    canary = pipeline.run("canary_analysis", CANARY, run_id="c1")
    assert canary.metrics["decision"] == "promote", store.read_json(canary.outputs["canary_report"].uri + "/canary_report.json")
    assert read_record(deployment_record_uri(root, "penguin"), "penguin").champion == "2"

    # Everything is in the bucket; nothing anywhere names a local file.
    records = {**{f"1-{k}": v for k, v in first.items()}, **{f"2-{k}": v for k, v in second.items()},
               "monitor": monitored, "canary_analysis": canary}
    blobs = {b.name for b in bucket.client.list_blobs(bucket.name, prefix="mlops/")}
    for name, rec in records.items():
        execution = join_uri(execution_dir(root, "penguin", rec.component, rec.fingerprint), "execution.json")
        assert execution.removeprefix(f"gs://{bucket.name}/") in blobs, name
        for ref in rec.outputs.values():
            assert ref.uri.startswith((f"{root}/", "models:/")), (name, ref.uri)
    assert any(b.startswith("mlops/penguin/_mlflow/") and b.endswith("model.keras") for b in blobs), sorted(b for b in blobs if "_mlflow" in b or "model" in b)
    assert any(b.startswith("mlops/penguin/_invocations/") and b.endswith("result.json") for b in blobs)
    for name in sorted(blobs):
        if name.endswith(".json"):
            assert "file://" not in bucket.blob(name).download_as_text(), name
    client = pipeline.registry().client()
    for v in client.search_model_versions("name = 'penguin'"):
        assert client.get_run(v.run_id).info.artifact_uri.startswith(f"{root}/penguin/_mlflow/"), v.version
        assert all("file://" not in str(t) for t in v.tags.values()), v.tags
    assert json.loads(bucket.blob("mlops/penguin/deployment/record.json").download_as_text())["champion"] == "2"


def test_training_checkpoints_travel_through_a_gs_scratch_directory(gcs_bucket):
    """A retry on another machine resumes: checkpoints are downloaded from the gs:// scratch
    directory before fitting and uploaded after every epoch."""
    import logging

    from airflow_mlops.runtime.components.train import checkpoints

    scratch, store, log = f"gs://{gcs_bucket.name}/mlops/penguin/_scratch/train/fp", ArtifactStore(), logging.getLogger("t")
    with checkpoints(scratch, log) as (backup_dir, resumed, on_checkpoint):
        assert resumed is None and not backup_dir.startswith("gs://")
        os.makedirs(backup_dir, exist_ok=True)
        with open(f"{backup_dir}/latest.weights.h5", "wb") as f:
            f.write(b"weights after epoch 3")
        with open(f"{backup_dir}/training_metadata.json", "w") as f:
            json.dump({"epoch": 3}, f)
        on_checkpoint()  # what the epoch-end callback does
    assert not os.path.exists(backup_dir)  # the local copy is scratch
    assert store.read_json(f"{scratch}/backup/training_metadata.json") == {"epoch": 3}

    with checkpoints(scratch, log) as (backup_dir, resumed, _):  # the retry, elsewhere
        assert resumed == 3
        with open(f"{backup_dir}/latest.weights.h5", "rb") as f:
            assert f.read() == b"weights after epoch 3"
