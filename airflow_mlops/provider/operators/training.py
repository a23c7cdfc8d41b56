"""``TrainModelOperator``: Keras training with the transform built in (runtime ``train``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_mlops.provider.operators.component import ComponentOperator, ComponentOutput


class TrainModelOperator(ComponentOperator):
    """Train the classifier; output ``model``. Runs on all visible GPUs, checkpoints each epoch
    so a retry resumes, logs per-epoch metrics to the task log and MLflow.

    Give it ``pool="gpu"`` and ``pool_slots`` = GPUs so training jobs never oversubscribe GPUs.

    :param examples: the ``examples`` output of the ingest task.
    :param transform: the ``transform`` output of the transform task.
    :param label: the label column.
    :param hidden_units: sizes of the hidden layers.
    :param learning_rate: Adam's learning rate (templated, e.g. ``"{{ params.learning_rate }}"``).
    :param epochs: epochs (templated).
    :param batch_size: batch size.
    :param seed: random seed.
    """

    ui_color = "#e8e0f5"

    def __init__(
        self,
        *,
        examples: ComponentOutput,
        transform: ComponentOutput,
        label: str,
        hidden_units: Sequence[int] = (16, 8),
        learning_rate: float | str = 0.01,
        epochs: int | str = 20,
        batch_size: int = 32,
        seed: int = 42,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            component="train",
            inputs={"examples": examples, "transform": transform},
            component_params={
                "label": label,
                "hidden_units": list(hidden_units),
                "learning_rate": learning_rate,
                "epochs": epochs,
                "batch_size": batch_size,
                "seed": seed,
            },
            **kwargs,
        )
