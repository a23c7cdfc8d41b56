"""What the server serves, and following its changes without downtime.

:class:`ModelWatcher` polls the registry's ``champion`` alias and the deployment record's
canary. When they change it loads the new version(s) in the background, warms them up, and
only then replaces :attr:`ModelWatcher.state` in one assignment: a request reads the state
once, so it is answered wholly by the old or wholly by the new models and never fails.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from airflow_mlops.contract.layout import deployment_record_uri
from airflow_mlops.runtime.serving.config import ServingConfig
from airflow_mlops.runtime.serving.models import LoadedModel, ModelCache
from airflow_mlops.runtime.serving.record import read_record

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Target:
    champion: str | None
    challenger: str | None = None
    weight: float = 0.0


@dataclass(frozen=True)
class ServingState:
    champion: LoadedModel
    challenger: LoadedModel | None
    weight: float

    @property
    def target(self) -> Target:
        return Target(self.champion.version, self.challenger.version if self.challenger else None, self.weight)

    def describe(self) -> dict:
        return {
            "champion": self.champion.version,
            "challenger": self.challenger.version if self.challenger else None,
            "canary_weight": self.weight,
        }


class ModelWatcher:
    def __init__(self, config: ServingConfig):
        from airflow_mlops.runtime.ml.model_registry import Registry

        self.config = config
        self.registry = Registry(config.tracking_uri, config.model_name, config.pipeline, "")
        self.cache = ModelCache(self.registry, config.cache_dir)
        self.record_uri = deployment_record_uri(config.artifact_root, config.pipeline)
        self.state: ServingState | None = None
        self.last_error: str | None = None
        self._client = None
        self._refresh_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def target(self) -> Target:
        """What should serve now, from the registry and the deployment record."""
        from airflow_mlops.runtime.ml.model_registry import CHAMPION

        if self.config.pin_version:
            return Target(str(self.config.pin_version))
        if self._client is None:
            self._client = self.registry.client()
        champion = self.registry.version(self._client, CHAMPION)
        if champion is None:
            return Target(None)
        record = read_record(self.record_uri, self.config.pipeline)
        canary = record.canary
        if canary is None or canary.weight <= 0 or canary.version == str(champion.version):
            return Target(str(champion.version))
        return Target(str(champion.version), canary.version, canary.weight)

    def refresh(self) -> dict:
        """Bring the served models in line with :meth:`target`; returns what serves now."""
        with self._refresh_lock:
            target = self.target()
            current = self.state.target if self.state else None
            if target != current:
                if target.champion is None:
                    log.warning("%s has no champion yet: nothing to serve", self.config.model_name)
                else:
                    champion = self.cache.get(target.champion)
                    challenger = self.cache.get(target.challenger) if target.challenger else None
                    self.state = ServingState(champion, challenger, target.weight)
                    self.cache.keep_only({v for v in (target.champion, target.challenger) if v})
                    log.info("now serving %s (was %s)", self.state.describe(), current)
            self.last_error = None
            return self.state.describe() if self.state else {"champion": None, "challenger": None, "canary_weight": 0.0}

    def start(self) -> None:
        self._thread = threading.Thread(target=self._poll, name="model-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _poll(self) -> None:
        while not self._stop.wait(self.config.poll_seconds):
            try:
                self.refresh()
            except Exception as exc:  # keep serving what we have; say why we could not change
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("checking for model changes failed; still serving %s", self.state and self.state.describe())
