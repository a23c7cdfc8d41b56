"""predict_batch: the champion version a batch was checked against predicts it, a window of rows
at a time.

Input ``batch`` (``check_batch``). Parameters: :class:`~airflow_mlops.contract.params.BatchPredictParams`.
Settings: ``registry``.

The version is loaded as the prediction server loads it (its inference traced once into a graph)
and answers ``batch_size`` rows per call, read from the batch's Parquet file one window at a
time, so memory depends on ``batch_size``, not on the batch. Output ``predictions``
(``BatchPredictions``): ``predictions.parquet`` with, per row, the kept columns, ``request_id``,
``prediction``, a classifier's ``probability_<class>`` columns, ``model_version`` and
``predicted_at``. With ``log_predictions`` every row is also appended to the prediction log as a
record of ``model_role`` ``batch`` (monitoring reads it, the canary analysis leaves it out), once
all rows are predicted; with ``destination`` the file is copied there and ``_SUCCESS`` written
after it, or, for ``bigquery://``, loaded into the table (:mod:`airflow_mlops.runtime.ml.bigquery_sink`). A retry reuses the first attempt's prediction time, so it rewrites the same log files.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from collections.abc import Mapping
from typing import Any

from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.contract import ComponentError, ErrorKind, join_uri
from airflow_mlops.contract.components import PREDICT_BATCH
from airflow_mlops.contract.params import BatchPredictParams
from airflow_mlops.contract.tasks import REGRESSION
from airflow_mlops.runtime.components.base import Component, ComponentResult, ExecutionContext, OutputArtifact
from airflow_mlops.runtime.ml.batch_input import BATCH
from airflow_mlops.runtime.ml.bigquery_source import SCHEME as BIGQUERY_SCHEME
from airflow_mlops.runtime.predictions import BATCH_ROLE

#: a progress line at most this often
PROGRESS_SECONDS = 10.0


def prediction_time(ctx: ExecutionContext) -> str:
    """Now, or the time a failed attempt of this execution chose (kept in the scratch directory)."""
    from airflow_mlops.runtime.serving.record import utc_now

    store = ArtifactStore()
    uri = join_uri(ctx.scratch_dir, "predicted_at")
    if store.exists(uri):
        return store.read_text(uri).strip()
    moment = utc_now()
    store.write_text(uri, moment)
    return moment


def load_version(ctx: ExecutionContext, version: str, task: str, cache_dir: str):
    from airflow_mlops.runtime.ml.model_registry import Registry
    from airflow_mlops.runtime.serving.models import ModelCache, NotServable

    registry = Registry.from_spec(ctx.spec)
    try:
        return ModelCache(registry, cache_dir, task=task).get(version)
    except NotServable as exc:
        raise ComponentError(ErrorKind.CONFIG, f"batch prediction: {exc}") from None


def model_inputs(window, features: Mapping[str, str]) -> dict[str, Any]:
    """A window of the batch (an Arrow record batch) as the model's inputs: ``(n, 1)`` float32
    columns (missing: NaN) and text columns (missing: ``""``), as served rows are."""
    import numpy as np
    import pyarrow.compute as pc

    from airflow_mlops.runtime.ml.batch_input import categorical_text

    inputs = {}
    for name, kind in features.items():
        column = window.column(name)
        if kind == "numeric":
            values = column.to_numpy(zero_copy_only=False).astype("float32")
        else:  # text; integer codes as their digits, as transform named them
            values = np.asarray(pc.fill_null(categorical_text(column), "").to_numpy(zero_copy_only=False), dtype=object)
        inputs[name] = values.reshape(-1, 1)
    return inputs


def answer_columns(task: str, classes: list[str], raw) -> dict[str, Any]:
    """``prediction`` and, for a classifier, ``probability_<class>`` per class, as arrays (the
    same decoding as :func:`airflow_mlops.runtime.ml.outputs.answers`, by column)."""
    import numpy as np

    from airflow_mlops.runtime.ml.outputs import class_probabilities, values

    if task == REGRESSION:
        return {"prediction": values(raw)}
    probabilities = class_probabilities(task, raw)
    columns: dict[str, Any] = {"prediction": np.asarray(classes, dtype=object)[probabilities.argmax(axis=1)]}
    columns.update({f"probability_{c}": probabilities[:, i] for i, c in enumerate(classes)})
    return columns


def class_counts(answers: dict[str, Any], classes: list[str]) -> dict[str, int]:
    import numpy as np

    probabilities = np.stack([answers[f"probability_{c}"] for c in classes], axis=1)
    return dict(zip(classes, np.bincount(probabilities.argmax(axis=1), minlength=len(classes)).tolist()))


def request_ids(window, props: Mapping[str, Any], prefix: str, first_row: int):
    import numpy as np

    column = props.get("request_id_column")
    generated = np.char.add(f"{prefix}-", np.arange(first_row, first_row + window.num_rows).astype(str)).astype(object)
    if not column:
        return generated
    from airflow_mlops.runtime.ml.batch_input import categorical_text

    given = categorical_text(window.column(column)).to_numpy(zero_copy_only=False)  # a numeric id as its digits
    return np.where([v is None for v in given], generated, given)


def log_lines(window, features: Mapping[str, str], answers: dict[str, Any], ids, version: str, moment: str,
              classes: list[str]) -> str:
    """The window's prediction-log records as JSON lines, in the server's record shape."""
    from airflow_mlops.runtime.predictions.columnar import record_lines

    return record_lines(
        timestamp=moment, request_ids=ids, prediction=answers["prediction"],
        features={name: (kind, window.column(name)) for name, kind in features.items()},
        probabilities={c: answers[f"probability_{c}"] for c in classes} if classes else None,
        fields={"model_version": version, "model_role": BATCH_ROLE},
    )


class PendingLog:
    """The prediction log's files of one batch: written as ``*.jsonl.pending`` (which readers skip)
    window by window, renamed to ``*.jsonl`` once every row is predicted, so the log never holds
    part of a batch. Named by the batch and the window: a retry rewrites the same files."""

    def __init__(self, ctx: ExecutionContext, moment: str, prefix: str):
        from airflow_mlops.contract.layout import predictions_uri
        from airflow_mlops.runtime.predictions.partitions import partition

        self.dir = join_uri(predictions_uri(ctx.spec.artifact_root, ctx.spec.pipeline), partition(moment))
        self.name = f"part-{moment[:19].replace('-', '').replace(':', '')}-{prefix}"
        self.files: list[str] = []
        self.store = ArtifactStore()

    def write(self, index: int, text: str) -> None:
        uri = join_uri(self.dir, f"{self.name}-{index:06d}.jsonl")
        self.store.write_text(uri + ".pending", text)
        self.files.append(uri)

    def publish(self) -> None:
        for uri in self.files:
            self.store.move(uri + ".pending", uri)


def predict_windows(ctx: ExecutionContext, model, batch, out_uri: str, moment: str, log: PendingLog | None) -> dict[str, Any]:
    """Read, predict and write the batch a window at a time; the rows done and the classes predicted."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    params: BatchPredictParams = ctx.params
    props = batch.properties
    features, version, keep = dict(props["features"]), str(props["model_version"]), list(props.get("keep_columns") or [])
    prefix, total = f"batch-{batch.fingerprint[:12]}", int(props["rows"])
    done, counts, started, last_report = 0, dict.fromkeys(model.classes, 0), time.monotonic(), time.monotonic()
    store = ArtifactStore()
    with store.open(join_uri(batch.uri, f"{BATCH}.parquet")) as source, store.open(out_uri, "wb") as sink:
        writer = None
        try:
            for index, window in enumerate(pq.ParquetFile(source).iter_batches(batch_size=params.batch_size)):
                answers = answer_columns(model.task, model.classes, model.predict_inputs(model_inputs(window, features)))
                ids = request_ids(window, props, prefix, done)
                table = pa.table({
                    **{c: window.column(c) for c in keep},
                    "request_id": pa.array(ids, pa.string()),
                    **answers,
                    "model_version": pa.repeat(pa.scalar(version), window.num_rows),
                    "predicted_at": pa.repeat(pa.scalar(moment), window.num_rows),
                })
                writer = writer or pq.ParquetWriter(sink, table.schema)
                writer.write_table(table)
                if log is not None:
                    log.write(index, log_lines(window, features, answers, ids, version, moment, model.classes))
                if model.task != REGRESSION:
                    for value, n in class_counts(answers, model.classes).items():
                        counts[value] += n
                done += window.num_rows
                if time.monotonic() - last_report >= PROGRESS_SECONDS:
                    last_report = time.monotonic()
                    ctx.log.info("predicted %d / %d rows (%.0f rows/s)", done, total, done / (last_report - started))
        finally:
            if writer is not None:
                writer.close()
    if done != total:
        raise ComponentError(ErrorKind.DATA, f"batch prediction: {batch.uri} holds {done} rows, its record says {total}")
    seconds = time.monotonic() - started
    ctx.log.info("predicted %d rows in %.1f s (%.0f rows/s) with version %s: %s", done, seconds, done / max(seconds, 1e-9),
                 version, out_uri)
    return {"rows": done, "seconds": seconds, "classes": counts}


def deliver(ctx: ExecutionContext, out_uri: str, rows: int, version: str, moment: str) -> str:
    """``predictions.parquet`` to ``destination``: loaded into a BigQuery table, or copied with a
    ``_SUCCESS`` marker written after it; where it went."""
    destination = ctx.params.destination
    if destination.startswith(BIGQUERY_SCHEME):
        from airflow_mlops.runtime.ml.bigquery_sink import load_parquet

        # one job id per execution and prediction time: a retry finds its load, a new run loads again
        job_id = f"airflow_mlops_{ctx.spec.pipeline}_{os.path.basename(ctx.scratch_dir.rstrip('/'))[:40]}_{moment}"
        loaded = load_parquet(destination, out_uri, re.sub(r"[^A-Za-z0-9_-]", "_", job_id))
        ctx.log.info("loaded %d rows into BigQuery table %s (job %s)", loaded["rows"], loaded["table"], loaded["job"])
        return f"{BIGQUERY_SCHEME}{loaded['table']}"
    copied = join_uri(destination, "predictions.parquet")
    store = ArtifactStore()
    with store.open(out_uri) as src, store.open(copied, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    store.write_text(join_uri(destination, "_SUCCESS"), f"{rows} rows, model version {version}, {moment}\n")
    ctx.log.info("copied to %s", copied)
    return copied


def run(ctx: ExecutionContext) -> ComponentResult:
    params: BatchPredictParams = ctx.params
    batch = ctx.spec.inputs["batch"]
    version = str(batch.properties["model_version"])
    with tempfile.TemporaryDirectory(prefix="predict-batch-") as models:  # the version's files, removed after
        model = load_version(ctx, version, params.task, models)
        ctx.log.info("champion version %s loaded (%s, %s)", version, model.task, "graph" if model.compiled is not None else "eager")
        moment = prediction_time(ctx)
        log = PendingLog(ctx, moment, f"batch-{batch.fingerprint[:12]}") if params.log_predictions else None
        out_uri = ctx.output_uri("predictions", "predictions.parquet")
        done = predict_windows(ctx, model, batch, out_uri, moment, log)
    rows = done["rows"]
    if log is not None:
        log.publish()
        ctx.log.info("%d predictions appended to the prediction log (%s, model_role %s)", rows, log.dir, BATCH_ROLE)
    copied = deliver(ctx, out_uri, rows, version, moment) if params.destination else None

    rate = round(rows / max(done["seconds"], 1e-9), 1)
    properties = {"rows": rows, "model_version": version, "predicted_at": moment, "logged_to": log.dir if log else None,
                  "destination": copied, "rows_per_second": rate, **({"classes": done["classes"]} if done["classes"] else {})}
    return ComponentResult(
        outputs={"predictions": OutputArtifact(ctx.output_uri("predictions"), properties)},
        metrics={"rows": rows, "seconds": round(done["seconds"], 2), "rows_per_second": rate, "model_version": version},
    )


COMPONENT = Component.implementing(PREDICT_BATCH, run)
