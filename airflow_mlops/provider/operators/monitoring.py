"""``MonitorOperator``: drift and performance of the served model over a window of predictions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_mlops.provider.operators.component import ComponentOperator


class MonitorOperator(ComponentOperator):
    """Compare the predictions logged in ``[window_start, window_end)`` with the champion's
    training data (Evidently data drift per feature and for the dataset) and, where labels have
    arrived, measure accuracy. Output ``monitoring`` (``report.html``, ``metrics.json``,
    ``verdict.json``); the verdict's ``status`` is ``ok``, ``alert`` or ``no_traffic``.

    :param features: ``{name: "numeric" | "categorical"}``.
    :param label: the label column of the training data.
    :param window_start: ISO time (templated, e.g. from the data interval).
    :param window_end: ISO time (templated).
    :param drift_share: dataset drift when at least this share of the features drift.
    :param must_not_drift: features whose drift alone is a drift verdict.
    :param min_rows: fewer predictions in the window: ``no_traffic``.
    :param min_accuracy: accuracy on labelled predictions below this is degradation ...
    :param min_labels: ... when at least this many predictions have labels.
    """

    ui_color = "#e8daef"

    def __init__(
        self,
        *,
        features: Mapping[str, str],
        label: str,
        window_start: str,
        window_end: str,
        drift_share: float = 0.5,
        must_not_drift: Sequence[str] = (),
        min_rows: int = 30,
        min_accuracy: float = 0.85,
        min_labels: int = 20,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            component="monitor",
            component_params={
                "features": dict(features), "label": label, "window_start": window_start, "window_end": window_end,
                "drift_share": drift_share, "must_not_drift": list(must_not_drift), "min_rows": min_rows,
                "min_accuracy": min_accuracy, "min_labels": min_labels,
            },
            **kwargs,
        )
