"""The pipeline config (``include/<pipeline>/pipeline.yaml``) as typed records.

Each YAML section is a record; the sections that configure a step are made of that step's
``*Options`` record from :mod:`airflow_mlops.contract.params`, so a step's defaults are declared
once, there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from airflow_mlops.contract.config.runtime import RuntimeSettings
from airflow_mlops.contract.params import (
    BatchInputOptions,
    BatchPredictOptions,
    CanaryRollout,
    CanaryThresholds,
    EvaluateOptions,
    InfraValidationOptions,
    IngestOptions,
    MonitorOptions,
    PositiveClassParam,
    RegisterOptions,
    TaskParam,
    TrainOptions,
    TuningOptions,
    ValidateOptions,
)
from airflow_mlops.contract.tasks import DEFAULT_BACKTEST, DEFAULT_THRESHOLDS
from airflow_mlops.contract.typed import Record, option

DEPLOY_TARGETS = ("local", "vertex", "cloud_run")
#: ``deployment.approval``: who promotes a canary that passed its analysis
APPROVALS = ("none", "promote")
DEFAULT_ARTIFACT_ROOT = ".mlops/artifacts"
DEFAULT_BEAM_ARGS = ("--runner=DirectRunner",)
#: the settings of each remote deployment target that must be given
REMOTE_REQUIRED = {
    "vertex": ("project", "region", "endpoint_id", "serving_container_image_uri"),
    "cloud_run": ("project", "region", "service", "image"),
}
VERTEX_FIELDS = (*REMOTE_REQUIRED["vertex"], "machine_type")
CLOUD_RUN_FIELDS = REMOTE_REQUIRED["cloud_run"]


def _allowed_keys(allowed: tuple[str, ...]) -> Callable[[dict[str, Any]], list[str]]:
    def check(value: dict[str, Any]) -> list[str]:
        return [f"{key}: unknown field (allowed: {', '.join(sorted(allowed))})" for key in value if key not in allowed]

    return check


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    type: str
    description: str = ""


@dataclass(frozen=True, kw_only=True)
class ValidationSettings(ValidateOptions):
    """Data validation (YAML ``validation:``)."""

    schema: str | None = option(None, "the curated schema, relative to the project root (default include/<pipeline>/schema.pbtxt)")
    beam_pipeline_args: tuple[str, ...] = option(
        DEFAULT_BEAM_ARGS, "Beam options, e.g. --runner=DataflowRunner --project=... --region=...")


@dataclass(frozen=True, kw_only=True)
class TrainingSettings(TrainOptions):
    """YAML ``training:``: the model's hyper-parameters and the GPUs a training job takes."""

    gpus: int = option(0, "GPUs per training job; the train task takes as many slots of the gpu pool", ge=0)
    tuning: TuningOptions = option(doc="a hyper-parameter search before train", factory=TuningOptions)


@dataclass(frozen=True, kw_only=True)
class RegistrySettings(RegisterOptions):
    """YAML ``registry:``."""

    model_name: str | None = option(None, "registered model name (default: the pipeline's name)")
    tracking_uri: str | None = option(None, "MLflow tracking/registry URI (default: a SQLite file under .mlops/)")
    mlflow_conn_id: str | None = option(
        None, "an Airflow connection of type mlflow to take the tracking URI and credentials from (wins over tracking_uri)")


@dataclass(frozen=True, kw_only=True)
class CanarySettings(CanaryRollout, CanaryThresholds):
    """YAML ``deployment.canary``: the rollout and the thresholds of the canary analysis."""


@dataclass(frozen=True, kw_only=True)
class ServingSettings(Record):
    """The local BentoML server (YAML ``deployment.serving``)."""

    host: str = option("127.0.0.1", "address the server listens on")
    port: int = option(3000, "its port", gt=0)
    poll_seconds: float = option(5.0, "how often the server checks the registry and the deployment record", gt=0)
    max_rows: int = option(1000, "rows per request at most", gt=0)
    max_request_bytes: int = option(1_048_576, "bigger bodies get 413", gt=0)
    workers: int = option(
        1, "server processes, each with the served versions loaded (memory times workers): as many as the "
        "machine's cores for throughput; /admin/reload and /status reach one of them, the others follow within "
        "poll_seconds", gt=0)
    access_log: bool = option(
        False, "a log line per HTTP request (off: the prediction log records every answered row with its "
        "request id, version and latency; on, it costs about a tenth of the server's throughput)")


@dataclass(frozen=True, kw_only=True)
class DeploymentSettings(Record):
    """Where and how models are rolled out (YAML ``deployment:``), and whether a person approves
    each promotion."""

    target: str = option("local", "local (the BentoML server), vertex (a Vertex AI endpoint) or cloud_run", choices=DEPLOY_TARGETS)
    infra_validation: InfraValidationOptions = option(doc="the check before any rollout", factory=InfraValidationOptions)
    canary: CanarySettings = option(doc="canary rollout and analysis", factory=CanarySettings)
    approval: str = option(
        "none", "none: a canary that passes its analysis is promoted at once; promote: it waits for a person to "
        "approve or reject it in the Airflow UI (automatic to dev and test, a person's approval to production)",
        choices=APPROVALS)
    approval_timeout_hours: float = option(
        168.0, "approval: promote: how long the approval waits; no answer by then is a rejection (the champion stays)",
        gt=0)
    serving: ServingSettings = option(doc="the local prediction server", factory=ServingSettings)
    vertex: dict[str, Any] = option(doc=", ".join(VERTEX_FIELDS), factory=dict, check=_allowed_keys(VERTEX_FIELDS))
    cloud_run: dict[str, Any] = option(doc=", ".join(CLOUD_RUN_FIELDS), factory=dict, check=_allowed_keys(CLOUD_RUN_FIELDS))

    @property
    def target_settings(self) -> dict[str, Any]:
        """The settings of a remote target (``deployment.vertex`` / ``deployment.cloud_run``)."""
        return dict(getattr(self, self.target)) if self.target != "local" else {}


@dataclass(frozen=True, kw_only=True)
class MonitoringSettings(MonitorOptions):
    """Drift and performance monitoring, and what triggers retraining (YAML ``monitoring:``)."""

    schedule: str = option("@hourly", "how often <pipeline>_monitoring looks at the prediction log")
    window_minutes: int = option(60, "how far back each monitoring run looks (the trigger form can change it)", gt=0)
    landing: str | None = option(None, "where new data arrives (path or gs:// prefix; default .mlops/landing/<pipeline>)")
    poll_seconds: int = option(30, "how often the sensors look", gt=0)


@dataclass(frozen=True, kw_only=True)
class BatchPredictionSettings(BatchInputOptions, BatchPredictOptions):
    """YAML ``batch_prediction:``: the ``<pipeline>_batch_prediction`` DAG, which runs by hand, on
    its input Asset (``mlops://<pipeline>/batch_input``; an event's extra ``source`` says what to
    predict) and on ``schedule``."""

    schedule: str | None = option(None, "cron or preset of <pipeline>_batch_prediction, besides its input Asset")


@dataclass(frozen=True, kw_only=True)
class PipelineSettings(PositiveClassParam, TaskParam):
    """The top level of the YAML besides its sections."""

    extra_keys = frozenset({
        "pipeline", "start_date", "data", "features", "runtime", "validation", "training", "evaluation", "registry",
        "deployment", "monitoring", "batch_prediction",
    })

    description: str = option("", "what the pipeline is for")
    owner: str = option("mlops", "the DAGs' owner")
    schedule: str | None = option(None, "cron schedule of training, besides new data and retraining requests")
    artifact_root: str = option(DEFAULT_ARTIFACT_ROOT, "fsspec URI or path (from the project root) of the artifacts")


DEFAULT_START_DATE = date(2026, 1, 1)


@dataclass(frozen=True)
class PipelineConfig:
    """A loaded, checked ``pipeline.yaml``."""

    name: str
    config_path: Path
    project_root: Path
    data: IngestOptions
    features: tuple[FeatureSpec, ...]
    settings: PipelineSettings = field(default_factory=PipelineSettings)
    start_date: date = DEFAULT_START_DATE
    runtime: RuntimeSettings = field(default_factory=RuntimeSettings)
    validation: ValidationSettings = field(default_factory=ValidationSettings)
    training: TrainingSettings = field(default_factory=TrainingSettings)
    evaluation: EvaluateOptions = field(default_factory=EvaluateOptions)
    registry: RegistrySettings = field(default_factory=RegistrySettings)
    deployment: DeploymentSettings = field(default_factory=DeploymentSettings)
    monitoring: MonitoringSettings = field(default_factory=MonitoringSettings)
    batch_prediction: BatchPredictionSettings = field(default_factory=BatchPredictionSettings)

    # -- the data section and the top level, by their old names ----------------------------------

    @property
    def label(self) -> str:
        return self.data.label

    @property
    def source(self) -> str | tuple[str, ...]:
        return self.data.source

    @property
    def split(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.data.split.items()}

    @property
    def format(self) -> str:
        return self.data.format

    @property
    def include_feedback(self) -> bool:
        return self.data.include_feedback

    @property
    def task(self) -> str:
        return self.settings.task

    @property
    def evaluation_thresholds(self) -> dict[str, dict[str, float]]:
        """``evaluation.thresholds``, or the task's default when none are given."""
        given = {name: bounds.to_dict() for name, bounds in self.evaluation.thresholds.items()}
        return given or {name: dict(bounds) for name, bounds in DEFAULT_THRESHOLDS[self.task].items()}

    @property
    def evaluation_backtest(self) -> dict[str, dict[str, float]]:
        """``evaluation.backtest``, or the task's default when none is given."""
        given = {name: bounds.to_dict() for name, bounds in self.evaluation.backtest.items()}
        return given or {name: dict(bounds) for name, bounds in DEFAULT_BACKTEST[self.task].items()}

    @property
    def training_module_path(self) -> Path | None:
        """``training.module`` when it names a file (``*.py``), relative to the pipeline YAML."""
        module = self.training.module
        if module is None or not module.endswith(".py"):
            return None
        path = Path(module)
        return path if path.is_absolute() else (self.config_path.parent / path).resolve()

    def training_module_source(self) -> str | None:
        """The text of a module file, which travels in the train step's spec."""
        path = self.training_module_path
        return path.read_text() if path is not None else None

    @property
    def description(self) -> str:
        return self.settings.description

    @property
    def owner(self) -> str:
        return self.settings.owner

    @property
    def schedule(self) -> str | None:
        return self.settings.schedule

    @property
    def artifact_root(self) -> str:
        return self.settings.artifact_root

    @property
    def model_name(self) -> str:
        return self.registry.model_name or self.name

    # -- locations -----------------------------------------------------------------------------

    def _uri(self, location: str) -> str:
        if "://" in location:
            return location.rstrip("/")
        path = Path(location)
        return "file://" + str(path if path.is_absolute() else (self.project_root / path).resolve())

    @property
    def artifact_root_uri(self) -> str:
        """``artifact_root`` as a URI; a relative path is taken from the project root."""
        return self._uri(self.artifact_root)

    @property
    def schema_uri(self) -> str:
        return self._uri(self.validation.schema or f"include/{self.name}/schema.pbtxt")

    @property
    def source_uris(self) -> str | list[str]:
        """``data.source`` with relative local paths made absolute (from the project root)."""
        def absolute(location: str) -> str:
            if "://" in location or Path(location).is_absolute() or any(c in location for c in "*?["):
                return location
            return self._uri(location)

        return absolute(self.source) if isinstance(self.source, str) else [absolute(s) for s in self.source]

    @property
    def landing_uri(self) -> str:
        """``monitoring.landing`` as a URI; a relative path is taken from the project root."""
        return self._uri(self.monitoring.landing or f".mlops/landing/{self.name}")

    @property
    def batch_source_uri(self) -> str:
        """``batch_prediction.source`` with a relative local path made absolute (templates kept);
        default ``.mlops/batch/<pipeline>``."""
        source = self.batch_prediction.source or f".mlops/batch/{self.name}"
        return source if source.startswith("{{") else self._uri(source)

    @property
    def default_tracking_uri(self) -> str:
        return f"sqlite:///{self.project_root / '.mlops' / 'mlflow.db'}"

    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    def feature_types(self) -> dict[str, str]:
        return {f.name: f.type for f in self.features}
