"""The fake Vertex AI JobService, driven by the real aiplatform_v1 JobServiceClient over REST."""

from __future__ import annotations

import json
import os
import time

import pytest
from google.api_core import exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import aiplatform_v1 as aip

IMAGE = "europe-docker.pkg.dev/local/mlops/runtime:dev"
PARENT = "projects/p/locations/europe-west4"
State = aip.JobState


@pytest.fixture
def jobs(fake_vertex) -> aip.JobServiceClient:
    return aip.JobServiceClient(transport="rest", client_options={"api_endpoint": fake_vertex.url},
                                credentials=AnonymousCredentials())


def custom_job(command: list[str], env: dict[str, str] | None = None, image: str = IMAGE,
               restart: bool | None = None, base_output: str | None = None) -> aip.CustomJob:
    container = aip.ContainerSpec(image_uri=image, command=command,
                                  env=[aip.EnvVar(name=k, value=v) for k, v in (env or {}).items()])
    spec = aip.CustomJobSpec(worker_pool_specs=[aip.WorkerPoolSpec(
        machine_spec=aip.MachineSpec(machine_type="n1-standard-4"), replica_count=1, container_spec=container)])
    if restart is not None:
        spec.scheduling = aip.Scheduling(restart_job_on_worker_restart=restart)
    if base_output:
        spec.base_output_directory = aip.GcsDestination(output_uri_prefix=base_output)
    return aip.CustomJob(display_name="train", job_spec=spec)


DONE = (State.JOB_STATE_SUCCEEDED, State.JOB_STATE_FAILED, State.JOB_STATE_CANCELLED)


def wait_state(jobs: aip.JobServiceClient, name: str, states=DONE, timeout: float = 30) -> aip.CustomJob:
    deadline = time.monotonic() + timeout
    while (job := jobs.get_custom_job(name=name)).state not in states:
        assert time.monotonic() < deadline, f"{name} still {job.state.name}"
        time.sleep(0.1)
    return job


def pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(") ", 1)[1][0] == "Z"


def test_job_runs_to_success_with_vertex_env(fake_vertex, jobs):
    script = ("import json, os; print(json.dumps({k: os.environ.get(k) for k in "
              "['GREETING', 'AIP_MODEL_DIR', 'PYTHONUNBUFFERED']})); "
              "print(json.loads(os.environ['CLUSTER_SPEC'])['task'])")
    created = jobs.create_custom_job(parent=PARENT, custom_job=custom_job(
        ["python", "-c", script], {"GREETING": "hi"}, base_output="gs://bucket/out"))
    assert created.state == State.JOB_STATE_PENDING
    assert created.name.startswith(PARENT + "/customJobs/") and created.name.rsplit("/", 1)[1].isdigit()

    (post,) = [r for r in fake_vertex.requests if r["method"] == "POST"]
    assert post["path"] == f"/v1/{PARENT}/customJobs"
    assert post["body"]["displayName"] == "train"
    assert post["body"]["jobSpec"]["workerPoolSpecs"][0]["containerSpec"] == {
        "imageUri": IMAGE, "command": ["python", "-c", script], "env": [{"name": "GREETING", "value": "hi"}]}
    assert fake_vertex.created_jobs() == [post["body"]]

    job = wait_state(jobs, created.name)
    assert job.state == State.JOB_STATE_SUCCEEDED, job.error
    assert job.start_time and job.end_time and job.create_time
    (container,) = fake_vertex.jobs[created.name].containers
    env_line, task = container.lines
    assert json.loads(env_line) == {"GREETING": "hi", "AIP_MODEL_DIR": "gs://bucket/out/model/", "PYTHONUNBUFFERED": "1"}
    assert task == "{'type': 'workerpool0', 'index': 0}"
    assert [j.name for j in jobs.list_custom_jobs(parent=PARENT)] == [created.name]


def test_failing_job(fake_vertex, jobs):
    created = jobs.create_custom_job(parent=PARENT, custom_job=custom_job(["python", "-c", "raise SystemExit(1)"]))
    job = wait_state(jobs, created.name)
    assert job.state == State.JOB_STATE_FAILED
    assert job.error.code == 3
    assert job.error.message.startswith("The replica workerpool0-0 exited with a non-zero status of 1.")


def test_unknown_image_fails_the_job(fake_vertex, jobs):
    created = jobs.create_custom_job(parent=PARENT, custom_job=custom_job(["python", "-c", "print(1)"],
                                                                          image="europe-docker.pkg.dev/x/y:z"))
    job = wait_state(jobs, created.name)
    assert job.state == State.JOB_STATE_FAILED
    assert "unable to pull the container image" in job.error.message and "europe-docker.pkg.dev/x/y:z" in job.error.message
    assert fake_vertex.runner.containers == []


SLEEP = ["python", "-c", "import time; print('run', flush=True); time.sleep(1.5); print('done')"]


def test_preempted_without_restart_fails(fake_vertex, jobs):
    fake_vertex.inject("preempted", match="time.sleep")
    created = jobs.create_custom_job(parent=PARENT, custom_job=custom_job(SLEEP))
    job = wait_state(jobs, created.name)
    assert job.state == State.JOB_STATE_FAILED
    assert "preempted" in job.error.message
    (container,) = fake_vertex.jobs[created.name].containers
    assert container.lines == ["run"]


def test_preempted_with_restart_runs_again(fake_vertex, jobs):
    fake_vertex.inject("preempted")
    created = jobs.create_custom_job(parent=PARENT, custom_job=custom_job(SLEEP, restart=True))
    job = wait_state(jobs, created.name)
    assert job.state == State.JOB_STATE_SUCCEEDED, job.error
    first, second = fake_vertex.jobs[created.name].containers
    assert (first.lines, first.exit_code) == (["run"], 137)
    assert (second.lines, second.exit_code) == (["run", "done"], 0)


def test_cancel_kills_a_held_job(fake_vertex, jobs):
    fake_vertex.inject("hold")
    created = jobs.create_custom_job(parent=PARENT, custom_job=custom_job(["python", "-c", "print('never')"]))
    wait_state(jobs, created.name, (State.JOB_STATE_RUNNING,))
    time.sleep(0.5)
    assert jobs.get_custom_job(name=created.name).state == State.JOB_STATE_RUNNING
    pid = fake_vertex.jobs[created.name].container.pid
    assert not pid_gone(pid)

    jobs.cancel_custom_job(name=created.name)
    assert fake_vertex.cancelled_jobs() == [created.name]
    assert fake_vertex.requests[-1] == {"method": "POST", "path": f"/v1/{created.name}:cancel", "query": {}, "body": {}}
    job = wait_state(jobs, created.name)
    assert job.state == State.JOB_STATE_CANCELLED and job.error.code == 1
    assert pid_gone(pid)
    with pytest.raises(exceptions.NotFound):
        jobs.get_custom_job(name=f"{PARENT}/customJobs/1")
