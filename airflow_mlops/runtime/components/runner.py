"""Runs one component for a spec: input checks, cache lookup, execution, the execution record."""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.contract import (
    EXECUTION_FILE,
    REMOTE_JOB_FILE,
    ArtifactRef,
    ComponentError,
    ComponentSpec,
    ErrorKind,
    ExecutionRecord,
    RemoteJob,
    Status,
    execution_dir,
    fingerprint,
    join_uri,
)
from airflow_mlops.contract.typed import RecordError
from airflow_mlops.runtime.components.base import Component, ComponentResult, ExecutionContext

log = logging.getLogger("airflow_mlops.runtime.components")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def check_inputs(component: Component, spec: ComponentSpec, store: ArtifactStore) -> None:
    """Every declared input (and every optional one given) is present, of the right type, and
    backed by a succeeded execution."""
    given = {name: kind for name, kind in component.optional_inputs.items() if name in spec.inputs}
    for name, expected_type in {**component.inputs, **given}.items():
        ref = spec.inputs.get(name)
        if ref is None:
            raise ComponentError(ErrorKind.CONFIG, f"{component.name}: missing input {name!r} ({expected_type})")
        if ref.type != expected_type:
            raise ComponentError(
                ErrorKind.CONFIG, f"{component.name}: input {name!r} must be {expected_type}, got {ref.type}"
            )
        producer_dir = ref.execution_uri.rsplit("/", 1)[0]
        if store.succeeded_record(producer_dir) is None:
            raise ComponentError(
                ErrorKind.DATA,
                f"{component.name}: input {name!r} at {ref.uri} has no succeeded execution record "
                f"({ref.execution_uri}); it may be incomplete. Re-run {ref.producer}.",
            )


def typed_params(component: Component, spec: ComponentSpec) -> Any:
    """The spec's parameters as the component's record; a wrong or missing one is a config error
    naming each field."""
    if component.params is None:
        return spec.params
    try:
        return component.params.from_dict(spec.params)
    except RecordError as exc:
        raise ComponentError(
            ErrorKind.CONFIG,
            f"{component.name}: invalid parameters in the spec:\n" + "\n".join(f"  - {p}" for p in exc.problems),
            {"problems": exc.problems},
        ) from None


def compute_fingerprint(component: Component, spec: ComponentSpec) -> str:
    params = dict(spec.params)
    if component.external_fingerprint is not None:
        params["__external__"] = component.external_fingerprint(spec)
    return fingerprint(
        component.name,
        component.code_version,
        params,
        {name: ref.fingerprint for name, ref in spec.inputs.items()},
    )


def run_component(component: Component, spec: ComponentSpec, store: ArtifactStore | None = None) -> ExecutionRecord:
    """Run ``component`` for ``spec`` unless a succeeded execution with its fingerprint exists.

    :return: the execution record; ``cache_hit`` tells whether the work was reused.
    """
    store = store or ArtifactStore()
    params = typed_params(component, spec)
    check_inputs(component, spec, store)
    if component.params is not None:  # defaults filled in: the same step written two ways is one execution
        spec = replace(spec, params=params.to_dict())
    fp = compute_fingerprint(component, spec)
    out_dir = execution_dir(spec.artifact_root, spec.pipeline, component.name, fp)
    scratch = join_uri(spec.artifact_root, spec.pipeline, "_scratch", component.name, fp)

    cached = cached_record(component, spec, store, out_dir, fp)
    if cached is not None:
        return cached
    attempt = execute_attempt(component, spec, params, out_dir, scratch)
    record = write_record(component, spec, store, out_dir, fp, attempt)
    store.remove(scratch)
    log.info("%s succeeded in %.2f s; record %s", component.name, record.duration_seconds, join_uri(out_dir, EXECUTION_FILE))
    return record


def cached_record(component: Component, spec: ComponentSpec, store: ArtifactStore, out_dir: str, fp: str) -> ExecutionRecord | None:
    """The succeeded record of this fingerprint, marked as a cache hit, if the step may reuse it;
    ``None`` (and the reason logged) when it executes."""
    if not component.cacheable:
        log.info("%s always runs (it changes state outside the artifact store): %s", component.name, fp)
    elif spec.cache:
        cached = store.succeeded_record(out_dir)
        if cached is not None:
            log.info("cache hit: %s %s (executed %s, %.1f s)", component.name, fp, cached.ended_at, cached.duration_seconds)
            return replace(cached, cache_hit=True)
        log.info("cache miss: %s %s", component.name, fp)
    else:
        log.info("cache disabled for this run: executing %s %s", component.name, fp)
    return None


@dataclass(frozen=True)
class Attempt:
    """One execution of a component: its result and when it started."""

    result: ComponentResult
    started_at: str
    started_monotonic: float


def execute_attempt(component: Component, spec: ComponentSpec, params: Any, out_dir: str, scratch: str) -> Attempt:
    """Run the component into a fresh attempt directory; every declared output must come back.

    Each execution writes into its own attempt directory and only the record, written last,
    says which attempt counts. A killed attempt, a concurrent run of the same step (backfills)
    or a re-execution with the cache off can then never clobber outputs someone is reading.
    """
    started, t0 = _now(), time.monotonic()
    attempt_dir = join_uri(out_dir, f"attempt-{started[:19].replace(':', '')}-{uuid.uuid4().hex[:6]}")
    result = component.run(ExecutionContext(spec=spec, output_dir=attempt_dir, scratch_dir=scratch, log=log, params=params))
    missing = set(component.outputs) - set(result.outputs)
    if missing:
        raise ComponentError(ErrorKind.INTERNAL, f"{component.name} did not produce outputs: {sorted(missing)}")
    return Attempt(result, started, t0)


def write_record(
    component: Component, spec: ComponentSpec, store: ArtifactStore, out_dir: str, fp: str, attempt: Attempt
) -> ExecutionRecord:
    """The succeeded execution record of ``attempt``, written to ``out_dir``: from now on its
    outputs are the step's."""
    record_uri = join_uri(out_dir, EXECUTION_FILE)
    outputs = {
        name: ArtifactRef(
            name=name,
            type=component.outputs[name],
            uri=artifact.uri,
            producer=component.name,
            fingerprint=fp,
            execution_uri=record_uri,
            properties=artifact.properties,
        )
        for name, artifact in attempt.result.outputs.items()
    }
    record = ExecutionRecord(
        component=component.name,
        pipeline=spec.pipeline,
        code_version=component.code_version,
        fingerprint=fp,
        status=Status.SUCCEEDED,
        params=spec.params,
        inputs=spec.inputs,
        outputs=outputs,
        metrics=attempt.result.metrics,
        started_at=attempt.started_at,
        ended_at=_now(),
        duration_seconds=round(time.monotonic() - attempt.started_monotonic, 3),
        host=socket.gethostname(),
        executor=f"pid {os.getpid()}",
        run=spec.run,
        remote_jobs=(*launched_in(spec, store), *attempt.result.remote_jobs),
    )
    store.write_record(out_dir, record)
    return record


def launched_in(spec: ComponentSpec, store: ArtifactStore) -> tuple[RemoteJob, ...]:
    """The pod or Vertex AI job this invocation runs in, as its launcher wrote it next to the spec
    (``job.json``; none for the local launcher)."""
    uri = join_uri(spec.invocation_uri, REMOTE_JOB_FILE)
    return (RemoteJob.from_dict(store.read_json(uri)),) if store.exists(uri) else ()
