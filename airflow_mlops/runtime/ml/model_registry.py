"""The MLflow tracking store and model registry, as the components use them.

Conventions: one MLflow experiment per pipeline (its artifacts under the artifact root), one MLflow
run per pipeline run (tagged with the Airflow DAG run), aliases ``champion`` (serves production),
``challenger`` (the candidate) and ``previous`` (the champion before the last promotion, for
rollback).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from airflow_mlops.artifacts.locks import file_lock
from airflow_mlops.contract import ComponentSpec, RunInfo, join_uri

log = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS = "previous"
RUN_TAG = "airflow.run_id"


@dataclass(frozen=True)
class Registry:
    """:param tracking_uri: MLflow tracking/registry URI.
    :param model_name: the registered model.
    :param experiment: the experiment of the pipeline's runs.
    :param artifact_location: where that experiment stores run artifacts."""

    tracking_uri: str
    model_name: str
    experiment: str
    artifact_location: str

    @classmethod
    def from_spec(cls, spec: ComponentSpec) -> Registry:
        settings = spec.settings.get("registry") or {}
        return cls(
            tracking_uri=settings["tracking_uri"],
            model_name=settings.get("model_name") or spec.pipeline,
            experiment=spec.pipeline,
            artifact_location=join_uri(spec.artifact_root, spec.pipeline, "_mlflow"),
        )

    def client(self):
        import mlflow
        from mlflow import MlflowClient

        _quiet_mlflow()
        mlflow.set_tracking_uri(self.tracking_uri)
        with _sqlite_first_use_lock(self.tracking_uri):
            client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
            # Opening the stores creates or migrates the database: do it under the lock.
            client.search_experiments(max_results=1)
            client.search_registered_models(max_results=1)
        return client

    def experiment_id(self, client) -> str:
        from mlflow.exceptions import MlflowException

        experiment = client.get_experiment_by_name(self.experiment)
        if experiment is not None:
            if experiment.artifact_location.rstrip("/") != self.artifact_location.rstrip("/"):
                # MLflow fixes an experiment's artifact location when it is created: after a change
                # of artifact root (file:// -> gs://) new model files still go to the old place,
                # which a step on another machine may not reach.
                log.warning("MLflow experiment %r keeps its artifact location %s, not %s (the artifact root changed "
                            "after it was created; use another tracking store or experiment to move it)",
                            self.experiment, experiment.artifact_location, self.artifact_location)
            return experiment.experiment_id
        try:
            return client.create_experiment(self.experiment, artifact_location=self.artifact_location)
        except MlflowException as exc:  # another step of a parallel run created it first
            if "RESOURCE_ALREADY_EXISTS" not in str(exc.error_code):
                raise
            return client.get_experiment_by_name(self.experiment).experiment_id

    def pipeline_run_id(self, client, run: RunInfo, fallback_key: str) -> str:
        """The MLflow run of this pipeline run, created by the first component that needs it."""
        key = run.run_id or fallback_key
        experiment_id = self.experiment_id(client)
        found = client.search_runs([experiment_id], filter_string=f"tags.`{RUN_TAG}` = '{_quote(key)}'", max_results=1)
        if found:
            return found[0].info.run_id
        tags = {RUN_TAG: key, "airflow.dag_id": run.dag_id or "", "airflow.logical_date": run.logical_date or ""}
        name = f"{run.dag_id or 'pipeline'}/{key}"
        return client.create_run(experiment_id, tags=tags, run_name=name).info.run_id

    def log_params(self, client, run_id: str, params: dict[str, Any]) -> None:
        """Log params to the pipeline run; MLflow forbids changing a logged value, so a re-executed
        step with other values (a cleared task, the cache off) keeps the first and says so."""
        from mlflow.entities import Param

        logged = client.get_run(run_id).data.params
        changed = {k: v for k, v in params.items() if k in logged and logged[k] != str(v)}
        if changed:
            log.warning("MLflow run %s keeps its first values of %s", run_id, ", ".join(sorted(changed)))
        new = [Param(k, str(v)) for k, v in params.items() if k not in logged]
        if new:
            client.log_batch(run_id, params=new)

    def version(self, client, alias: str):
        """The model version with ``alias``, or ``None`` (no model yet, or no such alias)."""
        from mlflow.exceptions import MlflowException

        try:
            return client.get_model_version_by_alias(self.model_name, alias)
        except MlflowException:
            return None

    def version_tags(self, client, alias: str) -> dict[str, Any] | None:
        version = self.version(client, alias)
        return None if version is None else {"version": str(version.version), **version.tags}


@contextlib.contextmanager
def _sqlite_first_use_lock(tracking_uri: str) -> Iterator[None]:
    """Serialise opening a SQLite MLflow database across processes.

    MLflow creates and migrates the schema when a store is first opened; several steps doing
    that at once on a new file (parallel backfill runs) break the migration. Other backends
    (an MLflow server, Cloud SQL) handle concurrency themselves.
    """
    if not tracking_uri.startswith("sqlite:///"):
        yield
        return
    with file_lock(tracking_uri.removeprefix("sqlite:///")):
        yield


def _quote(value: str) -> str:
    return value.replace("'", "\\'")


def _quiet_mlflow() -> None:
    for name in ("alembic", "mlflow.store.db.utils", "mlflow.tracking.fluent"):
        logging.getLogger(name).setLevel(logging.WARNING)


def keep_first_registration(client, name: str, fingerprint: str, version: str) -> str:
    """The one version of the model with ``fingerprint``, once this process has registered it as
    ``version``: the lowest live version with that fingerprint; ours is deleted if it is not it.

    ``register`` looks for the fingerprint before it registers, but two runs at once (parallel
    backfill runs) can both look before either has registered, and both register. Each calls
    this right after: versions are numbered in the order they are created, so the lowest one was
    there when the later ones looked, each later one deletes itself, and the lowest is never
    deleted. No lock, so it holds on every MLflow store (SQLite, PostgreSQL, an MLflow server)
    and across machines; the cost is a skipped version number."""
    same = client.search_model_versions(f"name = '{_quote(name)}' and tags.model_fingerprint = '{_quote(fingerprint)}'")
    first = min([str(v.version) for v in same] + [version], key=int)
    if first != version:
        log.warning("model %s (fingerprint %s) was registered at the same time as version %s and %s; "
                    "keeping version %s, deleting %s", name, fingerprint, first, version, first, version)
        client.delete_model_version(name, version)
    return first


def champion_fingerprint(spec: ComponentSpec, tag: str | None = None, unless_model: str | None = None) -> str:
    """What of the registry's champion a component's result depends on: its version (or one of
    its tags), qualified by the registry, so a new champion is a cache miss. A champion whose
    model is ``unless_model`` (a model fingerprint) counts as none."""
    registry = Registry.from_spec(spec)
    tags = registry.version_tags(registry.client(), CHAMPION)
    if tags is None or (unless_model is not None and tags.get("model_fingerprint") == unless_model):
        return f"{registry.tracking_uri}#no-champion"
    return f"{registry.tracking_uri}#{tags.get(tag) if tag else tags['version']}"
