"""Turning raw feature columns into model inputs, the same way for training, evaluation and serving."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_mlops.contract.tasks import CLASSIFICATION, REGRESSION

MISSING_CATEGORY = ""


def model_inputs(frame, features: Mapping[str, str]) -> dict[str, Any]:
    """``{feature: array of shape (n, 1)}``: float32 for numeric (NaN where missing), strings for
    categorical (``""`` where missing, which the model maps to its out-of-vocabulary bucket)."""
    import numpy as np
    import pandas as pd

    inputs = {}
    for name, kind in features.items():
        column = frame[name]
        if kind == "numeric":
            values = pd.to_numeric(column, errors="coerce").to_numpy(dtype="float32")
        else:
            values = np.array([MISSING_CATEGORY if _missing(v) else str(v) for v in column], dtype=object)
        inputs[name] = values.reshape(-1, 1)
    return inputs


def _missing(value: Any) -> bool:
    import pandas as pd

    return value is None or (not isinstance(value, str) and pd.isna(value))


def label_indices(frame, label: str, classes: Sequence[str]):
    """Index of each row's label in ``classes`` and a mask of rows whose label is known."""
    import numpy as np

    lookup = {c: i for i, c in enumerate(classes)}
    indices = np.array([lookup.get(str(v), -1) if not _missing(v) else -1 for v in frame[label]], dtype="int64")
    return indices, indices >= 0


def target_values(frame, label: str):
    """A regression's target as float32 and a mask of the rows where it is a finite number."""
    import numpy as np
    import pandas as pd

    values = pd.to_numeric(frame[label], errors="coerce").to_numpy(dtype="float32")
    return values, np.isfinite(values)


def task_of(transform: Mapping[str, Any]) -> str:
    """The task a transform was made for (transforms from before tasks were classifications)."""
    return transform["label"].get("task", CLASSIFICATION)


def training_arrays(frame, transform: Mapping[str, Any], label: str):
    """Model inputs and labels of the rows with a usable label - class indices into the
    transform's classes, or a regression's target values - and how many rows were dropped for
    a missing or unknown label."""
    features = {name: spec["type"] for name, spec in transform["features"].items()}
    if task_of(transform) == REGRESSION:
        y, known = target_values(frame, label)
    else:
        y, known = label_indices(frame, label, transform["label"]["classes"])
    return model_inputs(frame[known], features), y[known], int((~known).sum())
