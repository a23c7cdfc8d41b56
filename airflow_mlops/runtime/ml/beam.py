"""Beam pipeline options from the pipeline config's ``beam_pipeline_args``, and running a
pipeline to the end: in process, or as a Dataflow job (recorded as a :class:`RemoteJob`)."""

from __future__ import annotations

import logging
import os

from airflow_mlops.contract import ComponentError, ErrorKind, RemoteJob

LOCAL_RUNNER = "FnApiRunner"
#: the runtime image (set by the launchers in pods and jobs): the SDK container of Dataflow workers
RUNTIME_IMAGE_ENV = "MLOPS_RUNTIME_IMAGE"

log = logging.getLogger("airflow_mlops.runtime.components")


def pipeline_options(args: list[str] | tuple[str, ...] | None):
    """Options for ``args``; ``DirectRunner`` (or no runner) means Beam's in-process FnApiRunner.

    Beam's DirectRunner first tries the Prism runner, which downloads a binary from GitHub at
    run time: on a worker without internet access that is a failed download on every step
    before the fallback. FnApiRunner is what DirectRunner falls back to for batch pipelines.
    Any other runner is used as given. On Dataflow (``--runner=DataflowRunner``) the workers run
    the runtime image (``$MLOPS_RUNTIME_IMAGE``) with the Beam SDK installed in it, unless
    ``--sdk_container_image`` / ``--sdk_location`` say otherwise.
    """
    from apache_beam.options.pipeline_options import PipelineOptions

    _anonymous_gcs_on_emulator()
    args = [a for a in (args or []) if a not in ("--runner=DirectRunner", "--runner", "DirectRunner")]
    if not any(a.startswith("--runner") for a in args):
        args.append(f"--runner={LOCAL_RUNNER}")
    options = PipelineOptions(args)
    if is_dataflow(options):
        given = " ".join(args)
        if "--sdk_container_image" not in given and "--worker_harness_container_image" not in given \
                and os.environ.get(RUNTIME_IMAGE_ENV):
            args.append(f"--sdk_container_image={os.environ[RUNTIME_IMAGE_ENV]}")
        if "--sdk_location" not in given:
            args.append("--sdk_location=container")
        options = PipelineOptions(args)
    return options


def is_dataflow(options) -> bool:
    from apache_beam.options.pipeline_options import StandardOptions

    runner = str(options.view_as(StandardOptions).runner or "")
    return runner.rsplit(".", 1)[-1].lower() in ("dataflow", "dataflowrunner")


def run(pipeline) -> list[RemoteJob]:
    """Run ``pipeline`` to the end, as ``with beam.Pipeline(...)`` does.

    On Dataflow: the job is logged as soon as it is submitted and returned as a
    :class:`RemoteJob`; a job that does not end ``DONE`` (failed, cancelled) is a retryable
    infrastructure error naming the job and its console page.
    """
    options = pipeline.options
    if not is_dataflow(options):
        with pipeline:  # runs and waits on exit
            pass
        return []
    from apache_beam.runners.dataflow.dataflow_runner import DataflowRuntimeException
    from apache_beam.runners.runner import PipelineState

    result = pipeline.run()
    job = dataflow_job(result.job_id(), options)
    log.info("Dataflow job %s submitted: %s", job.name, job.console_url)
    error = ""
    try:
        state = result.wait_until_finish()
    except DataflowRuntimeException as exc:  # failed or cancelled
        state, error = result.state, "" if str(exc).endswith("Error:\nNone") else str(exc)  # no message from the job
    if state != PipelineState.DONE:
        raise ComponentError(
            ErrorKind.INFRASTRUCTURE,
            f"Dataflow job {job.name} ended {state}; see {job.console_url}" + (f"\n{error}" if error else ""),
            {"dataflow_job": job.to_dict(), "state": str(state)},
        )
    log.info("Dataflow job %s done", job.name)
    return [job]


def dataflow_job(job_id: str, options) -> RemoteJob:
    from apache_beam.options.pipeline_options import GoogleCloudOptions, WorkerOptions
    from apache_beam.runners.dataflow.internal.apiclient import get_container_image_from_options

    cloud = options.view_as(GoogleCloudOptions)
    return RemoteJob(
        kind="dataflow_job",
        name=job_id,
        console_url=f"https://console.cloud.google.com/dataflow/jobs/{cloud.region}/{job_id}?project={cloud.project}",
        details={
            "region": cloud.region,
            "project": cloud.project,
            "worker_machine_type": options.view_as(WorkerOptions).machine_type,
            "sdk_container_image": get_container_image_from_options(options),
        },
    )


def _anonymous_gcs_on_emulator() -> None:
    """On the GCS emulator (``$STORAGE_EMULATOR_HOST``, the local cloud) Beam's GCS client connects
    anonymously, as google-cloud-storage does there; without this Beam first retries Application
    Default Credentials with backoff (about 30 s per process) and then connects anonymously anyway.
    Nothing changes where the variable is unset (real GCS, Dataflow workers)."""
    if not os.environ.get("STORAGE_EMULATOR_HOST"):
        return
    from apache_beam.internal.gcp import auth

    with auth._Credentials._credentials_lock:
        if not auth._Credentials._credentials_init:
            auth._Credentials._credentials, auth._Credentials._credentials_init = None, True


def record_batches(table):
    """pyarrow Table -> TFDV's list-typed record batches."""
    from tfx_bsl.arrow import table_util

    return [table_util.CanonicalizeRecordBatch(batch) for batch in table.to_batches()]
