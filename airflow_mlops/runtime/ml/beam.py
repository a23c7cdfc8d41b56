"""Beam pipeline options from the pipeline config's ``beam_pipeline_args``."""

from __future__ import annotations

LOCAL_RUNNER = "FnApiRunner"


def pipeline_options(args: list[str] | tuple[str, ...] | None):
    """Options for ``args``; ``DirectRunner`` (or no runner) means Beam's in-process FnApiRunner.

    Beam's DirectRunner first tries the Prism runner, which downloads a binary from GitHub at
    run time: on a worker without internet access that is a failed download on every step
    before the fallback. FnApiRunner is what DirectRunner falls back to for batch pipelines.
    Any other runner (``--runner=DataflowRunner``) is used as given.
    """
    from apache_beam.options.pipeline_options import PipelineOptions

    _anonymous_gcs_on_emulator()
    args = [a for a in (args or []) if a not in ("--runner=DirectRunner", "--runner", "DirectRunner")]
    if not any(a.startswith("--runner") for a in args):
        args.append(f"--runner={LOCAL_RUNNER}")
    return PipelineOptions(args)


def _anonymous_gcs_on_emulator() -> None:
    """On the GCS emulator (``$STORAGE_EMULATOR_HOST``, the local cloud) Beam's GCS client connects
    anonymously, as google-cloud-storage does there; without this Beam first retries Application
    Default Credentials with backoff (about 30 s per process) and then connects anonymously anyway.
    Nothing changes where the variable is unset (real GCS, Dataflow workers)."""
    import os

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
