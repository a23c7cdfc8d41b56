"""``ValidateDataOperator``: TFDV statistics, schema anomalies and drift (runtime ``validate``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_mlops.provider.operators.component import ComponentOperator, ComponentOutput


class ValidateDataOperator(ComponentOperator):
    """Validate examples against the curated schema and the champion's training data.

    Outputs ``statistics``, ``schema``, ``anomalies``. Schema anomalies fail the task without
    retries, with a summary naming each column and problem; drift warns or fails by ``on_drift``.

    :param examples: the ``examples`` output of the ingest task.
    :param features: feature name -> ``numeric`` | ``categorical``.
    :param label: the label column.
    :param schema_uri: the curated ``schema.pbtxt`` (inferred and written there when absent).
    :param max_missing_fraction: presence limit written into an inferred schema.
    :param drift: ``{"jensen_shannon", "l_infinity", "on_drift"}``.
    :param beam_pipeline_args: Beam options (``--runner=DataflowRunner ...`` on GCP).
    """

    ui_color = "#fdf0d5"

    def __init__(
        self,
        *,
        examples: ComponentOutput,
        features: Mapping[str, str],
        label: str,
        schema_uri: str,
        max_missing_fraction: float = 0.1,
        drift: Mapping[str, Any] | None = None,
        beam_pipeline_args: Sequence[str] = ("--runner=DirectRunner",),
        **kwargs: Any,
    ) -> None:
        super().__init__(
            component="validate",
            inputs={"examples": examples},
            component_params={
                "features": dict(features),
                "label": label,
                "schema_uri": schema_uri,
                "max_missing_fraction": max_missing_fraction,
                "drift": {"jensen_shannon": 0.3, "l_infinity": 0.3, "on_drift": "warn", **(drift or {})},
            },
            component_settings={"beam_pipeline_args": list(beam_pipeline_args)},
            **kwargs,
        )

    def execute(self, context):
        result = super().execute(context)
        anomalies = result["outputs"]["anomalies"]["properties"]
        if anomalies["drifted_columns"]:
            self.log.warning("data drift in %s; report: %s", ", ".join(anomalies["drifted_columns"]), anomalies["report"])
        else:
            self.log.info("data valid; report: %s", anomalies["report"])
        return result
