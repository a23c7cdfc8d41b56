"""The execution record (``execution.json``): what ran, on what, producing what."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from typing import Any

from airflow_mlops.contract.artifacts import ArtifactRef
from airflow_mlops.contract.spec import RunInfo


class Status(str, enum.Enum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class RemoteJob:
    """A job outside the Airflow worker that did (part of) a component's work: the Kubernetes pod
    or Vertex AI custom job it ran in (written by the launcher to ``job.json`` in the invocation
    directory), or a Dataflow job it submitted.

    :param kind: ``kubernetes_pod``, ``vertex_custom_job`` or ``dataflow_job``.
    :param name: the resource name (``<namespace>/<pod>``, ``projects/.../customJobs/<id>``, the Dataflow job id).
    :param console_url: where people look at it (Cloud console), if there is such a page.
    :param details: what else identifies it (machine type, accelerator, image, region).
    """

    kind: str
    name: str
    console_url: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "console_url": self.console_url, "details": dict(self.details)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RemoteJob:
        return cls(
            kind=data["kind"], name=data["name"], console_url=data.get("console_url") or "",
            details=dict(data.get("details") or {}),
        )


@dataclass(frozen=True)
class ExecutionRecord:
    """A finished component execution.

    Written last, after every output: a directory without a succeeded record holds nothing a
    consumer may use. ``cache_hit`` is only set on the copy returned for a launch that reused an
    earlier execution; the stored record describes the run that did the work.
    """

    component: str
    pipeline: str
    code_version: str
    fingerprint: str
    status: Status
    params: dict[str, Any]
    inputs: dict[str, ArtifactRef]
    outputs: dict[str, ArtifactRef]
    metrics: dict[str, Any]
    started_at: str
    ended_at: str
    duration_seconds: float
    host: str
    executor: str
    run: RunInfo = field(default_factory=RunInfo)
    cache_hit: bool = False
    #: where the work ran when not on the Airflow worker (pod, Vertex AI job, Dataflow jobs)
    remote_jobs: tuple[RemoteJob, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "component": self.component,
            "pipeline": self.pipeline,
            "code_version": self.code_version,
            "fingerprint": self.fingerprint,
            "status": self.status.value,
            "params": self.params,
            "inputs": {n: r.to_dict() for n, r in self.inputs.items()},
            "outputs": {n: r.to_dict() for n, r in self.outputs.items()},
            "metrics": self.metrics,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "duration_seconds": self.duration_seconds,
            "host": self.host,
            "executor": self.executor,
            "run": self.run.to_dict(),
            "cache_hit": self.cache_hit,
            "remote_jobs": [job.to_dict() for job in self.remote_jobs],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExecutionRecord:
        return cls(
            component=data["component"],
            pipeline=data["pipeline"],
            code_version=data["code_version"],
            fingerprint=data["fingerprint"],
            status=Status(data["status"]),
            params=dict(data.get("params") or {}),
            inputs={n: ArtifactRef.from_dict(r) for n, r in (data.get("inputs") or {}).items()},
            outputs={n: ArtifactRef.from_dict(r) for n, r in (data.get("outputs") or {}).items()},
            metrics=dict(data.get("metrics") or {}),
            started_at=data["started_at"],
            ended_at=data["ended_at"],
            duration_seconds=float(data["duration_seconds"]),
            host=data["host"],
            executor=data["executor"],
            run=RunInfo.from_dict(data.get("run")),
            cache_hit=bool(data.get("cache_hit", False)),
            remote_jobs=tuple(RemoteJob.from_dict(job) for job in data.get("remote_jobs") or ()),
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ExecutionRecord:
        return cls.from_dict(json.loads(text))
