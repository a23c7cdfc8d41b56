"""``MonitorOperator``: drift and performance of the served model over a window of predictions."""

from __future__ import annotations

from airflow_mlops.contract.components import MONITOR
from airflow_mlops.provider.operators.component import ComponentOperator


class MonitorOperator(ComponentOperator):
    """Compare the predictions logged in ``[window_start, window_end)`` with the champion's
    training data (Evidently data drift per feature and for the dataset) and, where labels have
    arrived, measure accuracy (a regression: MAE and RMSE). Output ``monitoring`` (``report.html``, ``metrics.json``,
    ``verdict.json``); the verdict's ``status`` is ``ok``, ``alert`` or ``no_traffic``.

    Parameters: the fields of :class:`~airflow_mlops.contract.params.MonitorParams`
    (``window_start`` / ``window_end`` are templated ISO times).
    """

    interface = MONITOR
    ui_color = "#e8daef"
