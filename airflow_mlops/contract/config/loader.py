"""Reads and checks ``include/<pipeline>/pipeline.yaml``.

Every problem in a file is reported at once, each with its field path, e.g.::

    invalid pipeline config include/penguin/pipeline.yaml:
      - data.label: 'kind' is not one of the features or columns ...
      - features.bill_length_mm.type: must be one of categorical, numeric (got 'float')
"""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

from airflow_mlops.contract.config.model import (
    DEFAULT_START_DATE,
    REMOTE_REQUIRED,
    BatchPredictionSettings,
    DeploymentSettings,
    FeatureSpec,
    MonitoringSettings,
    PipelineConfig,
    PipelineSettings,
    RegistrySettings,
    RuntimeSettings,
    TrainingSettings,
    ValidationSettings,
)
from airflow_mlops.contract.params import FEATURE_TYPES, EvaluateOptions, IngestOptions
from airflow_mlops.contract.tasks import BINARY_CLASSIFICATION, threshold_problems
from airflow_mlops.contract.typed import Record, read_record

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
MODULE_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
R = TypeVar("R", bound=Record)


class PipelineConfigError(ValueError):
    def __init__(self, path: Path | str, problems: list[str]):
        self.path = str(path)
        self.problems = problems
        super().__init__(f"invalid pipeline config {path}:\n" + "\n".join(f"  - {p}" for p in problems))


def _features(raw: Any, problems: list[str]) -> tuple[FeatureSpec, ...]:
    if not isinstance(raw, dict) or not raw:
        problems.append("features: required, a mapping of column name to type (categorical or numeric)")
        return ()
    features = []
    for name, value in raw.items():
        path = f"features.{name}"
        if isinstance(value, str):
            value = {"type": value}
        if not isinstance(value, dict):
            problems.append(f"{path}: must be a type name or a mapping with 'type' (got {value!r})")
            continue
        for key in sorted(set(value) - {"type", "description"}):
            problems.append(f"{path}.{key}: unknown field (allowed: description, type)")
        kind, description = value.get("type"), value.get("description", "")
        if kind is None:
            problems.append(f"{path}.type: required")
        elif kind not in FEATURE_TYPES:
            problems.append(f"{path}.type: must be one of {', '.join(FEATURE_TYPES)} (got {kind!r})")
        elif not isinstance(description, str):
            problems.append(f"{path}.description: must be a string (got {description!r})")
        else:
            features.append(FeatureSpec(str(name), kind, description))
    return tuple(features)


def _start_date(value: Any, problems: list[str]) -> date:
    if value is None:
        return DEFAULT_START_DATE
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        problems.append(f"start_date: must be a date like 2026-01-01 (got {value!r})")
        return DEFAULT_START_DATE


def _section(cls: type[R], data: dict, key: str, problems: list[str]) -> R:
    return read_record(cls, data.get(key), key, problems) or cls()


def _cross_checks(config: PipelineConfig, problems: list[str]) -> None:
    """Rules that span sections."""
    names = set(config.feature_names())
    for path, listed in (("evaluation.slices", config.evaluation.slices),
                         ("validation.drift.must_not_drift", config.validation.drift.must_not_drift),
                         ("monitoring.must_not_drift", config.monitoring.must_not_drift)):
        problems += [f"{path}: {name!r} is not one of the features" for name in listed if names and name not in names]
    for key in ("thresholds", "backtest"):
        given = {name: bounds.to_dict() for name, bounds in getattr(config.evaluation, key).items()}
        problems += [f"evaluation.{key}.{p}" for p in threshold_problems(config.task, given)]
    if config.settings.positive_class is not None and config.task != BINARY_CLASSIFICATION:
        problems.append(f"positive_class: only for task: {BINARY_CLASSIFICATION} (task is {config.task})")
    _module_checks(config, problems)


def _module_checks(config: PipelineConfig, problems: list[str]) -> None:
    """``training.module``: a readable .py file (relative to the YAML) or a dotted module name."""
    module = config.training.module
    if module is None:
        return
    path = config.training_module_path
    if path is None:
        if not MODULE_PATTERN.match(module):
            problems.append(f"training.module: {module!r} is neither a .py file nor a module name like my_package.model")
    elif not path.is_file():
        problems.append(f"training.module: no file {path} (a .py path is relative to the pipeline YAML's directory)")


def _remote_target_checks(deployment: Any, problems: list[str]) -> None:
    """A remote target needs its settings (checked on the raw section, so that they are reported
    together with the section's other problems)."""
    if not isinstance(deployment, dict):
        return
    target = deployment.get("target")
    settings = deployment.get(target) if isinstance(target, str) else None
    for key in REMOTE_REQUIRED.get(target, ()) if isinstance(target, str) else ():
        if not (isinstance(settings, dict) and settings.get(key)):
            problems.append(f"deployment.{target}.{key}: required when deployment.target is {target}")


#: keys of earlier releases, and what replaced them (a config that still has one is told where it went)
REPLACED_KEYS = {
    "evaluation.min_accuracy": "evaluation.thresholds.accuracy.min",
    "evaluation.max_accuracy_drop": "evaluation.thresholds.accuracy.max_drop",
}


def _replaced_key_hints(problems: list[str]) -> list[str]:
    hints = []
    for problem in problems:
        old = next((key for key in REPLACED_KEYS if problem.startswith(f"{key}: unknown field")), None)
        hints.append(f"{old}: replaced by {REPLACED_KEYS[old]} (thresholds are per metric now)" if old else problem)
    return hints


def parse_pipeline_config(data: Any, config_path: Path, project_root: Path) -> PipelineConfig:
    """Build a :class:`PipelineConfig` from parsed YAML, or raise with every problem found."""
    if not isinstance(data, dict):
        raise PipelineConfigError(config_path, ["the file must contain a mapping at the top level"])
    problems: list[str] = []
    settings = read_record(PipelineSettings, data, "", problems) or PipelineSettings()
    name = data.get("pipeline")
    if name is None:
        problems.append("pipeline: required")
    elif not isinstance(name, str) or not NAME_PATTERN.match(name):
        problems.append(f"pipeline: must be lowercase letters, digits and '_' starting with a letter (got {name!r})")
    data_section = read_record(IngestOptions, data.get("data"), "data", problems)
    features = _features(data.get("features"), problems)
    label = (data.get("data") or {}).get("label") if isinstance(data.get("data"), dict) else None
    if label is not None and label in {f.name for f in features}:
        problems.append(f"data.label: {label!r} is also listed under features; the label must not be a feature")
    config = PipelineConfig(
        name=name if isinstance(name, str) else "",
        config_path=config_path,
        project_root=project_root,
        data=data_section or IngestOptions(source="", label=""),
        features=features,
        settings=settings,
        start_date=_start_date(data.get("start_date"), problems),
        runtime=_section(RuntimeSettings, data, "runtime", problems),
        validation=_section(ValidationSettings, data, "validation", problems),
        training=_section(TrainingSettings, data, "training", problems),
        evaluation=_section(EvaluateOptions, data, "evaluation", problems),
        registry=_section(RegistrySettings, data, "registry", problems),
        deployment=_section(DeploymentSettings, data, "deployment", problems),
        monitoring=_section(MonitoringSettings, data, "monitoring", problems),
        batch_prediction=_section(BatchPredictionSettings, data, "batch_prediction", problems),
    )
    if data_section is not None:
        _cross_checks(config, problems)
    _remote_target_checks(data.get("deployment"), problems)
    if problems:
        raise PipelineConfigError(config_path, _replaced_key_hints(problems))
    return config


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
