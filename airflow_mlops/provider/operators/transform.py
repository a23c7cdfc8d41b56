"""``TransformOperator``: full-pass analyzers on Beam (runtime ``transform``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_mlops.provider.operators.component import ComponentOperator, ComponentOutput


class TransformOperator(ComponentOperator):
    """Vocabularies and mean/variance over the training split; output ``transform``, which the
    trainer turns into the model's own preprocessing layers.

    :param examples: the ``examples`` output of the ingest task.
    :param schema: the ``schema`` output of the validate task.
    :param features: feature name -> ``numeric`` | ``categorical``.
    :param label: the label column.
    :param beam_pipeline_args: Beam options.
    """

    ui_color = "#e3f2e1"

    def __init__(
        self,
        *,
        examples: ComponentOutput,
        schema: ComponentOutput,
        features: Mapping[str, str],
        label: str,
        beam_pipeline_args: Sequence[str] = ("--runner=DirectRunner",),
        **kwargs: Any,
    ) -> None:
        super().__init__(
            component="transform",
            inputs={"examples": examples, "schema": schema},
            component_params={"features": dict(features), "label": label},
            component_settings={"beam_pipeline_args": list(beam_pipeline_args)},
            **kwargs,
        )
