"""Turning raw feature columns into model inputs, the same way for training, evaluation and serving."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_mlops.contract.tasks import CLASSIFICATION, REGRESSION

MISSING_CATEGORY = ""


def model_inputs(frame, features: Mapping[str, str]) -> dict[str, Any]:
    """``{feature: array of shape (n, 1)}``: float32 for numeric (NaN where missing), strings for
    categorical (``""`` where missing, which the model maps to its out-of-vocabulary bucket)."""
    import pandas as pd

    inputs = {}
    for name, kind in features.items():
        column = frame[name]
        if kind == "numeric":
            values = pd.to_numeric(column, errors="coerce").to_numpy(dtype="float32")
        else:
            values = as_text(column).to_numpy(dtype=object)
        inputs[name] = values.reshape(-1, 1)
    return inputs


def as_text(column):
    """Each value as ``str(value)``; missing ones (None, NaN, NA) as :data:`MISSING_CATEGORY`."""
    import pandas as pd

    column = pd.Series(column).reset_index(drop=True)
    missing = column.isna().to_numpy()
    text = column.astype(object).astype(str)
    if missing.any():
        text[missing] = MISSING_CATEGORY
    return text


def label_indices(frame, label: str, classes: Sequence[str]):
    """Index of each row's label in ``classes`` and a mask of rows whose label is known."""
    import pandas as pd

    column = frame[label]
    indices = pd.Index(list(classes), dtype=object).get_indexer(as_text(column)).astype("int64")
    indices[column.isna().to_numpy()] = -1
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


def usable_labels(frame, transform: Mapping[str, Any], label: str):
    """Each row's label as the model learns it - its class index into the transform's classes,
    or a regression's target value - and a mask of the rows where it is usable (known)."""
    if task_of(transform) == REGRESSION:
        return target_values(frame, label)
    return label_indices(frame, label, transform["label"]["classes"])


def training_arrays(frame, transform: Mapping[str, Any], label: str):
    """Model inputs and labels of the rows with a usable label, and how many rows were dropped
    for a missing or unknown label."""
    features = {name: spec["type"] for name, spec in transform["features"].items()}
    y, known = usable_labels(frame, transform, label)
    return model_inputs(frame[known], features), y[known], int((~known).sum())
