"""Where things live under the artifact root. Plain string URIs, no filesystem access."""

from __future__ import annotations

SPEC_FILE = "spec.json"
RESULT_FILE = "result.json"
ERROR_FILE = "error.json"
EXECUTION_FILE = "execution.json"
#: the remote job a launcher started for an invocation (a :class:`RemoteJob`), next to its spec
REMOTE_JOB_FILE = "job.json"


def join_uri(base: str, *parts: str) -> str:
    """Join URI path segments with single slashes (``gs://b/x`` + ``y`` -> ``gs://b/x/y``)."""
    out = base.rstrip("/")
    for part in parts:
        out = f"{out}/{part.strip('/')}"
    return out


def execution_dir(root: str, pipeline: str, component: str, fingerprint: str) -> str:
    """``<root>/<pipeline>/<component>/<fingerprint>``: outputs plus ``execution.json``."""
    return join_uri(root, pipeline, component, fingerprint)


def invocation_dir(root: str, pipeline: str, invocation_id: str) -> str:
    """``<root>/<pipeline>/_invocations/<id>``: the spec one launch ran with, its result or error."""
    return join_uri(root, pipeline, "_invocations", invocation_id)


def deployment_record_uri(artifact_root: str, pipeline: str) -> str:
    """The deployment record: what serves (champion, canary) and the history of decisions."""
    return join_uri(artifact_root, pipeline, "deployment", "record.json")


def predictions_uri(artifact_root: str, pipeline: str) -> str:
    """The prediction log: ``date=YYYY-MM-DD/hour=HH/part-*.jsonl`` below this."""
    return join_uri(artifact_root, pipeline, "predictions")


def feedback_uri(artifact_root: str, pipeline: str) -> str:
    """Ground truth arriving later: CSV files of ``request_id,label`` below this."""
    return join_uri(artifact_root, pipeline, "feedback")


def verdicts_uri(artifact_root: str, pipeline: str) -> str:
    """Monitoring verdicts, one JSON per window (the history of what monitoring decided)."""
    return join_uri(artifact_root, pipeline, "monitoring", "verdicts")


def infra_validated_uri(artifact_root: str, pipeline: str, version: str, key: str) -> str:
    """A passed infra validation of model ``version``, under everything it depended on (``key``):
    a later run with the same key reuses it instead of starting a server again."""
    return join_uri(artifact_root, pipeline, "infra_validate", "validated", f"v{version}-{key}.json")


def landing_state_uri(artifact_root: str, pipeline: str) -> str:
    """Which landed objects ``<pipeline>_data_arrival`` has already claimed."""
    return join_uri(artifact_root, pipeline, "landing", "state.json")
