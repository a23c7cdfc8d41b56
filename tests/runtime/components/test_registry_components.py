"""register, infra_validate, deploy and rollback against a real MLflow registry (SQLite)."""

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest
from pipeline_helpers import own_first_run, own_pipeline  # noqa: F401  (fixtures: a pipeline of this module's own)

from airflow_mlops.contract import ComponentError, ErrorKind
from airflow_mlops.contract.layout import deployment_record_uri
from airflow_mlops.runtime.ml.model_registry import CHALLENGER, CHAMPION, PREVIOUS
from airflow_mlops.runtime.serving.record import read_record


def test_register_records_lineage_and_the_first_deploy_makes_the_champion(pipeline, first_run):
    registry = pipeline.registry()
    client = registry.client()
    version = client.get_model_version("penguin", "1")
    tags = version.tags
    assert tags["model_fingerprint"] == first_run["train"].fingerprint
    assert tags["examples_uri"] == first_run["ingest"].outputs["examples"].uri
    assert tags["statistics_uri"] == first_run["validate"].outputs["statistics"].uri
    assert tags["schema_uri"] == first_run["validate"].outputs["schema"].uri
    assert tags["transform_uri"] == first_run["transform"].outputs["transform"].uri
    assert tags["evaluation_uri"] == first_run["evaluate"].outputs["evaluation"].uri
    assert tags["dag_id"] == "penguin_training" and tags["run_id"] == "r1"
    assert str(registry.version(client, CHAMPION).version) == "1"
    assert registry.version(client, CHALLENGER) is None  # the first model: no canary, champion at once
    assert first_run["deploy"].metrics == {"action": "bootstrap", "champion": "1", "canary": None}
    assert first_run["infra_validate"].metrics["p95_ms"] < 1000
    assert "promoted_at" in client.get_model_version("penguin", "1").tags
    # The registry holds the model files themselves.
    import mlflow

    local = mlflow.artifacts.download_artifacts(artifact_uri="models:/penguin@champion")
    assert "model.keras" in __import__("os").listdir(local)


def test_registering_the_same_model_again_is_idempotent(pipeline, first_run):
    again = pipeline.register(first_run, run_id="r2")
    assert again.metrics == {"version": 1, "already_registered": True}
    deployed = pipeline.deploy(again.outputs["model_version"], first_run["infra_validate"].outputs["infra_blessing"], run_id="r2")
    assert deployed.metrics == {"action": "none", "champion": "1", "canary": None}
    assert len(pipeline.registry().client().search_model_versions("name = 'penguin'")) == 1


def test_evaluating_the_champion_itself_again_is_a_cache_hit(pipeline, first_run):
    """A re-run on unchanged data after the first model became the champion: compared with itself
    it is judged as with no champion, which the first run already did."""
    examples = first_run["ingest"].outputs["examples"]
    assert str(pipeline.registry().version(pipeline.registry().client(), CHAMPION).version) == "1"
    again = pipeline.evaluate(examples, first_run["train"].outputs["model"], run_id="r-again")
    assert again.cache_hit and again.fingerprint == first_run["evaluate"].fingerprint


def broken_copy(model_uri: str, tmp_path, how: str) -> str:
    folder = tmp_path / how
    shutil.copytree(model_uri.removeprefix("file://"), folder)
    if how == "unreadable_model_file":
        (folder / "model.keras").write_bytes(b"PK\x03\x04 not a keras archive")
    else:  # the transform names two classes, the model answers three
        transform = json.loads((folder / "transform.json").read_text())
        transform["label"]["classes"] = transform["label"]["classes"][:2]
        (folder / "transform.json").write_text(json.dumps(transform))
    return f"file://{folder}"


@pytest.mark.parametrize("how, words", [
    ("unreadable_model_file", "does not load or answer as the prediction server would"),
    ("outputs_not_the_tasks", "the output has shape (2, 3)"),
])
def test_a_model_the_server_cannot_load_or_use_is_not_registered(pipeline, first_run, tmp_path, how, words):
    client = pipeline.registry().client()
    before = {(v.version, v.run_id) for v in client.search_model_versions("name = 'penguin'")}
    model = first_run["train"].outputs["model"]
    broken = dataclasses.replace(model, uri=broken_copy(model.uri, tmp_path, how), fingerprint=f"broken-{how}")
    records = {**first_run, "train": dataclasses.replace(first_run["train"], outputs={**first_run["train"].outputs, "model": broken})}
    with pytest.raises(ComponentError) as error:
        pipeline.register(records, run_id=f"broken-{how}")
    assert error.value.kind is ErrorKind.MODEL and words in str(error.value), str(error.value)
    assert {(v.version, v.run_id) for v in client.search_model_versions("name = 'penguin'")} == before
    assert pipeline.registry().version(client, CHALLENGER) is None


def test_a_new_model_goes_to_canary_then_champion_and_rolls_back(pipeline, first_run):
    examples = first_run["ingest"].outputs["examples"]
    other = pipeline.train(examples, first_run["transform"].outputs["transform"], epochs=12, run_id="r3")
    evaluation = pipeline.evaluate(examples, other.outputs["model"], run_id="r3")
    records = {**first_run, "train": other, "evaluate": evaluation}
    registered = pipeline.register(records, run_id="r3")
    registry = pipeline.registry()
    client = registry.client()
    new = str(registered.metrics["version"])
    assert new != "1" and str(registry.version(client, CHALLENGER).version) == new
    infra = pipeline.infra_validate(registered.outputs["model_version"], examples, run_id="r3")
    canary = pipeline.deploy(registered.outputs["model_version"], infra.outputs["infra_blessing"], weight=0.25, run_id="r3")
    assert canary.metrics == {"action": "canary", "champion": "1", "canary": new}
    record = read_record(deployment_record_uri(pipeline.root, "penguin"), "penguin")
    assert (record.canary.version, record.canary.weight) == (new, 0.25)
    again = pipeline.deploy(registered.outputs["model_version"], infra.outputs["infra_blessing"], weight=0.25, run_id="r3b")
    assert again.metrics == {"action": "none", "champion": "1", "canary": new}  # its window is not restarted
    assert read_record(deployment_record_uri(pipeline.root, "penguin"), "penguin").canary == record.canary

    promoted = pipeline.deploy(registered.outputs["model_version"], infra.outputs["infra_blessing"], action="promote", run_id="r3")
    assert promoted.metrics == {"action": "promote", "champion": new, "canary": None}
    assert str(registry.version(client, CHAMPION).version) == new
    assert str(registry.version(client, PREVIOUS).version) == "1"
    assert registry.version(client, CHALLENGER) is None
    # A re-run whose steps are all cache hits deploys version 1 again: it served and was superseded
    old_one = pipeline.deploy(first_run["register"].outputs["model_version"], first_run["infra_validate"].outputs["infra_blessing"],
                              run_id="r3c")
    assert old_one.metrics == {"action": "none", "champion": new, "canary": None}
    # against another champion version 1 is evaluated again: a new baseline
    rejudged = pipeline.evaluate(examples, first_run["train"].outputs["model"], run_id="r3c")
    assert not rejudged.cache_hit and rejudged.fingerprint != first_run["evaluate"].fingerprint
    assert "served before" in old_one.outputs["deployment"].properties["reason"]
    assert registry.version(client, CHALLENGER) is None

    rolled = pipeline.run("rollback", {"reason": "test"}, run_id="r4")
    assert rolled.metrics == {"champion": "1", "rolled_back_from": new}
    assert str(registry.version(client, CHAMPION).version) == "1"
    assert registry.version(client, PREVIOUS) is None  # nothing earlier than version 1
    # nor does the version the champion was rolled back from go to a canary again
    bad = pipeline.deploy(registered.outputs["model_version"], infra.outputs["infra_blessing"], run_id="r5")
    assert bad.metrics == {"action": "none", "champion": "1", "canary": None}
    assert "rolled back from" in bad.outputs["deployment"].properties["reason"]
    assert registry.version(client, CHALLENGER) is None
    assert [d.action for d in read_record(deployment_record_uri(pipeline.root, "penguin"), "penguin").history] == [
        "bootstrap", "canary", "promote", "rollback"
    ]


def test_several_processes_can_open_a_new_sqlite_registry_at_once(tmp_path):
    """Parallel backfill runs open the embedded registry at the same moment; MLflow's schema
    creation must not race (it did: 'Online migration expected to match one row')."""
    import subprocess
    import sys

    uri = f"sqlite:///{tmp_path}/new/mlflow.db"
    probe = (
        "from airflow_mlops.runtime.ml.model_registry import Registry\n"
        f"r = Registry({uri!r}, 'penguin', 'penguin', 'file://{tmp_path}/mlruns')\n"
        "c = r.client()\n"
        "print('experiment', r.experiment_id(c) is not None, 'champion', r.version(c, 'champion'))\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", probe], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(6)]
    results = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    for code, out, err in results:
        assert code == 0, err[-3000:]
        assert out.strip().endswith("experiment True champion None")
