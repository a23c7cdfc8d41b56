"""Typed references to artifacts that components produce and consume."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ArtifactRef:
    """A pointer to one output of one component execution.

    :param name: output name in the producing component, e.g. ``examples``.
    :param type: artifact type, e.g. ``Examples``; consumers check it.
    :param uri: where the artifact lives (``file://`` or ``gs://``).
    :param producer: name of the component that wrote it.
    :param fingerprint: fingerprint of the producing execution; it is what a consumer's own
        fingerprint depends on, so a changed input invalidates downstream caches.
    :param execution_uri: the producer's ``execution.json``; the artifact is only trusted while
        that record says ``succeeded``.
    :param properties: small facts about the artifact (row counts, columns, ...).
    """

    name: str
    type: str
    uri: str
    producer: str
    fingerprint: str
    execution_uri: str
    properties: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "uri": self.uri,
            "producer": self.producer,
            "fingerprint": self.fingerprint,
            "execution_uri": self.execution_uri,
            "properties": dict(self.properties),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ArtifactRef:
        return cls(
            name=data["name"],
            type=data["type"],
            uri=data["uri"],
            producer=data["producer"],
            fingerprint=data["fingerprint"],
            execution_uri=data["execution_uri"],
            properties=dict(data.get("properties") or {}),
        )
