"""``RegisterModelOperator``: the MLflow model registry."""

from __future__ import annotations

from typing import Any

from airflow_mlops.contract import ArtifactRef
from airflow_mlops.contract.components import REGISTER
from airflow_mlops.provider.compat import AirflowSkipException
from airflow_mlops.provider.operators.component import ComponentOperator, ComponentOutput


class RegisterModelOperator(ComponentOperator):
    """Register a blessed model as a new version with lineage tags and alias ``challenger``;
    output ``model_version``. A model that is not blessed is skipped (and so is everything
    downstream), with the evaluation's reasons in the log: the run still succeeds.

    Inputs: ``model`` (train), ``blessing`` (evaluate) and the artifacts recorded as lineage.

    :param lineage: those other inputs by name (``examples``, ``statistics``, ``schema``,
        ``transform``, ``evaluation``).
    """

    interface = REGISTER
    ui_color = "#d5f5f0"

    def __init__(self, *, lineage: dict[str, ComponentOutput] | None = None, **kwargs: Any) -> None:
        super().__init__(inputs={**(lineage or {}), **(kwargs.pop("inputs", None) or {})}, **kwargs)

    def check_inputs(self, inputs: dict[str, ArtifactRef]) -> None:
        blessing = inputs["blessing"].properties
        if not blessing.get("blessed"):
            raise AirflowSkipException("model not blessed, not registered: " + "; ".join(blessing.get("reasons", [])))
