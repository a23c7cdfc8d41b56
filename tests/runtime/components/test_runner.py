"""Execution records and caching: hit, miss, disabled, and a step killed before its record."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys

import pytest
from component_cli import HERE, make_spec, run_cli

from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.contract import (
    ERROR_FILE,
    EXECUTION_FILE,
    EXIT_REJECTED,
    RESULT_FILE,
    SPEC_FILE,
    ArtifactRef,
    ComponentError,
    ErrorKind,
    ExecutionRecord,
    Status,
    join_uri,
)
from airflow_mlops.runtime.components.runner import run_component

sys.path.insert(0, str(HERE))
import toy_components  # noqa: E402

TOY = "toy_components"


@pytest.fixture
def counter(tmp_path):
    return tmp_path / "executions.txt"


def executions(counter) -> int:
    return int(counter.read_text()) if counter.exists() else 0


def test_miss_then_hit(artifact_root, counter):
    spec = make_spec(TOY, artifact_root, {"counter_file": str(counter), "value": "a"})
    first = run_component(toy_components.COMPONENT, spec)
    second = run_component(toy_components.COMPONENT, spec)
    assert (first.cache_hit, second.cache_hit) == (False, True)
    assert executions(counter) == 1
    assert second.fingerprint == first.fingerprint
    assert second.outputs == first.outputs
    stored = ArtifactStore().read_record(join_uri(artifact_root, "penguin", "toy", first.fingerprint))
    assert stored.status is Status.SUCCEEDED and not stored.cache_hit
    assert ArtifactStore().read_text(join_uri(first.outputs["out"].uri, "value.txt")) == "a"


def test_changed_params_are_a_miss(artifact_root, counter):
    a = run_component(toy_components.COMPONENT, make_spec(TOY, artifact_root, {"counter_file": str(counter), "value": "a"}))
    b = run_component(toy_components.COMPONENT, make_spec(TOY, artifact_root, {"counter_file": str(counter), "value": "b"}))
    assert a.fingerprint != b.fingerprint and not b.cache_hit
    assert executions(counter) == 2


def test_cache_disabled_executes_again_and_replaces_the_record(artifact_root, counter):
    params = {"counter_file": str(counter), "value": "a"}
    first = run_component(toy_components.COMPONENT, make_spec(TOY, artifact_root, params))
    again = run_component(toy_components.COMPONENT, make_spec(TOY, artifact_root, params, cache=False))
    assert not again.cache_hit and executions(counter) == 2
    assert again.fingerprint == first.fingerprint
    stored = ArtifactStore().read_record(join_uri(artifact_root, "penguin", "toy", again.fingerprint))
    assert stored.started_at == again.started_at != first.started_at


def test_a_crash_after_outputs_leaves_no_record_and_is_not_a_cache_hit(artifact_root, counter):
    params = {"counter_file": str(counter), "value": "a"}
    with pytest.raises(RuntimeError):
        run_component(toy_components.COMPONENT, make_spec(TOY, artifact_root, {**params, "fail_after_outputs": True}))
    retry = run_component(toy_components.COMPONENT, make_spec(TOY, artifact_root, params))
    assert not retry.cache_hit and executions(counter) == 2


def test_a_step_killed_before_its_record_is_neither_consumed_nor_a_cache_hit(artifact_root, counter):
    params = {"counter_file": str(counter), "value": "a"}
    spec = make_spec(TOY, artifact_root, params, name="killed")
    spec_uri = join_uri(spec.invocation_uri, SPEC_FILE)
    ArtifactStore().write_text(spec_uri, spec.to_json())
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow_mlops.runtime.components", TOY, "--spec", spec_uri],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(HERE), "TOY_SLEEP_AFTER_OUTPUTS": "120"},
    )
    for line in proc.stdout:
        if "outputs written" in line:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    files = ArtifactStore().list_files(join_uri(artifact_root, "penguin", "toy"))
    assert [f.rsplit("/", 2)[-2:] for f in files] == [["out", "value.txt"]], "the killed step wrote its output, no record"
    killed_attempt = files[0].rsplit("/out/", 1)[0]
    killed_dir = killed_attempt.rsplit("/", 1)[0]

    # A consumer refuses the half-finished output...
    orphan = ArtifactRef("out", "Toy", join_uri(killed_attempt, "out"), "toy", "x", join_uri(killed_dir, EXECUTION_FILE))
    with pytest.raises(ComponentError) as err:
        run_component(toy_components.CONSUMER, make_spec("consumer", artifact_root, {}, inputs={"source": orphan}))
    assert err.value.kind is ErrorKind.DATA and "no succeeded execution record" in err.value.message

    # ...and the rerun (same fingerprint) executes instead of reusing it, then records success.
    result = run_cli(make_spec(TOY, artifact_root, params, name="rerun"))
    assert result.returncode == 0, result.stdout + result.stderr
    record = ExecutionRecord.from_json(
        ArtifactStore().read_text(join_uri(artifact_root, "penguin", "_invocations", "rerun", RESULT_FILE))
    )
    assert not record.cache_hit and executions(counter) == 2
    assert join_uri(artifact_root, "penguin", "toy", record.fingerprint) == killed_dir
    assert ArtifactStore().succeeded_record(killed_dir) is not None
    assert not record.outputs["out"].uri.startswith(killed_attempt)  # a fresh attempt, not the leftovers
    consumed = run_component(
        toy_components.CONSUMER, make_spec("consumer", artifact_root, {}, inputs={"source": record.outputs["out"]})
    )
    assert consumed.outputs["copy"].uri == record.outputs["out"].uri


def test_cli_rejects_an_unknown_component_with_an_error_report(artifact_root):
    result = run_cli(make_spec("no_such_component", artifact_root, {}))
    assert result.returncode == EXIT_REJECTED
    report = ArtifactStore().read_json(join_uri(artifact_root, "penguin", "_invocations", "inv", ERROR_FILE))
    assert report["kind"] == "config" and "unknown component 'no_such_component'" in report["message"]


def test_cli_reports_a_crash_as_internal_and_retryable(artifact_root, counter):
    result = run_cli(make_spec(TOY, artifact_root, {"counter_file": str(counter), "fail_after_outputs": True}))
    assert result.returncode == 1
    report = ArtifactStore().read_json(join_uri(artifact_root, "penguin", "_invocations", "inv", ERROR_FILE))
    assert report["kind"] == "internal"
    assert "simulated crash" in report["message"] and "Traceback" in report["details"]["traceback"]


def test_cli_rejects_a_spec_with_wrong_parameters_naming_each_field(artifact_root):
    """A built-in component reads its spec into its parameter record before anything runs."""
    result = run_cli(make_spec("train", artifact_root, {"label": "species", "epochs": "many", "learning_rat": 0.1}))
    assert result.returncode == EXIT_REJECTED
    report = ArtifactStore().read_json(join_uri(artifact_root, "penguin", "_invocations", "inv", ERROR_FILE))
    assert report["kind"] == "config"
    assert report["message"].startswith("train: invalid parameters in the spec:")
    assert report["details"]["problems"] == [
        "learning_rat: unknown field (allowed: batch_size, epochs, hidden_units, hyperparameters, label, learning_rate, "
            "module, module_source, seed, task)",
        "epochs: must be an integer (got 'many')",
    ]


def test_defaults_filled_in_or_written_out_are_one_execution(artifact_root):
    """The fingerprint is taken over the record with its defaults, so spelling a default out is
    not a new execution (nor a cache miss)."""
    from airflow_mlops.runtime.components.catalog import load_component
    from airflow_mlops.runtime.components.runner import compute_fingerprint, typed_params

    component = load_component("rollback")
    implicit = make_spec("rollback", artifact_root, {})
    explicit = make_spec("rollback", artifact_root, {"reason": "rollback requested"})
    other = make_spec("rollback", artifact_root, {"reason": "bad canary"})

    def fp(spec):  # as run_component takes it: over the record, defaults filled in
        return compute_fingerprint(component, dataclasses.replace(spec, params=typed_params(component, spec).to_dict()))

    assert fp(implicit) == fp(explicit) != fp(other)


def test_the_code_version_covers_the_helpers_a_component_calls(monkeypatch):
    """Editing the model code retrains: train's code version hashes ml/model.py too."""
    from airflow_mlops.runtime.components import base
    from airflow_mlops.runtime.components.catalog import load_component

    train = load_component("train")
    assert {"airflow_mlops.runtime.components.train", "airflow_mlops.runtime.ml.model"} <= base.project_imports(
        "airflow_mlops.runtime.components.train")
    assert not any(m.startswith("airflow_mlops.contract") for m in base.project_imports("airflow_mlops.runtime.components.train"))
    before = train.code_version
    original = base._source
    monkeypatch.setattr(base, "_source", lambda m: original(m) + ("\n# edited" if m.endswith("ml.model") else ""))
    assert train.code_version != before
    assert load_component("ingest").code_version == load_component("ingest").code_version


def test_a_code_version_is_computed_without_importing_an_ml_library():
    """A cache hit's cost is its fingerprint: train's imported Keras (3 s) to find its helpers."""
    code = (
        "import sys\n"
        "from airflow_mlops.runtime.components.catalog import BUILT_IN, load_component\n"
        "versions = {name: load_component(name).code_version for name in BUILT_IN}\n"
        "heavy = [m for m in ('keras', 'tensorflow', 'mlflow', 'tensorflow_data_validation', 'apache_beam', 'evidently',"
        " 'matplotlib', 'bentoml') if m in sys.modules]\n"
        "print(len(versions), heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[1:] == ["[]"] and int(out.stdout.split()[0]) >= 10, out.stdout
