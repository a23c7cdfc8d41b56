"""The prediction service (BentoML 1.4): ``bentoml serve airflow_mlops.runtime.serving.service:PredictionService``.

Configured by ``$MLOPS_SERVING_CONFIG`` (see :class:`~airflow_mlops.runtime.serving.config.ServingConfig`);
start it with ``python -m airflow_mlops.runtime.serving start`` / ``make serve``.

- ``POST /predict`` ``{"instances": [row, ...]}``: adaptive batching merges concurrent requests
  into one model call. Each row is answered by the champion or, during a canary, by the
  challenger with the configured probability; every answer names its model version. The answer
  type follows the pipeline's task (``ServingConfig.task``, fixed at import, so the OpenAPI
  document at ``/docs.json`` shows it): a class and its probabilities, or a regression's number
  (:func:`~airflow_mlops.runtime.serving.schema.prediction_model`). A registered version of
  another task is never served (see :mod:`~airflow_mlops.runtime.serving.watcher`): with no
  servable champion ``/predict`` answers 503, never 500 (BentoML keeps a 5xx's message to the
  log; ``POST /status`` says why in ``last_error`` and ``refused_versions``).
- ``POST /admin/reload`` (``Authorization: Bearer $MLOPS_SERVING_ADMIN_TOKEN``): follow the
  registry and deployment record now instead of at the next poll.
- ``POST /status``: what serves. ``GET /healthz``, ``GET /readyz`` (ready once a model is loaded).
"""

from __future__ import annotations

import hmac
import logging
import os
import random
import time
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import bentoml
from bentoml.exceptions import BentoMLException, ServiceUnavailable
from bentoml.validators import ContentType
from pydantic import Field

from airflow_mlops.contract.layout import predictions_uri
from airflow_mlops.runtime.serving.config import ADMIN_TOKEN_ENV, ServingConfig
from airflow_mlops.runtime.serving.limits import BodySizeLimit
from airflow_mlops.runtime.serving.schema import prediction_model, row_model

log = logging.getLogger("airflow_mlops.runtime.serving")
JSON = "application/json"

CONFIG = ServingConfig.from_env()
Row = row_model(CONFIG.features, CONFIG.extra.get("descriptions"))
Answer = prediction_model(CONFIG.task)


class Unauthorized(BentoMLException):
    from http import HTTPStatus

    error_code = HTTPStatus.UNAUTHORIZED


class Conflict(BentoMLException):
    from http import HTTPStatus

    error_code = HTTPStatus.CONFLICT


@bentoml.service(
    name=f"{CONFIG.pipeline}_prediction",
    workers=CONFIG.workers,
    traffic={"timeout": 30},
    logging={"access": {"enabled": CONFIG.access_log}},
)
class PredictionService:
    def __init__(self) -> None:
        from airflow_mlops.runtime.predictions.writer import PredictionLogger
        from airflow_mlops.runtime.serving.watcher import ModelWatcher

        self.config = CONFIG
        self.watcher = ModelWatcher(CONFIG)
        self.logger = (
            PredictionLogger(
                predictions_uri(CONFIG.artifact_root, CONFIG.pipeline), CONFIG.log_flush_rows, CONFIG.log_flush_seconds,
                journal_dir=CONFIG.log_journal_dir,
            )
            if CONFIG.log_predictions
            else None
        )
        self.random = random.Random()
        self.served = 0
        try:
            log.info("serving %s", self.watcher.refresh())
        except Exception:  # the registry may be down at start: keep polling, stay not-ready
            log.exception("could not load the model at start; will retry every %ss", CONFIG.poll_seconds)
        self.watcher.start()

    @bentoml.api(batchable=True, max_batch_size=CONFIG.max_rows, max_latency_ms=20_000)
    def predict(
        self, instances: Annotated[list[Row], Field(min_length=1, max_length=CONFIG.max_rows)]
    ) -> Annotated[list[Answer], ContentType(JSON)]:  # named: BentoML derives it from a JSON schema at every answer
        state = self.watcher.state
        if state is None:
            reason = self.watcher.last_error
            raise ServiceUnavailable(f"no {CONFIG.model_name} model to serve yet" + (f": {reason}" if reason else ""))
        rows = [row.model_dump() for row in instances]
        request_ids = [row.pop("request_id") or uuid.uuid4().hex for row in rows]
        use_challenger = [
            state.challenger is not None and self.random.random() < state.weight for _ in rows
        ]
        timestamp = datetime.now(UTC).isoformat(timespec="milliseconds")
        answers: list[dict[str, Any] | None] = [None] * len(rows)
        records: list[dict[str, Any]] = []
        groups = [("challenger", state.challenger), ("champion", state.champion)] if state.challenger else [("champion", state.champion)]
        for role, model in groups:
            index = [i for i, c in enumerate(use_challenger) if (c if role == "challenger" else answers[i] is None)]
            if not index:
                continue
            started = time.perf_counter()
            try:
                decoded = model.answers([rows[i] for i in index])
            except Exception as exc:
                if role == "champion":
                    raise
                # A failing challenger must not fail requests: the champion answers, the error is logged.
                log.exception("challenger %s failed on %d rows", model.version, len(index))
                records.extend(
                    {"timestamp": timestamp, "request_id": request_ids[i], "model_version": model.version,
                     "model_role": role, "error": f"{type(exc).__name__}: {exc}"[:500]}
                    for i in index
                )
                continue
            latency_ms = (time.perf_counter() - started) * 1000
            for i, answer in zip(index, decoded):
                # answer: {"prediction": class, "probabilities": {...}} or, regression, {"prediction": value}
                answers[i] = {"request_id": request_ids[i], **answer, "model_version": model.version, "model_role": role}
                records.append({"timestamp": timestamp, "request_id": request_ids[i], "features": rows[i], **answer,
                                "model_version": model.version, "model_role": role,
                                "latency_ms": round(latency_ms, 3), "batch_rows": len(rows)})
        if self.logger is not None:
            self.logger.log(records)
        self.served += len(rows)
        return [Answer.model_construct(**a) for a in answers]  # built here from checked parts: no second validation

    @bentoml.api(route="/admin/reload")
    def admin_reload(self, ctx: bentoml.Context) -> dict:
        token = os.environ.get(ADMIN_TOKEN_ENV)
        given = ctx.request.headers.get("authorization", "")
        if not token or not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            raise Unauthorized(f"a valid 'Authorization: Bearer' token is required (${ADMIN_TOKEN_ENV})")
        from airflow_mlops.runtime.serving.models import NotServable

        try:
            return self.watcher.refresh()
        except NotServable as exc:  # the registry's champion is of another task: not served
            raise Conflict(str(exc)) from None

    @bentoml.api(route="/status")
    def status(self) -> dict:
        state = self.watcher.state
        return {
            "pipeline": CONFIG.pipeline,
            "model_name": CONFIG.model_name,
            "task": CONFIG.task,
            **(state.describe() if state else {"champion": None, "challenger": None, "canary_weight": 0.0}),
            # this worker's (deployment.serving.workers: each counts its own)
            "workers": CONFIG.workers,
            "served_rows": self.served,
            "logged_rows": self.logger.written if self.logger else None,
            "last_error": self.watcher.last_error,
            "refused_versions": dict(self.watcher.cache.refused),
        }

    def __is_ready__(self) -> bool:
        return self.watcher.state is not None

    @bentoml.on_shutdown
    def shutdown(self) -> None:
        self.watcher.stop()
        if self.logger is not None:
            self.logger.close()


PredictionService.add_asgi_middleware(BodySizeLimit, max_bytes=CONFIG.max_request_bytes)
