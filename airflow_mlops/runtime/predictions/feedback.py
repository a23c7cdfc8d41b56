"""Ground truth that arrives after the prediction: reading it and joining it to predictions.

Labels are CSV files (``request_id,label`` with a header) under the pipeline's feedback folder
(:func:`airflow_mlops.contract.layout.feedback_uri`). They are read as text; a regression's
labels are numbers in that text (:func:`as_number`), and a label that is not one is skipped and
counted by whoever measures the error, never an exception.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.runtime.predictions.reader import LABEL_COLUMN

if TYPE_CHECKING:
    import pandas as pd


def read_feedback(root: str, store: ArtifactStore | None = None) -> dict[str, str]:
    """Ground truth that arrived later: ``{request_id: label}`` from the CSV files
    (``request_id,label`` with a header) under ``root``."""
    import csv
    import io

    store = store or ArtifactStore()
    if not store.exists(root):
        return {}
    labels: dict[str, str] = {}
    for uri in store.list_files(root):
        if uri.endswith(".csv"):
            for row in csv.DictReader(io.StringIO(store.read_text(uri))):
                if row.get("request_id") and row.get("label") not in (None, ""):
                    labels[row["request_id"]] = row["label"]
    return labels


def as_number(label: object) -> float | None:
    """A label (or a logged prediction) as a finite float: ``"12.5"``, `` 3 ``, ``12.5`` -> the
    number; ``""``, ``"abc"``, ``"nan"``, ``"inf"``, ``None`` -> ``None``."""
    import math

    if label is None or isinstance(label, bool):
        return None
    try:
        number = float(label.strip() if isinstance(label, str) else label)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def labelled_rows(current: pd.DataFrame, labels: Mapping[str, str]) -> pd.DataFrame:
    """The predictions of a prediction frame (:func:`~.reader.read_prediction_frame`) whose label
    has arrived, with the label in :data:`~.reader.LABEL_COLUMN`."""
    truth = current["request_id"].map(dict(labels)) if len(current) else current["request_id"]
    known = truth.notna()
    return current.loc[known, ["request_id", "prediction", "model_version"]].assign(**{LABEL_COLUMN: truth[known]}).reset_index(drop=True)
