"""The deployment record: which model versions serve, the canary, and every rollout decision.

One JSON document per pipeline (:func:`~airflow_mlops.runtime.serving.config.deployment_record_uri`),
written atomically. The registry aliases say which version is ``champion``; the record adds what
the aliases cannot: the canary's traffic weight and start, and the history with the figures
behind each decision.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from airflow_mlops.artifacts import ArtifactStore


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass
class Canary:
    version: str
    weight: float
    started_at: str
    window_minutes: int


@dataclass
class Decision:
    """:param action: ``bootstrap`` (first champion), ``canary``, ``promote``, ``reject`` (canary
        ended without promotion) or ``rollback`` (champion back to an earlier version)."""

    action: str
    version: str
    at: str
    by: str
    reason: str = ""
    previous_champion: str | None = None
    figures: dict[str, Any] = field(default_factory=dict)


@dataclass
class DeploymentRecord:
    pipeline: str
    champion: str | None = None
    canary: Canary | None = None
    history: list[Decision] = field(default_factory=list)
    updated_at: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeploymentRecord:
        canary = data.get("canary")
        return cls(
            pipeline=data["pipeline"],
            champion=data.get("champion"),
            canary=Canary(**canary) if canary else None,
            history=[Decision(**d) for d in data.get("history", [])],
            updated_at=data.get("updated_at", ""),
        )

    def champions(self) -> list[str]:
        """The champion versions in the order they started serving."""
        out: list[str] = []
        for d in self.history:
            if d.action in ("bootstrap", "promote", "rollback"):
                out.append(d.version)
        return out

    def rollback_target(self) -> str | None:
        """The champion before the current one that was not itself rolled back from."""
        rolled_back = {d.previous_champion for d in self.history if d.action == "rollback"}
        for version in reversed(self.champions()):
            if version != self.champion and version not in rolled_back:
                return version
        return None


def read_record(uri: str, pipeline: str, store: ArtifactStore | None = None) -> DeploymentRecord:
    store = store or ArtifactStore()
    if not store.exists(uri):
        return DeploymentRecord(pipeline=pipeline)
    return DeploymentRecord.from_dict(store.read_json(uri))


def write_record(uri: str, record: DeploymentRecord, store: ArtifactStore | None = None) -> None:
    record.updated_at = utc_now()
    (store or ArtifactStore()).write_json(uri, record.to_dict())
