"""Every component's parameters, declared once: types, defaults and one-line docs.

The pipeline YAML's sections are made of the ``*Options`` records here (``training:`` is
:class:`TrainOptions` plus the GPU count, ``evaluation:`` is :class:`EvaluateOptions`, ...), the
DAG factory builds the ``*Params`` record of each step from the config, the operator renders it
into the spec, and the component reads it back with :meth:`Record.from_dict` - so a default
lives here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airflow_mlops.contract.splits import split_ratio_problems
from airflow_mlops.contract.tasks import CLASSIFICATION, TASKS
from airflow_mlops.contract.typed import Record, option

FEATURE_TYPES = ("categorical", "numeric")
FORMATS = ("auto", "csv", "parquet")


def _some_location(source: str | tuple[str, ...]) -> list[str]:
    empty = not source or (not isinstance(source, str) and not all(source))
    return [f"must be a location or a non-empty list of locations (got {source!r})"] if empty else []


def _positive_items(values: tuple[int, ...]) -> list[str]:
    return [] if values and all(v > 0 for v in values) else [f"must be a non-empty list of positive integers (got {list(values)!r})"]


def _feature_types(features: dict[str, str]) -> list[str]:
    return [f"{name}: must be one of {', '.join(FEATURE_TYPES)} (got {kind!r})"
            for name, kind in features.items() if kind not in FEATURE_TYPES]


@dataclass(frozen=True, kw_only=True)
class LabelParam(Record):
    label: str = option(doc="the label column")


@dataclass(frozen=True, kw_only=True)
class TaskParam(Record):
    task: str = option(CLASSIFICATION, "what is predicted: " + ", ".join(TASKS), choices=TASKS)


@dataclass(frozen=True, kw_only=True)
class PositiveClassParam(Record):
    positive_class: str | None = option(
        None, "binary_classification: the class whose probability the model gives (default: the last in sorted order)")


@dataclass(frozen=True, kw_only=True)
class FeaturesParam(Record):
    features: dict[str, str] = option(doc="feature name -> numeric | categorical", check=_feature_types)


@dataclass(frozen=True, kw_only=True)
class FormatParam(Record):
    format: str = option("auto", "csv, parquet or auto (by the file extension)", choices=FORMATS)


# -- ingest --------------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class IngestOptions(FormatParam, LabelParam):
    """What the data is and how it is split (YAML ``data:``)."""

    source: str | tuple[str, ...] = option(
        doc="where the data is: a path, gs:// URI, package:// resource, python://module:function?k=v or a list",
        check=_some_location)
    split: dict[str, Any] = option(
        doc="split ratios, adding up to 1", factory=lambda: {"train": 0.7, "eval": 0.15, "test": 0.15},
        check=split_ratio_problems,
    )
    include_feedback: bool = option(
        False, "also train on served predictions whose labels have arrived (prediction log + feedback)")


@dataclass(frozen=True, kw_only=True)
class IngestParams(IngestOptions, TaskParam):
    split_key: tuple[str, ...] = option((), "columns that decide a row's split (default: all columns)")


# -- validate ------------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class DriftThresholds(Record):
    """Drift of new training data against the champion's (YAML ``validation.drift``)."""

    jensen_shannon: float = option(0.3, "threshold for numeric features", ge=0, le=1)
    l_infinity: float = option(0.3, "threshold for categorical features", ge=0, le=1)
    on_drift: str = option("warn", "warn (record it, go on) or fail (stop the run)", choices=("warn", "fail"))
    stop_above: float = option(
        0.8, "drift above this in any feature stops the run before training whatever on_drift says "
        "(near-disjoint distributions: a data bug more often than a changed world); 1: never", ge=0, le=1)
    must_not_drift: tuple[str, ...] = option((), "features whose drift above its threshold alone stops the run")


@dataclass(frozen=True, kw_only=True)
class ValidateOptions(Record):
    max_missing_fraction: float = option(
        0.1, "when inferring a schema, a feature may be missing in at most this share of the rows", ge=0, le=1)
    range_margin: float = option(
        0.5, "when inferring a schema, numeric ranges are the training split's min..max widened by this share of its "
        "width on each side (not below 0 for data that has no negative values)", ge=0)
    min_split_rows: int = option(
        3, "every split (train, eval, test) needs at least this many rows: fewer stops the run before statistics are "
        "computed (too few to train on or to judge a model)", ge=1)
    max_duplicate_fraction: float = option(
        0.5, "share of the rows that may be exact copies of another row: more stops the run (the same data appended "
        "several times); 1: no limit", ge=0, le=1)
    drift: DriftThresholds = option(doc="drift thresholds against the champion's training data", factory=DriftThresholds)


@dataclass(frozen=True, kw_only=True)
class ValidateParams(ValidateOptions, FeaturesParam, LabelParam):
    schema_uri: str = option(doc="the curated schema.pbtxt (inferred and written there when absent)")


# -- transform -----------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class TransformParams(FeaturesParam, LabelParam, TaskParam, PositiveClassParam):
    """Transform's full-pass analyzers take no options; the task decides how the label is analysed."""


# -- train ---------------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class TrainOptions(Record):
    """The training module and its hyper-parameters (YAML ``training:``)."""

    module: str | None = option(
        None, "your training module: a .py file next to the pipeline YAML, or an importable module (default: the built-in MLP)")
    hyperparameters: dict[str, Any] = option(doc="anything your module reads, as context.hyperparameters", factory=dict)
    hidden_units: tuple[int, ...] = option((16, 8), "the built-in MLP's hidden layer sizes", check=_positive_items)
    learning_rate: float = option(0.01, "Adam's learning rate", gt=0)
    epochs: int = option(30, "passes over the training split", gt=0)
    batch_size: int = option(32, "rows per gradient step", gt=0)
    seed: int = option(42, "random seed")


@dataclass(frozen=True, kw_only=True)
class TrainParams(TrainOptions, LabelParam, TaskParam):
    """The module, its hyper-parameters, the task and the label."""

    module_source: str | None = option(
        None, "the text of a module file (it travels in the spec, so a remote job has it; and an edit retrains)")


# -- tune ----------------------------------------------------------------------------------------

SAMPLINGS = ("linear", "log")


@dataclass(frozen=True, kw_only=True)
class SearchDimension(Record):
    """One searched value (YAML ``training.tuning.search_space.<name>``): ``values`` or a range."""

    values: tuple[Any, ...] | None = option(
        None, "the values to choose from: numbers, text, or lists (hidden_units: [[16, 8], [32, 16]])")
    min: int | float | None = option(None, "a range's lowest value (integers when min and max are)")
    max: int | float | None = option(None, "a range's highest value")
    step: int | float | None = option(None, "a range's step (default: any value; integers: 1)", gt=0)
    sampling: str = option("linear", "linear, or log for a range over orders of magnitude (learning_rate)", choices=SAMPLINGS)


def _search_space_problems(space: dict[str, SearchDimension]) -> list[str]:
    problems = []
    for name, d in space.items():
        if d.values is not None:
            if not d.values:
                problems.append(f"{name}.values: must name at least one value")
            elif d.min is not None or d.max is not None:
                problems.append(f"{name}: give values or min and max, not both")
        elif d.min is None or d.max is None:
            problems.append(f"{name}: give values, or min and max")
        elif d.min >= d.max:
            problems.append(f"{name}: min must be less than max (got {d.min} and {d.max})")
        elif d.sampling == "log" and d.min <= 0:
            problems.append(f"{name}: sampling log needs min above 0 (got {d.min})")
    return problems


@dataclass(frozen=True, kw_only=True)
class TuningOptions(Record):
    """YAML ``training.tuning``: a hyper-parameter search before train."""

    enabled: bool = option(False, "run the tune step before train; train then uses the best values it found")
    search_space: dict[str, SearchDimension] = option(
        doc="what to search, by name: learning_rate, hidden_units, batch_size, epochs, or any name your module reads "
        "from context.hyperparameters", factory=dict, check=_search_space_problems)
    algorithm: str = option("bayesian", "bayesian (Gaussian-process Bayesian optimisation) or random", choices=("bayesian", "random"))
    max_trials: int = option(10, "configurations tried", gt=0)
    trial_epochs: int | None = option(None, "epochs per trial (default: training.epochs)", gt=0)
    early_stopping_patience: int = option(5, "a trial stops after this many epochs without a better objective; 0: never", ge=0)
    objective: str | None = option(
        None, "the eval-split metric to optimise (default val_loss; e.g. val_accuracy); minimised when its name ends "
        "in loss, mae, rmse or error, maximised otherwise")


@dataclass(frozen=True, kw_only=True)
class TuneParams(TuningOptions, TrainParams):
    """The search, and train's parameters: the defaults of every value not searched."""


# -- evaluate ------------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class MetricThreshold(Record):
    """One metric's thresholds (YAML ``evaluation.thresholds.<metric>``)."""

    min: float | None = option(None, "value threshold: the candidate's test metric must be at least this")
    max: float | None = option(None, "value threshold: ... at most this")
    max_drop: float | None = option(None, "change threshold (higher is better): at most this much below the champion", ge=0)
    max_rise: float | None = option(None, "change threshold (lower is better): at most this much above the champion", ge=0)


@dataclass(frozen=True, kw_only=True)
class EvaluateOptions(Record):
    """YAML ``evaluation:``."""

    slices: tuple[str, ...] = option((), "features to report per-value metrics for")
    thresholds: dict[str, MetricThreshold] = option(
        doc="what blesses a model, per metric: {min, max, max_drop or max_rise}; empty: the task's default "
        "(accuracy {min: 0.8, max_drop: 0.02}; binary: auc {min: 0.7, max_drop: 0.02}; regression: r2 {min: 0, max_drop: 0.02})",
        factory=dict)
    backtest: dict[str, MetricThreshold] = option(
        doc="the candidate on the champion's test split against the champion there, per metric (change thresholds); "
        "empty: the task's default (accuracy or auc {max_drop: 0.05}; regression: r2 {max_drop: 0.1})",
        factory=dict)


@dataclass(frozen=True, kw_only=True)
class EvaluateParams(EvaluateOptions, LabelParam, TaskParam):
    """Slices, thresholds (the task's defaults filled in), the task and the label."""


# -- register ------------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class TfliteExport(Record):
    """YAML ``registry.tflite``: a TFLite (LiteRT) model for edge devices, stored with each version."""

    enabled: bool = option(
        False, "convert each model registered to TFLite and store it with the version (model/edge/model.tflite), "
        "if it answers as the Keras model does on the test split")
    max_difference: float = option(
        1e-4, "largest difference allowed between the TFLite and the Keras model's outputs on any test row "
        "(probabilities; regression: in the target's standard deviations)", ge=0)
    min_agreement: float = option(
        0.999, "share of test rows on which both must give the same class (regression: outputs within max_difference)",
        ge=0, le=1)
    builtin_ops_only: bool = option(
        False, "refuse a model that needs TensorFlow ops on the device (the Flex delegate): TFLite built-in ops only")


@dataclass(frozen=True, kw_only=True)
class RegisterOptions(Record):
    """What register does besides registering (YAML ``registry:``)."""

    tflite: TfliteExport = option(doc="the model for edge devices", factory=TfliteExport)


@dataclass(frozen=True, kw_only=True)
class RegisterParams(RegisterOptions):
    """The edge export; the model name and registry come from the spec's settings."""


# -- infra_validate ------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class InfraValidationOptions(Record):
    """YAML ``deployment.infra_validation``."""

    sample_rows: int = option(20, "test rows the candidate must answer before a rollout", gt=0)
    max_latency_ms: float = option(1000.0, "p95 latency bound of those answers", gt=0)
    start_timeout: float = option(180.0, "seconds the prediction server may take to load the model", gt=0)
    reuse: bool = option(
        True, "a version that passed with the same model files, test rows, checks and serving code is not validated "
        "again (a re-run with nothing changed starts no server); false: always start one")


@dataclass(frozen=True, kw_only=True)
class InfraValidateParams(InfraValidationOptions, FeaturesParam, TaskParam):
    """The bounds, the request schema and the task (the answers' shape)."""


# -- deploy, rollback, canary analysis -----------------------------------------------------------

DEPLOY_ACTIONS = ("canary", "promote")


@dataclass(frozen=True, kw_only=True)
class CanaryRollout(Record):
    weight: float = option(0.1, "share of requests the challenger answers during its canary", gt=0, lt=1)
    window_minutes: int = option(60, "how long the canary runs before the promotion DAG decides", gt=0)
    on_drift: str = option(
        "hold", "a model of drifted training data, in a run monitoring did not ask for: hold (registered, no canary; "
        "the trigger form's canary_despite_drift sends it) or canary", choices=("hold", "canary"))


@dataclass(frozen=True, kw_only=True)
class DeployParams(CanaryRollout):
    action: str = option("canary", "canary (the challenger gets `weight` of the traffic) or promote", choices=DEPLOY_ACTIONS)
    reason: str | None = option(None, "recorded with a direct promotion")
    drifted_columns: tuple[str, ...] = option((), "what validate found drifted in this run's training data")
    started_because: str = option("", "why the run started (the why task: schedule, new data, drift, ...)")


@dataclass(frozen=True, kw_only=True)
class RollbackParams(Record):
    reason: str = option("rollback requested", "recorded with the decision")


@dataclass(frozen=True, kw_only=True)
class CanaryThresholds(Record):
    min_requests: int = option(50, "fewer challenger predictions at the end of the window: keep waiting", ge=0)
    max_error_rate_increase: float = option(0.01, "challenger error rate may exceed the champion's by at most this", ge=0, le=1)
    max_latency_ratio: float = option(2.0, "challenger p95 latency may be at most this times the champion's", gt=0)
    max_accuracy_drop: float = option(
        0.02, "where labels have arrived, challenger accuracy may be at most this much below the champion's", ge=0, le=1)
    max_mae_increase: float = option(
        0.1, "regression, where labels have arrived: challenger MAE may be at most this share above the champion's", ge=0)


#: a person's answers to an approval (the human-in-the-loop task's options, lower case)
ANSWERS = ("approve", "reject")


@dataclass(frozen=True, kw_only=True)
class CanaryAnalysisParams(CanaryThresholds, TaskParam):
    min_labels: int = option(10, "labelled predictions each version needs before accuracy (regression: MAE) is compared", ge=0)
    force: bool = option(False, "decide now, even before the canary window ends")
    await_approval: bool = option(
        False, "a canary that passes is not promoted: decision await_approval, for a person to answer "
        "(deployment.approval: promote)")
    answer: str | None = option(
        None, "a person's answer to the approval of the canary of `version`: approve (promote it) or reject (end it); "
        "applied instead of an analysis", choices=ANSWERS)
    version: str | None = option(None, "with answer: the canary version the answer is about")
    answered_by: str | None = option(None, "with answer: the Airflow user who answered (none: the approval timed out)")
    comment: str | None = option(None, "with answer: the comment given with it")


# -- batch prediction ----------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class BatchInputOptions(FormatParam):
    """What a batch prediction reads and how it is checked (YAML ``batch_prediction:``)."""

    source: str | None = option(
        None, "the rows to predict: a file, directory or gs:// prefix, or a glob, of CSV or Parquet; templated, e.g. "
        "gs://bucket/penguin/to_score/{{ ds }}/, or bigquery://... (default .mlops/batch/<pipeline>)")
    keep_columns: tuple[str, ...] = option(
        (), "input columns copied to every output row as they are (an id to join the predictions back)")
    request_id_column: str | None = option(
        None, "a column whose value is each row's request_id in the prediction log, so labels that arrive later "
        "(feedback) join it (default: batch-<the checked batch's fingerprint>-<row number>)")
    skew: DriftThresholds = option(
        doc="skew of the batch against the champion's training data (the thresholds of validation.drift; on_drift: "
        "fail stops the batch on any skew)", factory=DriftThresholds)


@dataclass(frozen=True, kw_only=True)
class BatchCheckParams(BatchInputOptions, FeaturesParam, LabelParam):
    """The input and the features the champion needs; the label is not needed (dropped if present)."""


@dataclass(frozen=True, kw_only=True)
class BatchPredictOptions(Record):
    batch_size: int = option(8192, "rows per model call (memory is bounded by this, not by the input's size)", gt=0)
    log_predictions: bool = option(
        True, "also append every prediction to the prediction log (model_role batch), so monitoring sees them")
    destination: str | None = option(
        None, "also copy predictions.parquet there (a path or gs:// prefix, templated, e.g. "
        "gs://bucket/penguin/scored/{{ ds }}/), with a _SUCCESS marker written last; or load it into "
        "bigquery://project.dataset.table (appended), ?partition={{ ds }}: that day's partition replaced")


@dataclass(frozen=True, kw_only=True)
class BatchPredictParams(BatchPredictOptions, TaskParam):
    """What to do with the answers; the rows and the model version come from the checked batch."""


# -- monitor -------------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class MonitorOptions(Record):
    drift_share: float = option(0.5, "dataset drift when at least this share of the features drift", ge=0, le=1)
    must_not_drift: tuple[str, ...] = option((), "features whose drift alone is a drift verdict")
    min_rows: int = option(30, "fewer logged predictions in the window: no traffic, no verdict", gt=0)
    min_accuracy: float = option(
        0.85, "classification: accuracy on labelled predictions below this is a performance-degradation verdict", ge=0, le=1)
    min_labels: int = option(20, "... when at least this many predictions have labels", gt=0)
    max_mae: float | None = option(
        None, "regression: mean absolute error on labelled predictions above this is a performance-degradation verdict")


@dataclass(frozen=True, kw_only=True)
class MonitorParams(MonitorOptions, FeaturesParam, LabelParam, TaskParam):
    window_start: str = option(doc="ISO time: the first prediction of the window")
    window_end: str = option(doc="ISO time: the window ends before this")
