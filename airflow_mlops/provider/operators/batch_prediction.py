"""``CheckBatchOperator`` and ``PredictBatchOperator``: a file of rows, checked against the
champion, then predicted by it (runtime ``check_batch`` and ``predict_batch``)."""

from __future__ import annotations

from airflow_mlops.contract.components import CHECK_BATCH, PREDICT_BATCH
from airflow_mlops.provider.operators.component import ComponentOperator


class CheckBatchOperator(ComponentOperator):
    """Read the rows to predict (CSV or Parquet, a path, prefix, glob or ``gs://``) into one Parquet
    file and check it against the champion: its schema (presence, categories, numeric ranges)
    and skew against its training statistics (TFDV on Beam). A bad batch fails the task with a
    message naming the column and the rows, and no retry; nothing is predicted.

    Output ``batch`` (``BatchExamples``, with the champion version it was checked against),
    ``statistics``, ``anomalies`` (``report.html``). Parameters: the fields of
    :class:`~airflow_mlops.contract.params.BatchCheckParams` (``source`` is templated, e.g. a
    prefix per ``{{ ds }}``).
    """

    interface = CHECK_BATCH
    ui_color = "#fdebd0"


class PredictBatchOperator(ComponentOperator):
    """The champion version the batch was checked against predicts it, ``batch_size`` rows per
    call (memory bounded by that); output ``predictions`` (``predictions.parquet``: the kept
    columns, ``request_id``, ``prediction``, class probabilities, ``model_version``), also
    appended to the prediction log (``model_role`` ``batch``) and copied to ``destination``.

    Input ``batch`` (:class:`CheckBatchOperator`). Parameters: the fields of
    :class:`~airflow_mlops.contract.params.BatchPredictParams`.
    """

    interface = PREDICT_BATCH
    ui_color = "#fad7a0"
