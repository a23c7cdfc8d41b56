"""``TransformOperator``: full-pass analyzers on Beam (runtime ``transform``)."""

from __future__ import annotations

from airflow_mlops.contract.components import TRANSFORM
from airflow_mlops.provider.operators.component import ComponentOperator


class TransformOperator(ComponentOperator):
    """Vocabularies and mean/variance over the training split; output ``transform``, which the
    trainer turns into the model's own preprocessing layers.

    Inputs ``examples`` (ingest) and ``schema`` (validate). Parameters: the fields of
    :class:`~airflow_mlops.contract.params.TransformParams`.

    ``beam_pipeline_args`` choose where Beam runs.
    """

    interface = TRANSFORM
    ui_color = "#e3f2e1"
