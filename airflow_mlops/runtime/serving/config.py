"""What a prediction server needs to know, as one JSON document (``$MLOPS_SERVING_CONFIG``).

Written by ``python -m airflow_mlops.runtime.serving start`` (from the pipeline YAML) and by infra
validation; read by ``service.py`` when BentoML imports it.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any

from airflow_mlops.contract.config.model import ServingSettings
from airflow_mlops.contract.tasks import CLASSIFICATION
from airflow_mlops.runtime.predictions.writer import FLUSH_ROWS, FLUSH_SECONDS

CONFIG_ENV = "MLOPS_SERVING_CONFIG"
ADMIN_TOKEN_ENV = "MLOPS_SERVING_ADMIN_TOKEN"


@dataclass(frozen=True, kw_only=True)
class ServingConfig(ServingSettings):
    """The pipeline's ``deployment.serving`` settings (host, port, poll_seconds, max_rows,
    max_request_bytes) plus what the server is told by whoever starts it.

    :param features: ``{name: "numeric" | "categorical"}``, the request schema.
    :param task: the pipeline's task (``classification``, ``binary_classification`` or
        ``regression``): the answers' schema; a model version of another task is not served
        (:class:`~airflow_mlops.runtime.serving.models.NotServable`).
    :param pin_version: serve exactly this model version and ignore aliases and the deployment
        record (infra validation of a candidate).
    :param log_predictions: append every prediction to the sink under the artifact root.
    :param cache_dir: where model versions are downloaded to.
    :param log_flush_rows: the prediction log writes a file every this many rows ...
    :param log_flush_seconds: ... or this often, whichever comes first.
    :param log_journal_dir: a local directory for the prediction log's write-ahead journal: answers
        accepted but not yet written when the server is killed are written by its next start (none:
        they are lost)."""

    pipeline: str
    model_name: str
    tracking_uri: str
    artifact_root: str
    features: dict[str, str]
    cache_dir: str
    task: str = CLASSIFICATION
    pin_version: str | None = None
    log_predictions: bool = True
    log_flush_rows: int = FLUSH_ROWS
    log_flush_seconds: float = FLUSH_SECONDS
    log_journal_dir: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> ServingConfig:
        return cls(**json.loads(text))

    @classmethod
    def from_env(cls) -> ServingConfig:
        path = os.environ.get(CONFIG_ENV)
        if not path:
            raise RuntimeError(f"${CONFIG_ENV} is not set: start the server with `python -m airflow_mlops.runtime.serving start`")
        with open(path) as f:
            return cls.from_json(f.read())

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"
