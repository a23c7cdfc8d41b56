"""What the server serves, and following its changes without downtime.

:class:`ModelWatcher` polls the registry's ``champion`` alias and the deployment record's
canary. When they change it loads the new version(s) in the background, warms them up, and
only then replaces :attr:`ModelWatcher.state` in one assignment: a request reads the state
once, so it is answered wholly by the old or wholly by the new models and never fails.

**A version of another task** (the registry's champion is an old classifier while the pipeline
is now a regression, say) is treated as *not loadable*, here, rather than answered and turned
into an error per request: the answer schema (and the OpenAPI document) is fixed when the server
starts, from ``ServingConfig.task``, so such a model could only ever fail. The cache refuses it
(:class:`~airflow_mlops.runtime.serving.models.NotServable`, remembered, so not reloaded at every
poll) and :attr:`ModelWatcher.last_error` says why (``POST /status``):

- a champion of another task is not swapped in: the previous champion keeps serving; with none
  yet the server stays not ready and ``/predict`` answers 503 with the reason;
- a challenger of another task gets no traffic: the champion serves alone (the canary analysis
  then sees no challenger predictions and waits);
- a pinned version (infra validation) of another task never becomes ready;
  :class:`~airflow_mlops.runtime.serving.server.ServerProcess` sees the refusal in ``/status``
  and fails at once instead of waiting for the start timeout.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from airflow_mlops.contract.layout import deployment_record_uri
from airflow_mlops.runtime.serving.config import ServingConfig
from airflow_mlops.runtime.serving.models import LoadedModel, ModelCache, NotServable
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
        from airflow_mlops.runtime.serving.server import exit_with_server

        exit_with_server()  # in a server's worker: do not outlive the server (a no-op elsewhere)
        self.config = config
        self.registry = Registry(config.tracking_uri, config.model_name, config.pipeline, "")
        self.cache = ModelCache(self.registry, config.cache_dir, config.task)
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
        """Bring the served models in line with :meth:`target`; returns what serves now.

        :raises NotServable: the champion is of another task (the previous one keeps serving)."""
        with self._refresh_lock:
            try:
                return self._refresh()
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                raise

    def _refresh(self) -> dict:
        target = self.target()
        problem = None
        if target.challenger:
            try:
                self.cache.get(target.challenger)
            except NotServable as exc:  # the champion serves alone
                problem = f"challenger not served: {exc}"
                target = Target(target.champion)
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
                if problem:
                    log.warning("%s", problem)
        self.last_error = f"NotServable: {problem}" if problem else None
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
            before = self.last_error
            try:
                self.refresh()
            except NotServable as exc:  # said once, not at every poll
                if self.last_error != before:
                    log.error("%s; still serving %s", exc, self.state and self.state.describe())
            except Exception:  # keep serving what we have; say why we could not change (refresh sets last_error)
                log.exception("checking for model changes failed; still serving %s", self.state and self.state.describe())
