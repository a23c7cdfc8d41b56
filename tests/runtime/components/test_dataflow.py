"""validate's and transform's Beam pipelines on Dataflow, at the request level: Beam's own
DataflowRunner submits to a fake Dataflow API on loopback (``local_cloud/dataflow_api.py``;
``--dataflow_endpoint`` without a port, as Beam's validator requires: port 80 of a random
127.x.y.z, or 127.0.0.1:<port> with the validator relaxed where port 80 is not permitted;
``--no_auth``) and stages to the GCS emulator. The job is not executed: the fake reports the
states it is told to (done, failed, ...)."""

from __future__ import annotations

import contextlib

import pytest
from pipeline_helpers import FEATURES, LABEL, PENGUIN_SCHEMA, Pipeline

from airflow_mlops.contract import ComponentError, ErrorKind, join_uri
from local_cloud.dataflow_api import FakeDataflow, accept_endpoint_ports

IMAGE = "europe-docker.pkg.dev/p/mlops/runtime:test"


@pytest.fixture
def fake_dataflow():
    """A factory: the fake Dataflow API reporting the given states, until the test ends."""
    with contextlib.ExitStack() as stack:

        def start(states: list[str]) -> FakeDataflow:
            dataflow = stack.enter_context(FakeDataflow(states=states))
            if dataflow.endpoint.count(":") > 1:  # port 80 could not be bound (not root): let Beam take the port
                stack.enter_context(accept_endpoint_ports())
            return dataflow

        yield start


# Straight to the end: each state Beam sees before it costs a 5 s poll.
DONE, FAILED = ["JOB_STATE_DONE"], ["JOB_STATE_FAILED"]


def dataflow_args(endpoint: str, bucket: str, *extra: str) -> list[str]:
    return [
        "--runner=DataflowRunner", "--project=my-project", "--region=europe-west4",
        f"--temp_location=gs://{bucket}/tmp", f"--staging_location=gs://{bucket}/staging",
        "--machine_type=n1-standard-4", f"--dataflow_endpoint={endpoint}", "--no_auth", "--job_name=validate-test", *extra,
    ]


@pytest.fixture
def gcs_examples(gcs_bucket, penguins_csv, tmp_path):
    """Examples ingested into a gs:// artifact root in the emulator."""
    gcs_bucket.blob("config/schema.pbtxt").upload_from_filename(str(PENGUIN_SCHEMA))
    bucket = f"gs://{gcs_bucket.name}"
    pipeline = Pipeline(root=f"{bucket}/mlops", tracking_uri=f"sqlite:///{tmp_path}/mlflow.db", schema_uri=f"{bucket}/config/schema.pbtxt")
    examples = pipeline.ingest(str(penguins_csv)).outputs["examples"]
    return pipeline, examples, gcs_bucket


def test_statistics_job_request_on_dataflow_and_staging(gcs_examples, fake_dataflow, monkeypatch, caplog):
    from airflow_mlops.runtime.ml.data_validation import generate_statistics
    from airflow_mlops.runtime.ml.examples import split_uri

    _, examples, bucket = gcs_examples
    monkeypatch.setenv("MLOPS_RUNTIME_IMAGE", IMAGE)  # as the launchers set it: the default SDK container
    stats = {s: join_uri(examples.uri, "..", "stats", f"{s}.stats") for s in ("train", "eval")}
    dataflow = fake_dataflow(DONE)
    with caplog.at_level("INFO"):
        jobs = generate_statistics({s: split_uri(examples, s) for s in stats}, stats, dataflow_args(dataflow.endpoint, bucket.name))

    [body] = dataflow.created_jobs()
    [create] = [r for r in dataflow.requests if r.method == "POST"]
    assert create.path == "/v1b3/projects/my-project/locations/europe-west4/jobs"
    assert body["name"] == "validate-test" and body["type"] == "JOB_TYPE_BATCH"
    env = body["environment"]
    [pool] = env["workerPools"]
    assert pool["machineType"] == "n1-standard-4"
    assert pool["workerHarnessContainerImage"] == IMAGE
    assert [i["containerImage"] for i in pool["sdkHarnessContainerImages"]] == [IMAGE]
    # Beam puts each job's files in a folder of its own (<job name>.<timestamp>) under the locations given.
    assert env["tempStoragePrefix"].startswith(f"storage.googleapis.com/{bucket.name}/tmp/validate-test.")
    options = env["sdkPipelineOptions"]["options"]
    assert options["sdk_container_image"] == IMAGE and options["sdk_location"] == "container"
    assert options["temp_location"].startswith(f"gs://{bucket.name}/tmp/validate-test.")
    assert options["staging_location"].startswith(f"gs://{bucket.name}/staging/validate-test.")
    assert options["region"] == "europe-west4" and options["project"] == "my-project"
    assert options["pipelineUrl"] == f"{options['staging_location']}/pipeline.pb"
    # Staged into the emulator: the pipeline proto Dataflow's workers run.
    staged = {b.name for b in bucket.client.list_blobs(bucket.name, prefix="staging/")}
    assert options["pipelineUrl"].removeprefix(f"gs://{bucket.name}/") in staged, staged
    assert pool["packages"], "nothing staged for the workers"
    for package in pool["packages"]:  # the pickled main session
        assert package["location"].removeprefix(f"storage.googleapis.com/{bucket.name}/") in staged, package
    # Beam polled the job until it was done.
    [job_id] = dataflow.jobs
    assert [r.path.rsplit("/", 1)[-1] for r in dataflow.requests if r.method == "GET"].count(job_id) >= 1

    url = f"https://console.cloud.google.com/dataflow/jobs/europe-west4/{job_id}?project=my-project"
    assert [j.to_dict() for j in jobs] == [{
        "kind": "dataflow_job", "name": job_id, "console_url": url,
        "details": {"region": "europe-west4", "project": "my-project", "worker_machine_type": "n1-standard-4", "sdk_container_image": IMAGE},
    }]
    [submitted] = [r for r in caplog.records if r.getMessage() == f"Dataflow job {job_id} submitted: {url}"]
    assert submitted.created <= min(r.at for r in dataflow.requests if r.method == "GET")  # logged before waiting


VALIDATE = {"features": FEATURES, "label": LABEL, "max_missing_fraction": 0.1,
            "drift": {"jensen_shannon": 0.3, "l_infinity": 0.3, "on_drift": "warn"}}


def test_failed_dataflow_job_fails_validate_retryably(gcs_examples, fake_dataflow):
    """Through the component runner, as a launcher runs validate."""
    pipeline, examples, bucket = gcs_examples
    dataflow = fake_dataflow(FAILED)
    args = dataflow_args(dataflow.endpoint, bucket.name, f"--sdk_container_image={IMAGE}")
    with pytest.raises(ComponentError) as failed:
        pipeline.run("validate", {**VALIDATE, "schema_uri": pipeline.schema_uri}, {"examples": examples}, beam_args=args)
    assert_names_the_failed_job(failed.value, dataflow)


def test_failed_dataflow_job_fails_transform_retryably(gcs_examples, fake_dataflow):
    """transform's Beam step alone: the component would need a schema artifact from a validate run first."""
    from airflow_mlops.runtime.components.transform import analyze_on_beam
    from airflow_mlops.runtime.ml.examples import split_uri

    _, examples, bucket = gcs_examples
    dataflow = fake_dataflow(FAILED)
    args = dataflow_args(dataflow.endpoint, bucket.name, f"--sdk_container_image={IMAGE}")
    with pytest.raises(ComponentError) as failed:
        analyze_on_beam(split_uri(examples, "train"), FEATURES, LABEL, args)
    assert_names_the_failed_job(failed.value, dataflow)


def assert_names_the_failed_job(error: ComponentError, dataflow: FakeDataflow) -> None:
    [job_id] = dataflow.jobs
    url = f"https://console.cloud.google.com/dataflow/jobs/europe-west4/{job_id}?project=my-project"
    assert error.kind is ErrorKind.INFRASTRUCTURE and error.kind.retryable
    assert job_id in error.message and url in error.message and "FAILED" in error.message
    assert "a worker failed (fake Dataflow)" in error.message  # the job's error message, as Beam reports it
    assert error.details["dataflow_job"]["name"] == job_id and error.details["state"] == "FAILED"


def test_direct_runner_options_are_unchanged(monkeypatch):
    from airflow_mlops.runtime.ml.beam import LOCAL_RUNNER, pipeline_options

    monkeypatch.setenv("MLOPS_RUNTIME_IMAGE", IMAGE)
    options = pipeline_options(["--runner=DirectRunner"]).get_all_options(drop_default=True)
    assert options == {"runner": LOCAL_RUNNER}
