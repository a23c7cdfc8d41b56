"""Rollout operations: start a canary, promote, reject a canary, roll back.

Each moves the registry aliases first and then writes the deployment record; the prediction
server follows both (see ``watcher.py``). Runtime plane (MLflow).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from airflow_mlops.contract.layout import deployment_record_uri
from airflow_mlops.runtime.ml.model_registry import CHALLENGER, CHAMPION, PREVIOUS, Registry
from airflow_mlops.runtime.serving.record import Canary, Decision, DeploymentRecord, read_record, utc_now, write_record

#: decisions after which a version has served
ROLLED_OUT = ("bootstrap", "canary", "promote", "rollback")


def superseded_by(record: DeploymentRecord, version: str) -> str | None:
    """Why ``version`` is not to get an automatic canary (the deploy step's) - it served before and
    a newer champion replaced it, or the champion was rolled back from it - or None. A re-run
    whose steps are all cache hits deploys its old version again; that must not put an old model
    back in front of traffic. A rejected canary may be tried again, and an operator may start any
    canary by hand."""
    for decision in reversed(record.history):
        if decision.action == "rollback" and decision.previous_champion == version:
            return f"was rolled back from at {decision.at}"
    served = [d for d in record.history if d.version == version and d.action in ROLLED_OUT]
    if served and record.champion and _number(record.champion) > _number(version):
        return f"served before ({served[-1].action} at {served[-1].at}) and the newer version {record.champion} is the champion now"
    return None


def _number(version: str) -> int:
    return int(version) if version.isdigit() else -1

log = logging.getLogger(__name__)


class RolloutError(RuntimeError):
    """A rollout operation that cannot be done (e.g. nothing to roll back to)."""


@dataclass
class Rollout:
    """:param registry: the pipeline's registry.
    :param artifact_root: where the deployment record lives.
    :param by: who acts, recorded with each decision (e.g. ``<dag_id>/<run_id>`` or ``cli``)."""

    registry: Registry
    artifact_root: str
    pipeline: str
    by: str

    def __post_init__(self) -> None:
        self.client = self.registry.client()
        self.record_uri = deployment_record_uri(self.artifact_root, self.pipeline)

    def record(self) -> DeploymentRecord:
        record = read_record(self.record_uri, self.pipeline)
        champion = self.registry.version(self.client, CHAMPION)
        record.champion = str(champion.version) if champion is not None else None
        return record

    def _save(self, record: DeploymentRecord, decision: Decision) -> dict[str, Any]:
        record.history.append(decision)
        write_record(self.record_uri, record)
        log.info(
            "%s: version %s (champion %s, canary %s) - %s",
            decision.action, decision.version, record.champion,
            f"{record.canary.version} at {record.canary.weight:.0%}" if record.canary else "none", decision.reason,
        )
        return {"action": decision.action, "version": decision.version, "champion": record.champion,
                "canary": record.canary.version if record.canary else None, "reason": decision.reason,
                "previous_champion": decision.previous_champion}

    def _set_champion(self, version: str) -> str | None:
        name = self.registry.model_name
        current = self.registry.version(self.client, CHAMPION)
        if current is not None:
            self.client.set_registered_model_alias(name, PREVIOUS, current.version)
        self.client.set_registered_model_alias(name, CHAMPION, version)
        self.client.set_model_version_tag(name, version, "promoted_at", utc_now())
        self.client.set_model_version_tag(name, version, "promoted_by", self.by)
        return str(current.version) if current is not None else None

    def _clear_challenger(self, version: str) -> None:
        challenger = self.registry.version(self.client, CHALLENGER)
        if challenger is not None and str(challenger.version) == version:
            self.client.delete_registered_model_alias(self.registry.model_name, CHALLENGER)

    def start_canary(self, version: str, weight: float, window_minutes: int) -> dict[str, Any]:
        """The challenger answers ``weight`` of the requests. With no champion yet the version
        becomes the champion at once (nothing to compare it with)."""
        version = str(version)
        record = self.record()
        if record.champion is None:
            self._set_champion(version)
            self._clear_challenger(version)
            record.champion, record.canary = version, None
            return self._save(record, Decision("bootstrap", version, utc_now(), self.by, "first model: no champion to compare with"))
        if record.champion == version:
            return {"action": "none", "version": version, "champion": version, "canary": None,
                    "reason": f"version {version} is already the champion"}
        self.client.set_registered_model_alias(self.registry.model_name, CHALLENGER, version)
        record.canary = Canary(version, float(weight), utc_now(), int(window_minutes))
        reason = f"challenger answers {weight:.0%} of requests for {window_minutes} min"
        return self._save(record, Decision("canary", version, utc_now(), self.by, reason, record.champion))

    def promote(self, version: str, reason: str, figures: dict[str, Any] | None = None) -> dict[str, Any]:
        version = str(version)
        record = self.record()
        if record.champion == version:
            if record.canary and record.canary.version == version:
                record.canary = None
                write_record(self.record_uri, record)
            return {"action": "none", "version": version, "champion": version, "canary": None,
                    "reason": f"version {version} is already the champion"}
        previous = self._set_champion(version)
        self._clear_challenger(version)
        record.champion = version
        if record.canary and record.canary.version == version:
            record.canary = None
        return self._save(record, Decision("promote", version, utc_now(), self.by, reason, previous, figures or {}))

    def reject_canary(self, reason: str, figures: dict[str, Any] | None = None) -> dict[str, Any]:
        """End the canary: the challenger stops serving; the champion stays."""
        record = self.record()
        if record.canary is None:
            raise RolloutError("there is no canary to reject")
        version = record.canary.version
        self._clear_challenger(version)
        self.client.set_model_version_tag(self.registry.model_name, version, "canary_rejected", reason[:250])
        record.canary = None
        return self._save(record, Decision("reject", version, utc_now(), self.by, reason, record.champion, figures or {}))

    def rollback(self, reason: str = "manual rollback") -> dict[str, Any]:
        """``champion`` goes back to the version before it; a running canary ends too."""
        record = self.record()
        if record.champion is None:
            raise RolloutError(f"{self.registry.model_name} has no champion to roll back")
        target = record.rollback_target()
        if target is None:
            previous = self.registry.version(self.client, PREVIOUS)
            target = str(previous.version) if previous is not None else None
        if target is None or target == record.champion:
            raise RolloutError(f"nothing to roll back to: version {record.champion} is the only champion there has been")
        if record.canary is not None:
            self._clear_challenger(record.canary.version)
            record.canary = None
        current = record.champion
        name = self.registry.model_name
        self.client.set_registered_model_alias(name, CHAMPION, target)
        self.client.set_model_version_tag(name, current, "rolled_back_at", utc_now())
        record.champion = target
        record.history.append(Decision("rollback", target, utc_now(), self.by, reason, current))
        earlier = record.rollback_target()
        record.history.pop()
        if earlier is not None:
            self.client.set_registered_model_alias(name, PREVIOUS, earlier)
        else:
            self.client.delete_registered_model_alias(name, PREVIOUS)
        return self._save(record, Decision("rollback", target, utc_now(), self.by, reason, current))
