"""Where the prediction log keeps a record, and in which time format.

Records are stored by their hour, ``<root>/date=YYYY-MM-DD/hour=HH/part-<time>-<id>.jsonl``, and
their ``timestamp`` is ``2026-01-01T10:00:00.000+00:00`` (UTC, milliseconds), so that string
comparison is time comparison and a window only reads the hours that can hold its records.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow_mlops.artifacts import ArtifactStore


def utc_iso(value: str | datetime) -> str:
    """An ISO time (``Z``, an offset, or naive meaning UTC) in the prediction log's own format,
    ``2026-01-01T10:00:00.000+00:00``, so that string comparison is time comparison.

    :raises ValueError: not an ISO time.
    """
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def partition(timestamp: str) -> str:
    """``date=YYYY-MM-DD/hour=HH`` of an ISO timestamp (UTC)."""
    return f"date={timestamp[:10]}/hour={timestamp[11:13]}"


def window_files(root: str, since: str | None = None, until: str | None = None, store: ArtifactStore | None = None) -> list[str]:
    """The ``.jsonl`` files under ``root`` in the hour partitions that can hold records with
    ``since <= timestamp < until`` (either may be omitted)."""
    store = store or ArtifactStore()
    if not store.exists(root):
        return []
    low = partition(since) if since else None
    high = partition(until) if until else None
    out = []
    for uri in store.list_files(root):
        part = "/".join(uri.rsplit("/", 3)[1:3])
        if uri.endswith(".jsonl") and not ((low and part < low) or (high and part > high)):
            out.append(uri)
    return out
