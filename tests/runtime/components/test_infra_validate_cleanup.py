"""infra_validate fails fast on a model the server cannot load (a model error, not a config error),
and leaves no process behind: after success, a load failure, a start timeout, a SIGTERM of the
component and a SIGKILL of its process group (what the local launcher does).

The processes are found by a marker of the test's own in their environment (inherited by the
server and BentoML's workers), so the check does not rely on the code under test; each test also
shows the scan sees the server while it runs, so "none left" can fail.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from pipeline_helpers import own_first_run, own_pipeline  # noqa: F401  (fixtures: a pipeline of this module's own)

from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.contract import SPEC_FILE, ComponentError, ErrorKind, join_uri
from airflow_mlops.runtime.components import infra_validate as infra

MARKER = "MLOPS_TEST_INFRA_MARKER"


def marked(token: str) -> dict[int, str]:
    """Live processes (not zombies) whose environment has ``MARKER=token``: pid -> command line."""
    needle = f"{MARKER}={token}".encode()
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            if (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue
            found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
    return found


def servers(token: str) -> dict[int, str]:
    """The marked processes that are a ``bentoml serve`` or one of its workers."""
    return {pid: cmd for pid, cmd in marked(token).items() if "bentoml" in cmd or "_bentoml_impl" in cmd}


def none_left(token: str, within: float = 20.0) -> dict[int, str]:
    """The marked processes still alive after ``within`` seconds (empty: all gone)."""
    deadline = time.monotonic() + within
    while (left := marked(token)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def pgid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[2])


@pytest.fixture
def token(monkeypatch) -> str:
    token = uuid.uuid4().hex
    monkeypatch.setenv(MARKER, token)  # the in-process component's server inherits it
    return token


@pytest.fixture
def seen(monkeypatch, token):
    """The server processes alive while the requests are sent (proof the scan sees them)."""
    processes: list[dict[int, str]] = []
    send_rows = infra.send_rows

    def spying(*args, **kw):
        processes.append(servers(token))
        return send_rows(*args, **kw)

    monkeypatch.setattr(infra, "send_rows", spying)
    return processes


def infra_params(start_timeout: float = 180.0, reuse: bool = False, max_latency_ms: float = 5000) -> dict:
    """These tests are about the server: it is started every time unless ``reuse``."""
    from pipeline_helpers import FEATURES

    return {"features": FEATURES, "sample_rows": 5, "max_latency_ms": max_latency_ms, "start_timeout": start_timeout,
            "reuse": reuse}


def run_infra(pipeline, first_run, version, start_timeout: float = 180.0, **params):
    registered = first_run["register"].outputs["model_version"]
    model_version = dataclasses.replace(registered, properties={**registered.properties, "version": version})
    examples = first_run["ingest"].outputs["examples"]
    return pipeline.run("infra_validate", infra_params(start_timeout, **params),
                        {"model_version": model_version, "examples": examples}, cache=False)


def register_corrupt_copy(pipeline, tmp_path: Path, corrupt) -> str:
    """A new registry version: version 1's files, then ``corrupt(model_dir)``, as register stores them."""
    import mlflow

    registry = pipeline.registry()
    client = registry.client()
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri="models:/penguin/1", dst_path=str(tmp_path / "copy"),
                                                     tracking_uri=pipeline.tracking_uri))
    corrupt(local)
    run = client.create_run(registry.experiment_id(client))
    client.log_artifacts(run.info.run_id, str(local), "model")
    return str(client.create_model_version("penguin", source=f"runs:/{run.info.run_id}/model", run_id=run.info.run_id).version)


def truncate_model(model_dir: Path) -> None:
    keras = model_dir / "model.keras"
    keras.write_bytes(keras.read_bytes()[: keras.stat().st_size // 2])


def drop_transform(model_dir: Path) -> None:
    (model_dir / "transform.json").unlink()


def test_success_leaves_no_process(pipeline, first_run, token, seen):
    record = run_infra(pipeline, first_run, "1")
    assert record.metrics["p95_ms"] < 5000
    assert len(seen) == 1 and len(seen[0]) >= 2, f"the scan should see the server and its worker: {seen}"
    assert not none_left(token)


def test_a_passed_validation_is_reused_when_nothing_changed_and_not_when_a_check_did(pipeline, first_run, token, seen):
    first = run_infra(pipeline, first_run, "1", reuse=True, max_latency_ms=4000)
    assert first.metrics["reused"] is False and len(seen) == 1  # a server answered
    again = run_infra(pipeline, first_run, "1", reuse=True, max_latency_ms=4000)
    assert again.metrics["reused"] is True and len(seen) == 1  # no server this time
    assert (again.metrics["p50_ms"], again.metrics["p95_ms"]) == (first.metrics["p50_ms"], first.metrics["p95_ms"])
    report = ArtifactStore().read_json(join_uri(again.outputs["infra_blessing"].uri, "infra_validation.json"))
    assert report["blessed"] and report["version"] == "1" and "/infra_validate/validated/v1-" in report["reused_from"]
    # another bound is another check: validated again, in a server
    other = run_infra(pipeline, first_run, "1", reuse=True, max_latency_ms=3000)
    assert other.metrics["reused"] is False and len(seen) == 2
    assert not none_left(token)


@pytest.mark.parametrize(
    ("corrupt", "expected"),
    [(truncate_model, "model.keras"), (drop_transform, "transform.json")],
    ids=["truncated-model.keras", "missing-transform.json"],
)
def test_a_model_that_does_not_load_fails_fast_as_a_model_error(pipeline, first_run, token, seen, tmp_path, corrupt, expected):
    version = register_corrupt_copy(pipeline, tmp_path, corrupt)
    started = time.monotonic()
    with pytest.raises(ComponentError) as failed:
        run_infra(pipeline, first_run, version, start_timeout=180)
    elapsed = time.monotonic() - started
    assert failed.value.kind is ErrorKind.MODEL, failed.value.message
    assert f"version {version} does not load in the serving runtime" in failed.value.message
    assert expected in failed.value.message, failed.value.message
    assert elapsed < 30, f"took {elapsed:.1f} s: the start timeout was waited out"
    assert not seen  # never got as far as sending rows
    assert not none_left(token)


def test_a_start_timeout_is_an_infrastructure_error_and_leaves_no_process(pipeline, first_run, token):
    with pytest.raises(ComponentError) as failed:
        run_infra(pipeline, first_run, "1", start_timeout=4)
    assert failed.value.kind is ErrorKind.INFRASTRUCTURE and failed.value.kind.retryable
    assert "was not ready after 4 s" in failed.value.message, failed.value.message
    assert not none_left(token)


def start_cli(pipeline, first_run, token: str) -> subprocess.Popen:
    """``python -m airflow_mlops.runtime.components infra_validate --spec ...`` in a session of its
    own, as the local launcher starts a component; returns once its server and a worker run."""
    spec = pipeline.spec("infra_validate", infra_params(), {
        "model_version": first_run["register"].outputs["model_version"], "examples": first_run["ingest"].outputs["examples"],
    }, cache=False)
    spec_uri = join_uri(spec.invocation_uri, SPEC_FILE)
    ArtifactStore().write_text(spec_uri, spec.to_json())
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow_mlops.runtime.components", "infra_validate", "--spec", spec_uri],
        env={**os.environ, MARKER: token}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    deadline = time.monotonic() + 180
    while len(servers(token)) < 2:  # bentoml serve and its worker
        assert proc.poll() is None, f"the component ended (exit {proc.returncode}) before its server was seen"
        assert time.monotonic() < deadline, f"no server seen: {marked(token)}"
        time.sleep(0.1)
    assert proc.poll() is None, "the component finished before it could be killed"
    return proc


def test_a_sigterm_of_the_component_stops_its_server(pipeline, first_run):
    token = uuid.uuid4().hex
    proc = start_cli(pipeline, first_run, token)
    try:
        proc.send_signal(signal.SIGTERM)  # the component alone, not its group
        assert proc.wait(timeout=60) == 128 + signal.SIGTERM
        assert not none_left(token), "the SIGTERMed component left its server running"
    finally:
        os.killpg(proc.pid, signal.SIGKILL) if proc.poll() is None else None
        for pid in marked(token):
            os.kill(pid, signal.SIGKILL)


def test_a_sigkill_of_the_component_group_takes_its_server(pipeline, first_run):
    """The local launcher kills a killed task's component with its whole process group. ``bentoml
    serve`` must be in that group; BentoML's workers run in sessions of their own (circus), so
    they must end when ``bentoml serve`` does."""
    token = uuid.uuid4().hex
    proc = start_cli(pipeline, first_run, token)
    try:
        group = pgid(proc.pid)
        assert group == proc.pid
        running = servers(token)
        arbiters = {pid: cmd for pid, cmd in running.items() if "-m bentoml serve" in cmd}
        assert len(arbiters) == 1, running
        assert all(pgid(pid) == group for pid in arbiters), f"bentoml serve is not in the component's group: {arbiters}"
        time.sleep(2)  # the worker is (most likely) past its start-up, loading the model
        os.killpg(group, signal.SIGKILL)  # what the local launcher does to a killed task
        proc.wait(timeout=30)
        assert not none_left(token, within=60), "the server outlived its component's process group"
    finally:
        for pid in marked(token):
            os.kill(pid, signal.SIGKILL)
