"""Component tasks on the local cloud's Kubernetes and Vertex AI: failures of the machine are
retried with their reason, the component's own data errors are not, a killed task cancels its
job, and a deferred task resumes from the trigger's event.

The operators run for real (``execute`` / ``execute_complete``), against the fakes of
``local_cloud`` through the real clients; the pods and jobs run the real runtime component.
"""

from __future__ import annotations

import asyncio
import json
import threading
from types import SimpleNamespace

import pytest
from conftest import LOCAL_CLOUD_IMAGES

from airflow_mlops.contract import ComponentSpec
from airflow_mlops.contract.params import IngestParams
from airflow_mlops.provider.compat import AirflowException, AirflowFailException, TaskDeferred
from airflow_mlops.provider.operators import IngestDataOperator
from airflow_mlops.provider.triggers.remote_job import RemoteJobTrigger

IMAGE = LOCAL_CLOUD_IMAGES[0]
CSV = "island,bill_length_mm,species\n" + "Biscoe,47.5,Gentoo\nDream,49.7,Chinstrap\nTorgersen,38.9,Adelie\n" * 20


@pytest.fixture
def k8s_conn(fake_kubernetes, tmp_path, monkeypatch):
    kubeconfig = fake_kubernetes.write_kubeconfig(tmp_path / "kubeconfig")
    monkeypatch.setenv("AIRFLOW_CONN_FAKE_K8S", json.dumps({"conn_type": "kubernetes", "extra": {"kube_config_path": str(kubeconfig)}}))
    return fake_kubernetes


@pytest.fixture
def vertex_conn(fake_vertex, monkeypatch):
    from local_cloud.google_auth import serve_tokens

    with serve_tokens() as tokens:
        monkeypatch.setenv("AIRFLOW_CONN_FAKE_GCP", json.dumps(tokens.connection()))
        yield SimpleNamespace(fake=fake_vertex, tokens=tokens, url=fake_vertex.url)


def context(task_id: str = "ingest", try_number: int = 1) -> dict:
    ti = SimpleNamespace(dag_id="penguin_training", run_id="manual__2026-01-01T00:00:00+00:00", task_id=task_id,
                         try_number=try_number, xcom_pull=lambda task_ids: None)
    return {"ti": ti, "logical_date": "2026-01-01T00:00:00+00:00"}


def ingest(tmp_path, artifact_root, launcher: str, *, csv: str = CSV, deferrable: bool = False, **options) -> IngestDataOperator:
    source = tmp_path / "data.csv"
    source.write_text(csv)
    if launcher == "kubernetes":
        options = {"image": IMAGE, "namespace": "ml", "conn_id": "fake_k8s", "poll_seconds": 0.2, **options}
    else:
        options = {"image": IMAGE, "project": "local-project", "region": "europe-west4", "gcp_conn_id": "fake_gcp",
                   "poll_seconds": 0.2, **options}
    return IngestDataOperator(task_id="ingest", pipeline="penguin", artifact_root=artifact_root,
                              component_params=IngestParams(source=str(source), label="species"),
                              launcher=launcher, launcher_options=options, deferrable=deferrable, cache=False)


def test_a_pod_runs_the_component_and_its_log_reaches_the_task_log(k8s_conn, tmp_path, artifact_root, capfd):
    result = ingest(tmp_path, artifact_root, "kubernetes").execute(context())
    assert result["metrics"]["rows"] == 60
    [pod] = k8s_conn.created_pods()
    assert pod["spec"]["containers"][0]["args"][0] == "ingest"
    assert k8s_conn.deleted_pods() == [pod["metadata"]["name"]]  # cleaned up after it ended
    assert "[ingest] INFO airflow_mlops.runtime.components: split train:" in capfd.readouterr().out  # the pod's log
    record = json.loads(open(result["execution_uri"].removeprefix("file://") + "/execution.json").read())
    assert record["remote_jobs"][0]["kind"] == "kubernetes_pod"
    assert record["remote_jobs"][0]["name"] == f"ml/{pod['metadata']['name']}"


@pytest.mark.parametrize(("fault", "says"), [
    ("oom_killed", "ran out of memory (OOMKilled, limit 4Gi)"),
    ("evicted", "the pod was evicted: The node was low on resource: memory."),
    ("preempted", "preempted or shut down: Pod was terminated in response to imminent node shutdown."),
])
def test_pod_failures_are_retried_with_their_reason(k8s_conn, tmp_path, artifact_root, fault, says):
    k8s_conn.inject(fault, match="ingest")
    with pytest.raises(AirflowException) as err:
        ingest(tmp_path, artifact_root, "kubernetes").execute(context())
    assert not isinstance(err.value, AirflowFailException)  # retried
    assert str(err.value).startswith("ingest failed (infrastructure error, retried): ")
    assert says in str(err.value)
    assert len(k8s_conn.deleted_pods()) == 1


def test_an_image_that_cannot_be_pulled_is_retried_and_named(k8s_conn, tmp_path, artifact_root):
    op = ingest(tmp_path, artifact_root, "kubernetes", image="europe-docker.pkg.dev/local/mlops/runtime:missing")
    with pytest.raises(AirflowException) as err:
        op.execute(context())
    assert not isinstance(err.value, AirflowFailException)
    assert "the runtime image could not be pulled (ErrImagePull" in str(err.value) or "(ImagePullBackOff" in str(err.value)
    assert len(k8s_conn.deleted_pods()) == 1


def test_a_data_error_inside_a_pod_is_not_retried(k8s_conn, tmp_path, artifact_root):
    op = ingest(tmp_path, artifact_root, "kubernetes", csv="island,bill_length_mm\nBiscoe,47.5\n")
    with pytest.raises(AirflowFailException) as err:
        op.execute(context())
    assert "ingest failed (data error)" in str(err.value) and "species" in str(err.value)


def test_killing_the_task_deletes_its_pod(k8s_conn, tmp_path, artifact_root):
    k8s_conn.inject("hold", match="ingest")
    op = ingest(tmp_path, artifact_root, "kubernetes")
    failure: list[BaseException] = []
    worker = threading.Thread(target=lambda: _capture(failure, op.execute, context()))
    worker.start()
    k8s_conn.wait_for(lambda: any(c.poll() is None for c in k8s_conn.runner.containers), timeout=30)
    op.on_kill()
    worker.join(timeout=30)
    assert not worker.is_alive()
    [pod] = k8s_conn.created_pods()
    assert pod["metadata"]["name"] in k8s_conn.deleted_pods()
    assert all(c.poll() is not None for c in k8s_conn.runner.containers)  # the process is gone too
    assert failure, "the task must not succeed once killed"


def _capture(failures: list, fn, *args) -> None:
    try:
        fn(*args)
    except BaseException as exc:  # noqa: BLE001 - the thread reports what ended it
        failures.append(exc)


def test_a_vertex_job_runs_the_component_with_credentials_from_the_connection(vertex_conn, tmp_path, artifact_root):
    result = ingest(tmp_path, artifact_root, "vertex", api_endpoint=vertex_conn.url).execute(context())
    assert result["metrics"]["rows"] == 60
    [job] = vertex_conn.fake.created_jobs()
    assert job["jobSpec"]["workerPoolSpecs"][0]["containerSpec"]["args"][0] == "ingest"
    # every call carries a token signed with the connection's service-account key (the client
    # signs its own JWT rather than exchanging it at the token endpoint)
    from google.auth import jwt

    for header in vertex_conn.fake.authorizations:
        claims = jwt.decode(header.removeprefix("Bearer "), certs=vertex_conn.tokens.public_pem, verify=True)
        assert claims["iss"] == "airflow-mlops@local-project.iam.gserviceaccount.com"
        assert "https://www.googleapis.com/auth/cloud-platform" in claims["scope"]
    record = json.loads(open(result["execution_uri"].removeprefix("file://") + "/execution.json").read())
    [remote] = record["remote_jobs"]
    assert remote["kind"] == "vertex_custom_job" and remote["name"].startswith("projects/local-project/locations/europe-west4/customJobs/")
    assert remote["console_url"].startswith("https://console.cloud.google.com/vertex-ai/locations/europe-west4/training/")


def test_a_preempted_vertex_job_is_retried_with_the_reason(vertex_conn, tmp_path, artifact_root):
    vertex_conn.fake.inject("preempted", match="ingest")
    op = ingest(tmp_path, artifact_root, "vertex", api_endpoint=vertex_conn.url, spot=True, restart_on_preemption=False)
    with pytest.raises(AirflowException) as err:
        op.execute(context())
    assert not isinstance(err.value, AirflowFailException)
    assert "the job's VM was preempted: The replica workerpool0-0 was preempted" in str(err.value)


def test_killing_the_task_cancels_its_vertex_job(vertex_conn, tmp_path, artifact_root):
    vertex_conn.fake.inject("hold", match="ingest")
    op = ingest(tmp_path, artifact_root, "vertex", api_endpoint=vertex_conn.url)
    failure: list[BaseException] = []
    worker = threading.Thread(target=lambda: _capture(failure, op.execute, context()))
    worker.start()
    vertex_conn.fake.wait_for(
        lambda: any(job.resource["state"] == "JOB_STATE_RUNNING" for job in list(vertex_conn.fake.jobs.values())), timeout=30)
    op.on_kill()
    worker.join(timeout=30)
    assert not worker.is_alive() and failure
    assert len(vertex_conn.fake.cancelled_jobs()) == 1


def test_a_deferred_task_resumes_with_the_result_of_its_pod(k8s_conn, tmp_path, artifact_root):
    op = ingest(tmp_path, artifact_root, "kubernetes", deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context())
    trigger = deferred.value.trigger
    assert isinstance(trigger, RemoteJobTrigger) and deferred.value.method_name == "execute_complete"
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_mlops.provider.triggers.remote_job.RemoteJobTrigger"
    # the pod is running while nothing runs on the worker; the triggerer's copy watches it
    again = RemoteJobTrigger(**json.loads(json.dumps(kwargs)))
    event = asyncio.run(_first_event(again))
    assert event["state"] == "succeeded" and event["job"]["kind"] == "kubernetes_pod"
    result = op.execute_complete(context(), event)
    assert result["metrics"]["rows"] == 60
    assert ComponentSpec.from_json(open(event["invocation_uri"].removeprefix("file://") + "/spec.json").read()).component == "ingest"


def test_killing_a_deferred_task_cancels_its_job(k8s_conn, tmp_path, artifact_root, monkeypatch):
    k8s_conn.inject("hold", match="ingest")
    op = ingest(tmp_path, artifact_root, "kubernetes", deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context())
    trigger = deferred.value.trigger
    k8s_conn.wait_for(lambda: any(c.poll() is None for c in k8s_conn.runner.containers), timeout=30)
    asyncio.run(trigger.on_kill())  # what Airflow 3.3 calls when a person kills the deferred task
    [pod] = k8s_conn.created_pods()
    assert k8s_conn.deleted_pods() == [pod["metadata"]["name"]]


@pytest.mark.parametrize(("task_state", "cancelled"), [("failed", True), ("deferred", False)])
def test_before_airflow_3_3_a_cancelled_trigger_cancels_the_job_only_when_the_task_was_killed(
        k8s_conn, tmp_path, artifact_root, monkeypatch, task_state, cancelled):
    """A triggerer that stops (the task is still deferred) leaves the job running; a kill does not."""
    import airflow_mlops.provider.triggers.remote_job as module

    k8s_conn.inject("hold", match="ingest")
    op = ingest(tmp_path, artifact_root, "kubernetes", deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context())
    trigger = deferred.value.trigger
    trigger.task_instance = SimpleNamespace(dag_id="d", task_id="ingest", run_id="r", map_index=-1)
    monkeypatch.setattr(module, "AIRFLOW_V_3_3_PLUS", False)
    monkeypatch.setattr(module, "task_state_of", lambda ti: task_state)
    launcher, looked = trigger._launcher(), threading.Event()
    status = launcher.status
    monkeypatch.setattr(launcher, "status", lambda job: (status(job), looked.set())[0])
    monkeypatch.setattr(trigger, "_launcher", lambda: launcher)

    async def cancel_while_watching() -> None:
        task = asyncio.ensure_future(_first_event(trigger))
        deadline = asyncio.get_running_loop().time() + 30
        while not looked.is_set():  # cancelled once it watches the job, not after a guessed second
            assert asyncio.get_running_loop().time() < deadline and not task.done()
            await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_while_watching())
    assert bool(k8s_conn.deleted_pods()) is cancelled


async def _first_event(trigger: RemoteJobTrigger) -> dict:
    async for event in trigger.run():
        return event.payload
    raise AssertionError("the trigger ended without an event")
