"""``ValidateDataOperator``: TFDV statistics, schema anomalies and drift (runtime ``validate``)."""

from __future__ import annotations

from airflow_mlops.contract.components import VALIDATE
from airflow_mlops.provider.operators.component import ComponentOperator


class ValidateDataOperator(ComponentOperator):
    """Validate examples against the curated schema and the champion's training data.

    Outputs ``statistics``, ``schema``, ``anomalies``. Schema anomalies fail the task without
    retries, with a summary naming each column and problem; drift warns or fails by ``on_drift``.

    Input ``examples`` (ingest). Parameters: the fields of
    :class:`~airflow_mlops.contract.params.ValidateParams`.

    ``beam_pipeline_args`` (``--runner=DataflowRunner ...`` on GCP) choose where Beam runs.
    """

    interface = VALIDATE
    ui_color = "#fdf0d5"

    def execute(self, context):
        result = super().execute(context)
        anomalies = result["outputs"]["anomalies"]["properties"]
        if anomalies["drifted_columns"]:
            self.log.warning("data drift in %s; report: %s", ", ".join(anomalies["drifted_columns"]), anomalies["report"])
        else:
            self.log.info("data valid; report: %s", anomalies["report"])
        return result
