"""Where things live under the artifact root. Plain string URIs, no filesystem access."""

from __future__ import annotations

SPEC_FILE = "spec.json"
RESULT_FILE = "result.json"
ERROR_FILE = "error.json"
EXECUTION_FILE = "execution.json"


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
