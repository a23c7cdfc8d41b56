"""What a model's raw output means for each task: one place for training's shape check,
evaluation and serving.

- ``classification``: ``(n, classes)`` probabilities, in the order of the transform's classes;
- ``binary_classification``: ``(n, 1)`` probability of the positive class (the second class),
  or ``(n, 2)`` probabilities;
- ``regression``: ``(n, 1)`` or ``(n,)`` values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_mlops.contract.tasks import BINARY_CLASSIFICATION, CLASSIFICATION, REGRESSION


def expected_shape(task: str, classes: Sequence[str]) -> str:
    return {
        CLASSIFICATION: f"(rows, {len(classes)}) class probabilities",
        BINARY_CLASSIFICATION: "(rows, 1) probability of the positive class, or (rows, 2) probabilities",
        REGRESSION: "(rows, 1) or (rows,) values",
    }[task]


def shape_problem(task: str, classes: Sequence[str], raw: Any, rows: int) -> str | None:
    """Why ``raw`` (a model's output for ``rows`` rows) is not the task's output; ``None`` if it is."""
    import numpy as np

    try:
        array = np.asarray(raw, dtype="float64")
    except (TypeError, ValueError) as exc:
        return f"the output is not numeric ({type(raw).__name__}: {exc})"
    shape = array.shape
    width = {CLASSIFICATION: (len(classes),), BINARY_CLASSIFICATION: (1, 2), REGRESSION: (1,)}[task]
    ok = shape[:1] == (rows,) and (
        (len(shape) == 2 and shape[1] in width) or (task == REGRESSION and len(shape) == 1)
    )
    return None if ok else f"the output has shape {shape}; a {task} model must give {expected_shape(task, classes)}"


def class_probabilities(task: str, raw: Any):
    """``(n, classes)`` float64 probabilities from a classifier's output."""
    import numpy as np

    array = np.asarray(raw, dtype="float64")
    if task == BINARY_CLASSIFICATION and array.ndim == 2 and array.shape[1] == 1:
        return np.concatenate([1.0 - array, array], axis=1)
    return array


def values(raw: Any):
    """``(n,)`` float64 values from a regression's output."""
    import numpy as np

    return np.asarray(raw, dtype="float64").reshape(-1)


def answers(task: str, classes: Sequence[str], raw: Any) -> list[dict[str, Any]]:
    """One answer per row: ``{"prediction": class, "probabilities": {class: p}}`` for a
    classifier, ``{"prediction": value}`` for a regression."""
    if task == REGRESSION:
        return [{"prediction": float(v)} for v in values(raw)]
    answers: list[dict[str, Any]] = []
    for row in class_probabilities(task, raw):
        probabilities: Mapping[str, float] = {c: float(p) for c, p in zip(classes, row)}
        answers.append({"prediction": max(probabilities, key=probabilities.__getitem__), "probabilities": dict(probabilities)})
    return answers
