"""Typed loader for ``include/<pipeline>/pipeline.yaml``.

Every problem in a file is reported at once, each with its field path, e.g.::

    invalid pipeline config include/penguin/pipeline.yaml:
      - data.label: 'kind' is not one of the features or columns ...
      - features.bill_length_mm: type must be one of categorical, numeric (got 'float')
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from airflow_mlops.contract.splits import split_ratio_problems

FEATURE_TYPES = ("categorical", "numeric")
FORMATS = ("auto", "csv", "parquet")
LAUNCHERS = ("local",)
DEPLOY_TARGETS = ("local", "vertex", "cloud_run")
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
DEFAULT_ARTIFACT_ROOT = ".mlops/artifacts"


class PipelineConfigError(ValueError):
    def __init__(self, path: Path | str, problems: list[str]):
        self.path = str(path)
        self.problems = problems
        super().__init__(f"invalid pipeline config {path}:\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    type: str
    description: str = ""


@dataclass(frozen=True)
class RuntimeSettings:
    """How components are launched.

    :param launcher: ``local`` (a subprocess in the runtime environment).
    :param timeout_minutes: a component still running after this is killed (and retried).
    :param retries: Airflow retries for infrastructure failures (data errors are never retried).
    """

    launcher: str = "local"
    timeout_minutes: int = 60
    retries: int = 2
    retry_delay_seconds: int = 60


@dataclass(frozen=True)
class ValidationSettings:
    """Data validation (TFDV on Beam).

    :param schema: the curated schema, relative to the project root; inferred from the training
        split and written there on the first run when it does not exist.
    :param max_missing_fraction: when inferring a schema, a feature may be missing in at most
        this share of the rows.
    :param jensen_shannon: drift threshold for numeric features vs the champion's training data.
    :param l_infinity: drift threshold for categorical features.
    :param on_drift: ``warn`` (record it, go on) or ``fail`` (stop the run).
    :param beam_pipeline_args: Beam options, e.g. ``--runner=DataflowRunner --project=... --region=...``.
    """

    schema: str
    max_missing_fraction: float = 0.1
    jensen_shannon: float = 0.3
    l_infinity: float = 0.3
    on_drift: str = "warn"
    beam_pipeline_args: tuple[str, ...] = ("--runner=DirectRunner",)


@dataclass(frozen=True)
class TrainingSettings:
    hidden_units: tuple[int, ...] = (16, 8)
    learning_rate: float = 0.01
    epochs: int = 30
    batch_size: int = 32
    seed: int = 42
    gpus: int = 0


@dataclass(frozen=True)
class EvaluationSettings:
    """:param min_accuracy: value threshold: the candidate needs at least this test accuracy.
    :param max_accuracy_drop: change threshold: it may be at most this much below the champion."""

    slices: tuple[str, ...] = ()
    min_accuracy: float = 0.8
    max_accuracy_drop: float = 0.02


@dataclass(frozen=True)
class RegistrySettings:
    """:param tracking_uri: MLflow tracking/registry URI; default a SQLite file under ``.mlops/``."""

    model_name: str
    tracking_uri: str | None = None


@dataclass(frozen=True)
class CanarySettings:
    """:param weight: share of requests the challenger answers during its canary.
    :param window_minutes: how long the canary runs before the promotion DAG decides.
    :param min_requests: fewer challenger predictions than this at the end of the window: keep waiting.
    :param max_error_rate_increase: challenger error rate may exceed the champion's by at most this.
    :param max_latency_ratio: challenger p95 latency may be at most this times the champion's.
    :param max_accuracy_drop: where labels have arrived, challenger accuracy may be at most this
        much below the champion's."""

    weight: float = 0.1
    window_minutes: int = 60
    min_requests: int = 50
    max_error_rate_increase: float = 0.01
    max_latency_ratio: float = 2.0
    max_accuracy_drop: float = 0.02


@dataclass(frozen=True)
class ServingSettings:
    """The local BentoML server.

    :param poll_seconds: how often the server checks the registry and the deployment record.
    :param max_rows: rows per request at most.
    :param max_request_bytes: bigger bodies get 413."""

    host: str = "127.0.0.1"
    port: int = 3000
    poll_seconds: float = 5.0
    max_rows: int = 1000
    max_request_bytes: int = 1_048_576


@dataclass(frozen=True)
class DeploymentSettings:
    """Where and how models are rolled out.

    :param target: ``local`` (the BentoML server), ``vertex`` (a Vertex AI endpoint) or ``cloud_run``.
    :param infra_sample_rows: test rows the candidate must answer before a rollout.
    :param infra_max_latency_ms: p95 latency bound of those answers.
    :param vertex: ``project``, ``region``, ``endpoint_id``, ``serving_container_image_uri``,
        ``machine_type``.
    :param cloud_run: ``project``, ``region``, ``service``, ``image``."""

    target: str = "local"
    infra_sample_rows: int = 20
    infra_max_latency_ms: float = 1000.0
    canary: CanarySettings = field(default_factory=CanarySettings)
    serving: ServingSettings = field(default_factory=ServingSettings)
    vertex: dict[str, Any] = field(default_factory=dict)
    cloud_run: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MonitoringSettings:
    """Drift and performance monitoring, and what triggers retraining.

    :param schedule: how often ``<pipeline>_monitoring`` looks at the prediction log.
    :param drift_share: dataset drift when at least this share of the features drift.
    :param must_not_drift: features whose drift alone is a drift verdict.
    :param min_rows: fewer logged predictions in the window: "no traffic", no verdict.
    :param min_accuracy: accuracy on the predictions whose labels have arrived below this is a
        performance-degradation verdict ...
    :param min_labels: ... when at least this many have labels.
    :param landing: where new data arrives (local path or ``gs://`` prefix), for
        ``<pipeline>_data_arrival``; relative paths are from the project root.
    :param poll_seconds: how often the sensors look.
    :param pubsub_subscription: on GCP, a Pub/Sub subscription whose alert messages also
        trigger retraining (``projects/<p>/subscriptions/<s>``)."""

    schedule: str = "@hourly"
    drift_share: float = 0.5
    must_not_drift: tuple[str, ...] = ()
    min_rows: int = 30
    min_accuracy: float = 0.85
    min_labels: int = 20
    landing: str = ".mlops/landing"
    poll_seconds: int = 30
    pubsub_subscription: str | None = None


@dataclass(frozen=True)
class PipelineConfig:
    name: str
    config_path: Path
    project_root: Path
    source: str | tuple[str, ...]
    label: str
    features: tuple[FeatureSpec, ...]
    split: dict[str, float]
    format: str = "auto"
    include_feedback: bool = False
    description: str = ""
    owner: str = "mlops"
    schedule: str | None = None
    start_date: date = date(2026, 1, 1)
    artifact_root: str = DEFAULT_ARTIFACT_ROOT
    runtime: RuntimeSettings = field(default_factory=RuntimeSettings)
    validation: ValidationSettings | None = None
    training: TrainingSettings = field(default_factory=TrainingSettings)
    evaluation: EvaluationSettings = field(default_factory=EvaluationSettings)
    registry: RegistrySettings | None = None
    deployment: DeploymentSettings = field(default_factory=DeploymentSettings)
    monitoring: MonitoringSettings = field(default_factory=MonitoringSettings)

    @property
    def artifact_root_uri(self) -> str:
        """``artifact_root`` as a URI; a relative path is taken from the project root."""
        if "://" in self.artifact_root:
            return self.artifact_root
        path = Path(self.artifact_root)
        return "file://" + str(path if path.is_absolute() else (self.project_root / path).resolve())

    @property
    def schema_uri(self) -> str:
        path = Path(self.validation.schema)
        return "file://" + str(path if path.is_absolute() else (self.project_root / path).resolve())

    @property
    def source_uris(self) -> str | list[str]:
        """``data.source`` with relative local paths made absolute (from the project root)."""
        def absolute(location: str) -> str:
            if "://" in location or Path(location).is_absolute() or any(c in location for c in "*?["):
                return location
            return "file://" + str((self.project_root / location).resolve())

        return absolute(self.source) if isinstance(self.source, str) else [absolute(s) for s in self.source]

    @property
    def landing_uri(self) -> str:
        """``monitoring.landing`` as a URI; a relative path is taken from the project root."""
        landing = self.monitoring.landing
        if "://" in landing:
            return landing.rstrip("/")
        path = Path(landing)
        return "file://" + str(path if path.is_absolute() else (self.project_root / path).resolve())

    @property
    def default_tracking_uri(self) -> str:
        return f"sqlite:///{self.project_root / '.mlops' / 'mlflow.db'}"

    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]


class _Reader:
    """Collects problems while reading a YAML mapping field by field."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def section(self, data: dict, key: str) -> dict:
        value = data.get(key, {})
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problems.append(f"{key}: must be a mapping (got {type(value).__name__})")
            return {}
        return value

    def get(self, data: dict, key: str, path: str, types: type | tuple, default: Any = ..., choices=None) -> Any:
        if key not in data or data[key] is None:
            if default is ...:
                self.problems.append(f"{path}: required")
            return None if default is ... else default
        value = data[key]
        if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
            self.problems.append(f"{path}: must be {_type_names(types)} (got {value!r})")
            return None if default is ... else default
        if not isinstance(value, types):
            self.problems.append(f"{path}: must be {_type_names(types)} (got {value!r})")
            return None if default is ... else default
        if choices is not None and value not in choices:
            self.problems.append(f"{path}: must be one of {', '.join(choices)} (got {value!r})")
            return None if default is ... else default
        return value

    def unknown(self, data: dict, allowed: set[str], prefix: str = "") -> None:
        for key in sorted(set(data) - allowed, key=str):
            self.problems.append(f"{prefix}{key}: unknown field (allowed: {', '.join(sorted(allowed))})")


def _type_names(types: type | tuple) -> str:
    types = types if isinstance(types, tuple) else (types,)
    names = {str: "a string", int: "an integer", float: "a number", dict: "a mapping", bool: "true or false"}
    return " or ".join(names.get(t, t.__name__) for t in types)


def _features(reader: _Reader, raw: Any) -> tuple[FeatureSpec, ...]:
    if not isinstance(raw, dict) or not raw:
        reader.problems.append("features: required, a mapping of column name to type (categorical or numeric)")
        return ()
    features = []
    for name, value in raw.items():
        path = f"features.{name}"
        if isinstance(value, str):
            value = {"type": value}
        if not isinstance(value, dict):
            reader.problems.append(f"{path}: must be a type name or a mapping with 'type' (got {value!r})")
            continue
        reader.unknown(value, {"type", "description"}, f"{path}.")
        ftype = reader.get(value, "type", f"{path}.type", str, choices=FEATURE_TYPES)
        description = reader.get(value, "description", f"{path}.description", str, default="")
        if ftype is not None:
            features.append(FeatureSpec(str(name), ftype, description))
    return tuple(features)


NUMBER = (int, float)


def _fraction(reader: _Reader, section: dict, key: str, path: str, default: float) -> float:
    value = reader.get(section, key, path, NUMBER, default=default)
    if not 0 <= value <= 1:
        reader.problems.append(f"{path}: must be between 0 and 1 (got {value!r})")
    return float(value)


def _positive(reader: _Reader, section: dict, key: str, path: str, types, default):
    value = reader.get(section, key, path, types, default=default)
    if value is not None and value <= 0:
        reader.problems.append(f"{path}: must be greater than 0 (got {value!r})")
    return value


def _string_list(reader: _Reader, section: dict, key: str, path: str, default: tuple) -> tuple[str, ...]:
    value = reader.get(section, key, path, list, default=list(default))
    if not all(isinstance(v, str) for v in value):
        reader.problems.append(f"{path}: must be a list of strings (got {value!r})")
        return default
    return tuple(value)


def _validation(reader: _Reader, data: dict, name: str | None) -> ValidationSettings:
    section = reader.section(data, "validation")
    reader.unknown(section, {"schema", "max_missing_fraction", "drift", "beam_pipeline_args"}, "validation.")
    drift = reader.section(section, "drift")
    reader.unknown(drift, {"jensen_shannon", "l_infinity", "on_drift"}, "validation.drift.")
    return ValidationSettings(
        schema=reader.get(section, "schema", "validation.schema", str, default=f"include/{name}/schema.pbtxt"),
        max_missing_fraction=_fraction(reader, section, "max_missing_fraction", "validation.max_missing_fraction", 0.1),
        jensen_shannon=_fraction(reader, drift, "jensen_shannon", "validation.drift.jensen_shannon", 0.3),
        l_infinity=_fraction(reader, drift, "l_infinity", "validation.drift.l_infinity", 0.3),
        on_drift=reader.get(drift, "on_drift", "validation.drift.on_drift", str, default="warn", choices=("warn", "fail")),
        beam_pipeline_args=_string_list(
            reader, section, "beam_pipeline_args", "validation.beam_pipeline_args", ("--runner=DirectRunner",)
        ),
    )


def _training(reader: _Reader, data: dict) -> TrainingSettings:
    section = reader.section(data, "training")
    reader.unknown(section, {"hidden_units", "learning_rate", "epochs", "batch_size", "seed", "gpus"}, "training.")
    units = reader.get(section, "hidden_units", "training.hidden_units", list, default=[16, 8])
    if not units or not all(isinstance(u, int) and not isinstance(u, bool) and u > 0 for u in units):
        reader.problems.append(f"training.hidden_units: must be a non-empty list of positive integers (got {units!r})")
        units = [16, 8]
    gpus = reader.get(section, "gpus", "training.gpus", int, default=0)
    if gpus < 0:
        reader.problems.append("training.gpus: must be 0 or more")
    return TrainingSettings(
        hidden_units=tuple(units),
        learning_rate=float(_positive(reader, section, "learning_rate", "training.learning_rate", NUMBER, 0.01)),
        epochs=_positive(reader, section, "epochs", "training.epochs", int, 30),
        batch_size=_positive(reader, section, "batch_size", "training.batch_size", int, 32),
        seed=reader.get(section, "seed", "training.seed", int, default=42),
        gpus=gpus,
    )


def _evaluation(reader: _Reader, data: dict, features: tuple[FeatureSpec, ...]) -> EvaluationSettings:
    section = reader.section(data, "evaluation")
    reader.unknown(section, {"slices", "thresholds"}, "evaluation.")
    thresholds = reader.section(section, "thresholds")
    reader.unknown(thresholds, {"min_accuracy", "max_accuracy_drop"}, "evaluation.thresholds.")
    slices = _string_list(reader, section, "slices", "evaluation.slices", ())
    names = {f.name for f in features}
    for name in slices:
        if names and name not in names:
            reader.problems.append(f"evaluation.slices: {name!r} is not one of the features")
    return EvaluationSettings(
        slices=slices,
        min_accuracy=_fraction(reader, thresholds, "min_accuracy", "evaluation.thresholds.min_accuracy", 0.8),
        max_accuracy_drop=_fraction(reader, thresholds, "max_accuracy_drop", "evaluation.thresholds.max_accuracy_drop", 0.02),
    )


def _registry(reader: _Reader, data: dict, name: str | None) -> RegistrySettings:
    section = reader.section(data, "registry")
    reader.unknown(section, {"model_name", "tracking_uri"}, "registry.")
    return RegistrySettings(
        model_name=reader.get(section, "model_name", "registry.model_name", str, default=name),
        tracking_uri=reader.get(section, "tracking_uri", "registry.tracking_uri", str, default=None),
    )


VERTEX_FIELDS = {"project", "region", "endpoint_id", "serving_container_image_uri", "machine_type"}
CLOUD_RUN_FIELDS = {"project", "region", "service", "image"}


def _deployment(reader: _Reader, data: dict) -> DeploymentSettings:
    section = reader.section(data, "deployment")
    reader.unknown(
        section, {"target", "infra_validation", "canary", "serving", "vertex", "cloud_run"}, "deployment."
    )
    infra = reader.section(section, "infra_validation")
    reader.unknown(infra, {"sample_rows", "max_latency_ms"}, "deployment.infra_validation.")
    canary = reader.section(section, "canary")
    reader.unknown(
        canary,
        {"weight", "window_minutes", "min_requests", "max_error_rate_increase", "max_latency_ratio", "max_accuracy_drop"},
        "deployment.canary.",
    )
    serving = reader.section(section, "serving")
    reader.unknown(serving, {"host", "port", "poll_seconds", "max_rows", "max_request_bytes"}, "deployment.serving.")
    target = reader.get(section, "target", "deployment.target", str, default="local", choices=DEPLOY_TARGETS)
    cloud = {}
    for name, fields in (("vertex", VERTEX_FIELDS), ("cloud_run", CLOUD_RUN_FIELDS)):
        cloud[name] = reader.section(section, name)
        reader.unknown(cloud[name], fields, f"deployment.{name}.")
    required = {"vertex": ("project", "region", "endpoint_id", "serving_container_image_uri"), "cloud_run": ("project", "region", "service", "image")}
    for key in required.get(target, ()):
        if not cloud[target].get(key):
            reader.problems.append(f"deployment.{target}.{key}: required when deployment.target is {target}")
    p = "deployment.canary."
    return DeploymentSettings(
        target=target,
        infra_sample_rows=_positive(reader, infra, "sample_rows", "deployment.infra_validation.sample_rows", int, 20),
        infra_max_latency_ms=float(
            _positive(reader, infra, "max_latency_ms", "deployment.infra_validation.max_latency_ms", NUMBER, 1000.0)
        ),
        canary=CanarySettings(
            weight=_fraction(reader, canary, "weight", p + "weight", 0.1),
            window_minutes=reader.get(canary, "window_minutes", p + "window_minutes", int, default=60),
            min_requests=reader.get(canary, "min_requests", p + "min_requests", int, default=50),
            max_error_rate_increase=_fraction(reader, canary, "max_error_rate_increase", p + "max_error_rate_increase", 0.01),
            max_latency_ratio=float(_positive(reader, canary, "max_latency_ratio", p + "max_latency_ratio", NUMBER, 2.0)),
            max_accuracy_drop=_fraction(reader, canary, "max_accuracy_drop", p + "max_accuracy_drop", 0.02),
        ),
        serving=ServingSettings(
            host=reader.get(serving, "host", "deployment.serving.host", str, default="127.0.0.1"),
            port=_positive(reader, serving, "port", "deployment.serving.port", int, 3000),
            poll_seconds=float(_positive(reader, serving, "poll_seconds", "deployment.serving.poll_seconds", NUMBER, 5.0)),
            max_rows=_positive(reader, serving, "max_rows", "deployment.serving.max_rows", int, 1000),
            max_request_bytes=_positive(reader, serving, "max_request_bytes", "deployment.serving.max_request_bytes", int, 1_048_576),
        ),
        vertex=dict(cloud["vertex"]),
        cloud_run=dict(cloud["cloud_run"]),
    )


def _monitoring(reader: _Reader, data: dict, features: tuple[FeatureSpec, ...], name: str | None) -> MonitoringSettings:
    section = reader.section(data, "monitoring")
    fields = {"schedule", "drift_share", "must_not_drift", "min_rows", "min_accuracy", "min_labels", "landing",
              "poll_seconds", "pubsub_subscription"}
    reader.unknown(section, fields, "monitoring.")
    must_not_drift = _string_list(reader, section, "must_not_drift", "monitoring.must_not_drift", ())
    names = {f.name for f in features}
    for feature in must_not_drift:
        if names and feature not in names:
            reader.problems.append(f"monitoring.must_not_drift: {feature!r} is not one of the features")
    p = "monitoring."
    return MonitoringSettings(
        schedule=reader.get(section, "schedule", p + "schedule", str, default="@hourly"),
        drift_share=_fraction(reader, section, "drift_share", p + "drift_share", 0.5),
        must_not_drift=must_not_drift,
        min_rows=_positive(reader, section, "min_rows", p + "min_rows", int, 30),
        min_accuracy=_fraction(reader, section, "min_accuracy", p + "min_accuracy", 0.85),
        min_labels=_positive(reader, section, "min_labels", p + "min_labels", int, 20),
        landing=reader.get(section, "landing", p + "landing", str, default=f".mlops/landing/{name}"),
        poll_seconds=_positive(reader, section, "poll_seconds", p + "poll_seconds", int, 30),
        pubsub_subscription=reader.get(section, "pubsub_subscription", p + "pubsub_subscription", str, default=None),
    )


def parse_pipeline_config(data: Any, config_path: Path, project_root: Path) -> PipelineConfig:
    """Build a :class:`PipelineConfig` from parsed YAML, or raise with every problem found."""
    reader = _Reader()
    if not isinstance(data, dict):
        raise PipelineConfigError(config_path, ["the file must contain a mapping at the top level"])
    reader.unknown(
        data,
        {
            "pipeline", "description", "owner", "schedule", "start_date", "artifact_root", "data", "features",
            "runtime", "validation", "training", "evaluation", "registry", "deployment", "monitoring",
        },
    )
    name = reader.get(data, "pipeline", "pipeline", str)
    if name is not None and not NAME_PATTERN.match(name):
        reader.problems.append(f"pipeline: must be lowercase letters, digits and '_' starting with a letter (got {name!r})")

    data_section = reader.section(data, "data")
    reader.unknown(data_section, {"source", "format", "label", "split", "include_feedback"}, "data.")
    include_feedback = reader.get(data_section, "include_feedback", "data.include_feedback", bool, default=False)
    source = reader.get(data_section, "source", "data.source", (str, list))
    if isinstance(source, list) and (not source or not all(isinstance(s, str) for s in source)):
        reader.problems.append(f"data.source: must be a location or a non-empty list of locations (got {source!r})")
    fmt = reader.get(data_section, "format", "data.format", str, default="auto", choices=FORMATS)
    label = reader.get(data_section, "label", "data.label", str)
    split = reader.get(data_section, "split", "data.split", dict, default={"train": 0.7, "eval": 0.15, "test": 0.15})
    reader.problems.extend(f"data.split.{p}" if ":" in p else f"data.split: {p}" for p in split_ratio_problems(split))

    features = _features(reader, data.get("features"))
    if label is not None and label in {f.name for f in features}:
        reader.problems.append(f"data.label: {label!r} is also listed under features; the label must not be a feature")

    start = reader.get(data, "start_date", "start_date", (date, str), default=date(2026, 1, 1))
    if isinstance(start, str):
        try:
            start = date.fromisoformat(start)
        except ValueError:
            reader.problems.append(f"start_date: must be a date like 2026-01-01 (got {start!r})")
    if isinstance(start, datetime):
        start = start.date()

    runtime_section = reader.section(data, "runtime")
    reader.unknown(runtime_section, {"launcher", "timeout_minutes", "retries", "retry_delay_seconds"}, "runtime.")
    runtime = RuntimeSettings(
        launcher=reader.get(runtime_section, "launcher", "runtime.launcher", str, default="local", choices=LAUNCHERS),
        timeout_minutes=reader.get(runtime_section, "timeout_minutes", "runtime.timeout_minutes", int, default=60),
        retries=reader.get(runtime_section, "retries", "runtime.retries", int, default=2),
        retry_delay_seconds=reader.get(runtime_section, "retry_delay_seconds", "runtime.retry_delay_seconds", int, default=60),
    )
    if runtime.timeout_minutes is not None and runtime.timeout_minutes <= 0:
        reader.problems.append("runtime.timeout_minutes: must be greater than 0")
    if runtime.retries is not None and runtime.retries < 0:
        reader.problems.append("runtime.retries: must be 0 or more")

    sections = dict(
        validation=_validation(reader, data, name),
        training=_training(reader, data),
        evaluation=_evaluation(reader, data, features),
        registry=_registry(reader, data, name),
        deployment=_deployment(reader, data),
        monitoring=_monitoring(reader, data, features, name),
    )
    config = dict(
        description=reader.get(data, "description", "description", str, default=""),
        owner=reader.get(data, "owner", "owner", str, default="mlops"),
        schedule=reader.get(data, "schedule", "schedule", str, default=None),
        artifact_root=reader.get(data, "artifact_root", "artifact_root", str, default=DEFAULT_ARTIFACT_ROOT),
    )
    if reader.problems:
        raise PipelineConfigError(config_path, reader.problems)
    return PipelineConfig(
        name=name,
        config_path=config_path,
        project_root=project_root,
        source=tuple(source) if isinstance(source, list) else source,
        label=label,
        features=features,
        split={k: float(v) for k, v in split.items()},
        format=fmt,
        include_feedback=include_feedback,
        start_date=start,
        runtime=runtime,
        **sections,
        **config,
    )


def load_pipeline_config(path: str | Path, project_root: str | Path | None = None) -> PipelineConfig:
    """Load and check a pipeline YAML.

    :param path: the YAML file.
    :param project_root: what relative paths in it are relative to; by default the directory
        that holds ``include/`` (``include/<pipeline>/pipeline.yaml`` -> two levels up).
    """
    import yaml

    path = Path(path).resolve()
    root = Path(project_root).resolve() if project_root else path.parent.parent.parent
    try:
        text = path.read_text()
    except OSError as exc:
        raise PipelineConfigError(path, [f"cannot read the file: {exc.strerror or exc}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PipelineConfigError(path, [f"not valid YAML: {exc}"]) from None
    return parse_pipeline_config(data, path, root)
