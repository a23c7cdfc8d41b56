"""The component spec: everything one component run needs, written by the control plane."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from airflow_mlops.contract.artifacts import ArtifactRef


@dataclass(frozen=True)
class RunInfo:
    """Which orchestrator run asked for the execution. Recorded, never part of the fingerprint."""

    dag_id: str | None = None
    run_id: str | None = None
    task_id: str | None = None
    try_number: int | None = None
    logical_date: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "dag_id": self.dag_id,
            "run_id": self.run_id,
            "task_id": self.task_id,
            "try_number": self.try_number,
            "logical_date": self.logical_date,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> RunInfo:
        data = data or {}
        return cls(**{k: data.get(k) for k in ("dag_id", "run_id", "task_id", "try_number", "logical_date")})


@dataclass(frozen=True)
class ComponentSpec:
    """One component run.

    :param component: registered component name, e.g. ``ingest``.
    :param pipeline: pipeline name; first path segment under the artifact root.
    :param artifact_root: fsspec URI of the artifact root.
    :param params: component parameters (JSON-serialisable).
    :param inputs: input artifacts by name.
    :param invocation_uri: directory of this launch; the runtime writes ``result.json`` or
        ``error.json`` there.
    :param cache: reuse a succeeded execution with the same fingerprint.
    :param run: the orchestrator run that asked for it.
    :param settings: how to run rather than what to compute (registry address, Beam runner
        options): not part of the fingerprint, so moving a registry or switching Beam to
        Dataflow does not invalidate caches.
    """

    component: str
    pipeline: str
    artifact_root: str
    invocation_uri: str
    params: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, ArtifactRef] = field(default_factory=dict)
    cache: bool = True
    run: RunInfo = field(default_factory=RunInfo)
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "component": self.component,
            "pipeline": self.pipeline,
            "artifact_root": self.artifact_root,
            "invocation_uri": self.invocation_uri,
            "params": self.params,
            "inputs": {name: ref.to_dict() for name, ref in self.inputs.items()},
            "cache": self.cache,
            "run": self.run.to_dict(),
            "settings": self.settings,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ComponentSpec:
        return cls(
            component=data["component"],
            pipeline=data["pipeline"],
            artifact_root=data["artifact_root"],
            invocation_uri=data["invocation_uri"],
            params=dict(data.get("params") or {}),
            inputs={name: ArtifactRef.from_dict(ref) for name, ref in (data.get("inputs") or {}).items()},
            cache=bool(data.get("cache", True)),
            run=RunInfo.from_dict(data.get("run")),
            settings=dict(data.get("settings") or {}),
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ComponentSpec:
        return cls.from_dict(json.loads(text))
