"""``TrainModelOperator``: Keras training with the transform built in (runtime ``train``)."""

from __future__ import annotations

from typing import Any

from airflow_mlops.contract.components import TRAIN
from airflow_mlops.provider.operators.component import ComponentOperator


class TrainModelOperator(ComponentOperator):
    """Train the pipeline's training module's model; output ``model``. Runs on all visible GPUs, checkpoints each epoch
    so a retry resumes, logs per-epoch metrics to the task log and MLflow.

    Give it ``pool="gpu"`` and ``pool_slots`` = GPUs so training jobs never oversubscribe GPUs.

    Inputs ``examples`` (ingest) and ``transform`` (transform). Parameters: the fields of
    :class:`~airflow_mlops.contract.params.TrainParams` (``epochs``, ``learning_rate`` ... may
    be templates such as ``"{{ params.epochs }}"``); ``module_source``, the text of a module
    file, is passed as it is, never rendered.
    """

    interface = TRAIN
    ui_color = "#e8e0f5"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # A module file's text is code, not a template: Jinja would strip its last newline and
        # choke on (or expand) any "{{" in it. It stays out of the templated parameters.
        self.module_source: str | None = self.component_params.pop("module_source", None)

    def checked_params(self) -> dict[str, Any]:
        params = super().checked_params()
        if self.module_source is not None:
            params["module_source"] = self.module_source
        return params
