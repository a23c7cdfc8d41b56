"""What a pipeline predicts (``task:`` in the YAML) and the metrics each kind of task is judged by.

Both planes read this: the config loader checks thresholds against it, evaluate computes these
metrics, serving answers in the task's shape, monitoring and the canary analysis compare the
task's online metric.
"""

from __future__ import annotations

from dataclasses import dataclass

CLASSIFICATION = "classification"
BINARY_CLASSIFICATION = "binary_classification"
REGRESSION = "regression"
TASKS = (CLASSIFICATION, BINARY_CLASSIFICATION, REGRESSION)


@dataclass(frozen=True)
class Metric:
    name: str
    higher_is_better: bool
    doc: str

    @property
    def change_key(self) -> str:
        """The change threshold's key: how far it may move the wrong way against the champion."""
        return "max_drop" if self.higher_is_better else "max_rise"


_ACCURACY = Metric("accuracy", True, "share of rows whose most probable class is the true one")
_LOG_LOSS = Metric("log_loss", False, "cross-entropy of the predicted probabilities")
_AUC = Metric("auc", True, "area under the ROC curve (several classes: one-vs-rest, macro average)")

METRICS: dict[str, tuple[Metric, ...]] = {
    CLASSIFICATION: (
        _ACCURACY, _LOG_LOSS, _AUC,
        Metric("precision", True, "precision, macro average over the classes"),
        Metric("recall", True, "recall, macro average over the classes"),
        Metric("f1", True, "F1, macro average over the classes"),
    ),
    BINARY_CLASSIFICATION: (
        _ACCURACY, _LOG_LOSS, _AUC,
        Metric("precision", True, "precision of the positive class"),
        Metric("recall", True, "recall of the positive class"),
        Metric("f1", True, "F1 of the positive class"),
    ),
    REGRESSION: (
        Metric("rmse", False, "root mean squared error"),
        Metric("mae", False, "mean absolute error"),
        Metric("r2", True, "coefficient of determination (1 is perfect, 0 is predicting the mean)"),
    ),
}

#: What blesses a model when ``evaluation.thresholds`` is not given. Regression has no natural
#: scale, so its default asks for better than predicting the mean (R² above 0).
DEFAULT_THRESHOLDS: dict[str, dict[str, dict[str, float]]] = {
    CLASSIFICATION: {"accuracy": {"min": 0.8, "max_drop": 0.02}},
    BINARY_CLASSIFICATION: {"auc": {"min": 0.7, "max_drop": 0.02}},
    REGRESSION: {"r2": {"min": 0.0, "max_drop": 0.02}},
}

#: The backtest's default: the candidate on the champion's test split may be at most this much
#: worse than the champion there (a model trained on corrupted but self-consistent data looks
#: fine on its own test split, not on the champion's).
DEFAULT_BACKTEST: dict[str, dict[str, dict[str, float]]] = {
    CLASSIFICATION: {"accuracy": {"max_drop": 0.05}},
    BINARY_CLASSIFICATION: {"auc": {"max_drop": 0.05}},
    REGRESSION: {"r2": {"max_drop": 0.1}},
}

#: The metric monitoring and the canary analysis compute on labelled predictions.
ONLINE_METRIC = {CLASSIFICATION: "accuracy", BINARY_CLASSIFICATION: "accuracy", REGRESSION: "mae"}


def is_classification(task: str) -> bool:
    return task != REGRESSION


def metric(task: str, name: str) -> Metric | None:
    return next((m for m in METRICS[task] if m.name == name), None)


def threshold_problems(task: str, thresholds: dict[str, dict[str, float]]) -> list[str]:
    """``<metric>[.<key>]: <what is wrong>`` for each threshold ``task`` cannot judge by."""
    problems = []
    for name, bounds in thresholds.items():
        known = metric(task, name)
        if known is None:
            names = ", ".join(m.name for m in METRICS[task])
            problems.append(f"{name}: not a metric of a {task} task (its metrics: {names})")
            continue
        wrong = "max_rise" if known.higher_is_better else "max_drop"
        if bounds.get(wrong) is not None:
            direction = "higher" if known.higher_is_better else "lower"
            problems.append(f"{name}.{wrong}: {direction} {name} is better; its change threshold is {known.change_key}")
        if not bounds:
            problems.append(f"{name}: give at least one of min, max, {known.change_key}")
    return problems
