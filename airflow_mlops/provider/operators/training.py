"""``TrainModelOperator``: Keras training with the transform built in (runtime ``train``)."""

from __future__ import annotations

from airflow_mlops.contract.components import TRAIN
from airflow_mlops.provider.operators.component import ComponentOperator


class TrainModelOperator(ComponentOperator):
    """Train the classifier; output ``model``. Runs on all visible GPUs, checkpoints each epoch
    so a retry resumes, logs per-epoch metrics to the task log and MLflow.

    Give it ``pool="gpu"`` and ``pool_slots`` = GPUs so training jobs never oversubscribe GPUs.

    Inputs ``examples`` (ingest) and ``transform`` (transform). Parameters: the fields of
    :class:`~airflow_mlops.contract.params.TrainParams` (``epochs``, ``learning_rate`` ... may
    be templates such as ``"{{ params.epochs }}"``).
    """

    interface = TRAIN
    ui_color = "#e8e0f5"
