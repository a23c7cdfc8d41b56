"""Which files the MLOps view serves: reports under ``<the pipeline's artifact root>/<pipeline>/``, nothing else.

A requested path is relative to the pipeline's directory. It is refused when it could leave it
(an absolute path, a ``..`` or ``.`` segment, an empty segment, a backslash, a scheme) or is not a
report's type; on a local root the real path (symlinks resolved) must still lie under the root.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from airflow_mlops.contract import join_uri
from airflow_mlops.provider.plugin.data import valid_pipeline_name

#: what a report may be, with the media type it is served as
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
}
#: reports run in an opaque origin: their scripts (Facets, Evidently) work but cannot act as the
#: signed-in user against Airflow's API
REPORT_HEADERS = {
    "Content-Security-Policy": "sandbox allow-scripts allow-popups",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "private, max-age=60",
}


class ReportRefused(ValueError):
    """The path names no report the view may serve (the message says why, without the root)."""


@dataclass(frozen=True)
class ReportFile:
    uri: str
    media_type: str


def _local_path(uri: str) -> str | None:
    if uri.startswith("file://"):
        return uri[len("file://"):]
    if "://" not in uri:
        return uri
    return None


def resolve_report(root: str, pipeline: str, path: str) -> ReportFile:
    """The report ``path`` (relative to ``<root>/<pipeline>/``) as a URI the store can open.

    :raises ReportRefused: the path could leave the pipeline's directory or is not a report.
    """
    if not valid_pipeline_name(pipeline):
        raise ReportRefused("not a pipeline name")
    if not path or "\\" in path or "\x00" in path or "://" in path or path.startswith("/"):
        raise ReportRefused("not a relative path")
    segments = path.split("/")
    if any(s in ("", ".", "..") for s in segments):
        raise ReportRefused("path segments '', '.' and '..' are not allowed")
    suffix = os.path.splitext(segments[-1])[1].lower()
    if suffix not in MEDIA_TYPES:
        raise ReportRefused(f"only {', '.join(sorted(MEDIA_TYPES))} files are served")
    uri = join_uri(root, pipeline, *segments)
    local = _local_path(uri)
    if local is not None:
        base = os.path.realpath(os.path.join(_local_path(root.rstrip("/")) or "", pipeline))
        real = os.path.realpath(local)
        if os.path.commonpath([base, real]) != base:
            raise ReportRefused("the path leads out of the artifact root")
        uri = "file://" + real
    return ReportFile(uri=uri, media_type=MEDIA_TYPES[suffix])


def _normal(uri: str) -> str:
    local = _local_path(uri)
    if local is not None:
        return "file://" + os.path.realpath(local)
    return uri.replace("gcs://", "gs://", 1).rstrip("/")


def lies_in(uri: str, root: str, pipeline: str) -> bool:
    """Whether ``uri`` lies in ``<root>/<pipeline>/`` (a local root with its symlinks resolved)."""
    directory = _normal(join_uri(root, pipeline))
    return _normal(uri).startswith(directory + "/")
