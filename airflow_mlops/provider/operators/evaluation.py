"""``EvaluateModelOperator``: metrics, slices, thresholds and the champion comparison."""

from __future__ import annotations

from airflow_mlops.contract.components import EVALUATE
from airflow_mlops.provider.operators.component import ComponentOperator


class EvaluateModelOperator(ComponentOperator):
    """Evaluate the candidate on the test split and bless it or not; outputs ``evaluation`` and
    ``blessing``. The task succeeds either way; the blessing decides whether registration runs.

    Inputs ``examples`` (ingest) and ``model`` (train). Parameters: the fields of
    :class:`~airflow_mlops.contract.params.EvaluateParams` (``label``, ``slices``, ``thresholds``).
    """

    interface = EVALUATE
    ui_color = "#fde2e4"

    def execute(self, context):
        result = super().execute(context)
        blessing = result["outputs"]["blessing"]["properties"]
        verdict = "BLESSED" if blessing["blessed"] else "NOT BLESSED"
        self.log.info("%s: %s", verdict, "; ".join(blessing["reasons"]))
        self.log.info("evaluation report: %s", result["outputs"]["evaluation"]["properties"]["report"])
        return result
