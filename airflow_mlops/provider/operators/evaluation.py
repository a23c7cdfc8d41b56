"""``EvaluateModelOperator``: metrics, slices, thresholds and the champion comparison."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_mlops.provider.operators.component import ComponentOperator, ComponentOutput


class EvaluateModelOperator(ComponentOperator):
    """Evaluate the candidate on the test split and bless it or not; outputs ``evaluation`` and
    ``blessing``. The task succeeds either way; the blessing decides whether registration runs.

    :param examples: the ``examples`` output of the ingest task.
    :param model: the ``model`` output of the train task.
    :param label: the label column.
    :param slices: features to report per-value metrics for.
    :param thresholds: ``{"min_accuracy", "max_accuracy_drop"}``.
    """

    ui_color = "#fde2e4"

    def __init__(
        self,
        *,
        examples: ComponentOutput,
        model: ComponentOutput,
        label: str,
        slices: Sequence[str] = (),
        thresholds: Mapping[str, float] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            component="evaluate",
            inputs={"examples": examples, "model": model},
            component_params={
                "label": label,
                "slices": list(slices),
                "thresholds": {"min_accuracy": 0.8, "max_accuracy_drop": 0.02, **(thresholds or {})},
            },
            **kwargs,
        )

    def execute(self, context):
        result = super().execute(context)
        blessing = result["outputs"]["blessing"]["properties"]
        verdict = "BLESSED" if blessing["blessed"] else "NOT BLESSED"
        self.log.info("%s: %s", verdict, "; ".join(blessing["reasons"]))
        self.log.info("evaluation report: %s", result["outputs"]["evaluation"]["properties"]["report"])
        return result
