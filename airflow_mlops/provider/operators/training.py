"""``TrainModelOperator``: Keras training with the transform built in (runtime ``train``);
``TuneHyperparametersOperator``: the search before it (runtime ``tune``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_mlops.contract.components import TRAIN, TUNE
from airflow_mlops.contract.layout import EXECUTION_FILE
from airflow_mlops.provider.operators.component import ComponentOperator, _as_bool

if TYPE_CHECKING:
    from airflow.sdk import Context


class _ModuleSourceMixin(ComponentOperator):
    """A module file's text is code, not a template: Jinja would strip its last newline and
    choke on (or expand) any "{{" in it. It stays out of the templated parameters."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.module_source: str | None = self.component_params.pop("module_source", None)

    def checked_params(self) -> dict[str, Any]:
        params = super().checked_params()
        if self.module_source is not None:
            params["module_source"] = self.module_source
        return params


class TrainModelOperator(_ModuleSourceMixin):
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


class TuneHyperparametersOperator(_ModuleSourceMixin):
    """Search hyper-parameters (Keras Tuner) for the training module; output
    ``hyperparameters``, which :class:`TrainModelOperator` takes as its ``hyperparameters`` input.

    Inputs ``examples`` and ``transform``. Parameters: the fields of
    :class:`~airflow_mlops.contract.params.TuneParams`. Give it ``pool="gpu"`` as train.

    :param search: run the search (a cache hit when nothing changed), or ``False``: reuse the
        pipeline's last tuning result, whatever data it was found on, and run nothing (templated,
        e.g. ``"{{ params.tune }}"``; with no earlier result it searches).
    """

    interface = TUNE
    ui_color = "#efe0f5"
    template_fields: Sequence[str] = (*ComponentOperator.template_fields, "search")

    def __init__(self, *, search: bool | str = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.search = search

    def execute(self, context: Context) -> dict[str, Any]:
        if not _as_bool(self.search):
            last = self.last_result()
            if last is not None:
                return last
            self.log.info("no earlier tuning result of %s: searching", self.pipeline)
        return super().execute(context)

    def last_result(self) -> dict[str, Any] | None:
        """The newest succeeded tune execution of this pipeline, as this task's result."""
        from airflow_mlops.contract import join_uri

        store = self._store()
        root = join_uri(self.artifact_root, self.pipeline, self.component)
        if not store.exists(root):
            return None
        records = [store.succeeded_record(uri.rsplit("/", 1)[0]) for uri in store.list_files(root) if uri.endswith(f"/{EXECUTION_FILE}")]
        found = [r for r in records if r is not None]
        if not found:
            return None
        record = max(found, key=lambda r: r.ended_at)
        self.log.info("tune: reusing the last tuning result, execution %s of %s (run %s): %s", record.fingerprint,
                      record.ended_at, record.run.run_id, record.outputs["hyperparameters"].properties.get("values"))
        self._outputs = dict(record.outputs)
        return {
            "component": record.component,
            "fingerprint": record.fingerprint,
            "cache_hit": True,
            "reused": True,
            "outputs": {name: ref.to_dict() for name, ref in record.outputs.items()},
            "metrics": record.metrics,
            "execution_uri": join_uri(self.artifact_root, self.pipeline, record.component, record.fingerprint),
            "duration_seconds": 0.0,
        }
