"""``RegisterModelOperator``: the MLflow model registry."""

from __future__ import annotations

from typing import Any

from airflow.sdk.exceptions import AirflowSkipException

from airflow_mlops.contract import ArtifactRef
from airflow_mlops.provider.operators.component import ComponentOperator, ComponentOutput


class RegisterModelOperator(ComponentOperator):
    """Register a blessed model as a new version with lineage tags and alias ``challenger``;
    output ``model_version``. A model that is not blessed is skipped (and so is everything
    downstream), with the evaluation's reasons in the log: the run still succeeds.

    :param model: the ``model`` output of the train task.
    :param blessing: the ``blessing`` output of the evaluate task.
    :param lineage: other artifacts to record on the version (``examples``, ``statistics``,
        ``schema``, ``transform``, ``evaluation``).
    """

    ui_color = "#d5f5f0"

    def __init__(
        self, *, model: ComponentOutput, blessing: ComponentOutput, lineage: dict[str, ComponentOutput], **kwargs: Any
    ) -> None:
        super().__init__(component="register", inputs={"model": model, "blessing": blessing, **lineage}, **kwargs)

    def check_inputs(self, inputs: dict[str, ArtifactRef]) -> None:
        blessing = inputs["blessing"].properties
        if not blessing.get("blessed"):
            raise AirflowSkipException("model not blessed, not registered: " + "; ".join(blessing.get("reasons", [])))
