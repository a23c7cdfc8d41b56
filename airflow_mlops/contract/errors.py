"""Error kinds a component reports, and how the control plane should treat them."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

#: Exit code of a component that rejected its input or configuration (``error.json`` written).
EXIT_REJECTED = 3


class ErrorKind(str, enum.Enum):
    """Why a component failed.

    ``data``, ``config`` and ``model`` (a training module that does not import, builds the wrong
    output or whose loss turns NaN) are the user's to fix: retrying cannot help, so the task fails
    without retries. ``infrastructure`` (storage, network, preemption) and ``internal`` (a bug or
    crash) may succeed on a retry.
    """

    DATA = "data"
    CONFIG = "config"
    MODEL = "model"
    INFRASTRUCTURE = "infrastructure"
    INTERNAL = "internal"

    @property
    def retryable(self) -> bool:
        return self in (ErrorKind.INFRASTRUCTURE, ErrorKind.INTERNAL)


@dataclass(frozen=True)
class ErrorReport:
    """The content of ``error.json``."""

    component: str
    kind: ErrorKind
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "component": self.component,
            "kind": self.kind.value,
            "message": self.message,
            "details": dict(self.details),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ErrorReport:
        return cls(
            component=data["component"],
            kind=ErrorKind(data["kind"]),
            message=data["message"],
            details=dict(data.get("details") or {}),
        )


class ComponentError(Exception):
    """Raised by a component to reject its input with a message meant for the user.

    :param kind: what kind of problem it is (decides whether Airflow retries).
    :param message: one or a few lines a data scientist understands, naming the file, column or
        setting at fault.
    :param details: structured facts for tools and reports (JSON-serialisable).
    """

    def __init__(self, kind: ErrorKind, message: str, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.details = details or {}

    def report(self, component: str) -> ErrorReport:
        return ErrorReport(component=component, kind=self.kind, message=self.message, details=self.details)
