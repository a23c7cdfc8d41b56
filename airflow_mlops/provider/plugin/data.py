"""What the MLOps view reads: the artifact root, through the artifact store only.

Everything the view shows is written there by the runtime plane: execution records
(``<root>/<pipeline>/<component>/<fingerprint>/execution.json``), the deployment record
(``<root>/<pipeline>/deployment/record.json``) and the monitoring verdicts
(``<root>/<pipeline>/monitoring/verdicts/*.json``). The control plane has no MLflow, and the
records already carry what the registry holds about a version (its lineage, blessing and metrics
from ``register``; the aliases from the deployment record that moves them), so the view reads the
same files for a ``sqlite:`` and an ``http(s)`` registry, on a ``file://`` and a ``gs://`` root.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from fsspec.core import url_to_fs

from airflow_mlops.artifacts.store import ArtifactStore
from airflow_mlops.contract import ExecutionRecord, Status, join_uri
from airflow_mlops.contract.layout import deployment_record_uri, verdicts_uri

log = logging.getLogger(__name__)

#: a pipeline name as the YAML allows it; anything else in a URL is refused before any read
PIPELINE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
#: directories that mark a directory under the root as a pipeline's
PIPELINE_MARKERS = ("deployment", "register", "monitoring", "ingest")


def valid_pipeline_name(name: str) -> bool:
    return bool(PIPELINE_NAME.match(name)) and ".." not in name


class ArtifactReader:
    """Reads one artifact root.

    :param root: the artifact root URI (``file://...`` or ``gs://...``).
    :param store: the store that reaches it (its storage options are used for listings too).
    """

    def __init__(self, root: str, store: ArtifactStore | None = None) -> None:
        self.root = root.rstrip("/")
        self.store = store or ArtifactStore()

    def _subdirectories(self, uri: str) -> list[str]:
        """The names of the directories directly under ``uri`` (none when it does not exist)."""
        fs, path = url_to_fs(uri, **self.store.storage_options)
        try:
            entries = fs.ls(path, detail=True)
        except FileNotFoundError:
            return []
        return sorted(e["name"].rstrip("/").rsplit("/", 1)[-1] for e in entries if e.get("type") == "directory")

    def _file_names(self, uri: str) -> list[str]:
        fs, path = url_to_fs(uri, **self.store.storage_options)
        try:
            entries = fs.ls(path, detail=True)
        except FileNotFoundError:
            return []
        return sorted(e["name"].rsplit("/", 1)[-1] for e in entries if e.get("type") == "file")

    def pipelines(self) -> list[str]:
        """The pipelines that have written something under the root."""
        out = []
        for name in self._subdirectories(self.root):
            if valid_pipeline_name(name) and set(self._subdirectories(join_uri(self.root, name))) & set(PIPELINE_MARKERS):
                out.append(name)
        return out

    def read_json(self, uri: str) -> Any | None:
        """The JSON document at ``uri``, or None when it is missing or not JSON (logged)."""
        try:
            return self.store.read_json(uri)
        except FileNotFoundError:
            return None
        except (ValueError, UnicodeDecodeError) as e:
            log.warning("MLOps view: %s is not JSON: %s", uri, e)
            return None

    def executions(self, pipeline: str, component: str) -> list[ExecutionRecord]:
        """The succeeded executions of ``component``, oldest first (by end time)."""
        component_dir = join_uri(self.root, pipeline, component)
        records = []
        for fingerprint in self._subdirectories(component_dir):
            try:
                record = self.store.read_record(join_uri(component_dir, fingerprint))
            except (ValueError, KeyError, TypeError) as e:
                log.warning("MLOps view: unreadable execution record in %s/%s: %s", component_dir, fingerprint, e)
                continue
            if record is not None and record.status is Status.SUCCEEDED:
                records.append(record)
        return sorted(records, key=lambda r: r.ended_at)

    def deployment_record(self, pipeline: str) -> dict[str, Any]:
        """The deployment record as written by the runtime (``champion``, ``canary``, ``history``);
        an empty one when nothing was deployed yet."""
        data = self.read_json(deployment_record_uri(self.root, pipeline))
        if not isinstance(data, dict):
            return {"pipeline": pipeline, "champion": None, "canary": None, "history": []}
        return {
            "pipeline": pipeline,
            "champion": data.get("champion"),
            "canary": data.get("canary") or None,
            "history": [d for d in data.get("history") or [] if isinstance(d, dict)],
            "updated_at": data.get("updated_at", ""),
        }

    def verdicts(self, pipeline: str, limit: int = 50) -> list[dict[str, Any]]:
        """The newest ``limit`` monitoring verdicts, oldest first, each with the per-feature drift and
        the rows per model version of its window (``metrics.json`` next to its report) when readable."""
        directory = verdicts_uri(self.root, pipeline)
        names = [n for n in self._file_names(directory) if n.endswith(".json")][-limit:]
        out = []
        for name in names:
            verdict = self.read_json(join_uri(directory, name))
            if not isinstance(verdict, dict):
                continue
            report = verdict.get("report")
            metrics = self.read_json(report.rsplit("/", 1)[0] + "/metrics.json") if isinstance(report, str) else None
            verdict["features"] = (metrics or {}).get("features") or {}
            verdict["by_version"] = (metrics or {}).get("by_version") or {}
            out.append(verdict)
        return sorted(out, key=lambda v: str(v.get("window_end") or v.get("at") or ""))

    def html_files(self, pipeline: str, component: str) -> list[str]:
        """Every ``.html`` file under ``<root>/<pipeline>/<component>`` (one listing), as URIs."""
        fs, path = url_to_fs(join_uri(self.root, pipeline, component), **self.store.storage_options)
        try:
            found = fs.find(path)
        except FileNotFoundError:
            return []
        return sorted(fs.unstrip_protocol(p) for p in found if p.endswith(".html"))

    def relative(self, pipeline: str, uri: str) -> str | None:
        """``uri`` relative to ``<root>/<pipeline>/`` (how the view links a report), or None when it
        lies elsewhere (a record written under another root)."""
        base = join_uri(self.root, pipeline) + "/"
        candidates = {uri, uri.replace("gcs://", "gs://", 1)}
        for candidate in candidates:
            if candidate.startswith(base):
                return candidate[len(base):]
        return None


def dump(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True, default=str)
