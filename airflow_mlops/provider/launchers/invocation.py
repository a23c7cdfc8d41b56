"""Reading what a component left in its invocation directory, whichever launcher ran it."""

from __future__ import annotations

from dataclasses import dataclass

from airflow_mlops.artifacts.store import ArtifactStore
from airflow_mlops.contract import ERROR_FILE, RESULT_FILE, ErrorReport, ExecutionRecord, join_uri
from airflow_mlops.provider.launchers.base import LaunchOutcome


@dataclass(frozen=True)
class InvocationResult:
    """Exactly one of: the execution record (success), the component's error report, or neither
    (a crash or a kill that left no report)."""

    outcome: LaunchOutcome
    record: ExecutionRecord | None = None
    error: ErrorReport | None = None


def read_invocation(store: ArtifactStore, invocation_uri: str, outcome: LaunchOutcome) -> InvocationResult:
    """What the run described by ``outcome`` produced under ``invocation_uri``.

    ``result.json`` counts only after a zero exit, ``error.json`` only after a non-zero one: a
    report left by an earlier try is never mistaken for this one's.
    """
    if outcome.returncode != 0:
        error_uri = join_uri(invocation_uri, ERROR_FILE)
        if store.exists(error_uri):
            return InvocationResult(outcome, error=ErrorReport.from_dict(store.read_json(error_uri)))
        return InvocationResult(outcome)
    return InvocationResult(outcome, record=ExecutionRecord.from_json(store.read_text(join_uri(invocation_uri, RESULT_FILE))))
