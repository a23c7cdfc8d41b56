"""The model for edge devices: a TFLite (LiteRT) flatbuffer converted from the model's
SavedModel, and its parity with the Keras model on the test split.

Conversion tries TFLite's built-in ops first (what every LiteRT runtime has) and falls back to
TensorFlow ops through the Flex delegate unless ``builtin_ops_only``. Parity runs both models on
every test row with a usable label, in batches: the largest difference of their outputs
(classifiers: probabilities; regression: in the target's standard deviations) and the share of
rows on which they agree (the same class; regression: within ``max_difference``). A model out of
bounds, or one that does not convert, gets no edge artifact, and :class:`EdgeExport` says why.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from typing import Any

from airflow_mlops.contract.params import TfliteExport
from airflow_mlops.contract.tasks import REGRESSION

TFLITE_FILE = "model.tflite"
PARITY_FILE = "parity.json"


@dataclass(frozen=True)
class EdgeExport:
    """What the export gave: exported or the reason it was not, and the parity figures."""

    exported: bool
    reason: str = ""
    ops: str | None = None
    size_bytes: int = 0
    rows: int = 0
    max_difference: float | None = None
    agreement: float | None = None

    def tags(self) -> dict[str, str]:
        """The model version's tags (``edge_tflite``: ``exported`` or ``not exported: <why>``)."""
        tags = {"edge_tflite": "exported" if self.exported else f"not exported: {self.reason}"}
        if self.ops:
            tags["edge_tflite_ops"] = self.ops
        if self.max_difference is not None:
            tags["edge_tflite_max_difference"] = f"{self.max_difference:.3g}"
            tags["edge_tflite_agreement"] = f"{self.agreement:.6g}"
            tags["edge_tflite_parity_rows"] = str(self.rows)
        return tags

    def summary(self) -> str:
        parity = (f"{self.rows} test rows, largest difference {self.max_difference:.3g}, agreement {self.agreement:.4%}"
                  if self.max_difference is not None else "no parity check")
        if self.exported:
            return f"TFLite model exported ({self.size_bytes / 1024:.1f} KiB, {self.ops} ops): {parity}"
        return f"no TFLite model: {self.reason}"


def convert(saved_model_dir: str, builtin_ops_only: bool) -> tuple[bytes, str]:
    """The TFLite flatbuffer of the SavedModel and the op sets it needs."""
    import tensorflow as tf

    def attempt(op_sets):
        converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir)
        converter.target_spec.supported_ops = op_sets
        return converter.convert()

    try:
        return attempt([tf.lite.OpsSet.TFLITE_BUILTINS]), "builtins"
    except Exception as builtin_failure:
        if builtin_ops_only:
            raise ValueError(f"it needs TensorFlow ops that TFLite has no built-in for (registry.tflite.builtin_ops_only): "
                             f"{_first_line(builtin_failure)}") from None
    return attempt([tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]), "builtins+select_tf_ops"


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"[:300]


def tflite_inputs(x: dict[str, Any]) -> dict[str, Any]:
    """Model inputs keyed by feature as the TFLite signature wants them: by layer name, text as bytes."""
    import numpy as np

    from airflow_mlops.runtime.ml.preprocessing import layer_name

    out = {}
    for name, values in x.items():
        if values.dtype == object:
            values = np.array([str(v).encode() for v in values.ravel()], dtype=object).reshape(values.shape)
        out[layer_name(name)] = values
    return out


def parity(flatbuffer: bytes, model: Any, batches, task: str, target_std: float, tolerance: float) -> tuple[int, float, float]:
    """Rows compared, the largest output difference and the share of rows that agree, running
    the TFLite model and the Keras ``model`` on ``batches`` (``(inputs, labels)``); regression
    outputs are compared in target standard deviations and agree within ``tolerance``."""
    import numpy as np
    import tensorflow as tf

    runner = tf.lite.Interpreter(model_content=flatbuffer).get_signature_runner()
    rows, largest, agree = 0, 0.0, 0
    for x, _ in batches:
        expected = np.asarray(model(x, training=False), dtype="float64")
        (got,) = runner(**tflite_inputs(x)).values()
        got = np.asarray(got, dtype="float64").reshape(expected.shape)
        difference = np.where(np.isfinite(got), np.abs(got - expected), np.inf) / target_std
        if task == REGRESSION:
            agree += int((difference.max(axis=1) <= tolerance).sum())
        else:
            agree += int((_classes(got) == _classes(expected)).sum())
        largest = max(largest, float(difference.max()) if difference.size else 0.0)
        rows += len(expected)
    return rows, largest, (agree / rows if rows else 1.0)


def _classes(probabilities):

    return (probabilities[:, 0] > 0.5).astype(int) if probabilities.shape[1] == 1 else probabilities.argmax(axis=1)


def export_edge(model_dir: str, out_dir: str, test_batches, options: TfliteExport, log) -> EdgeExport:
    """Convert the model in ``model_dir`` (``saved_model/``, ``model.keras``, ``transform.json``),
    check its parity on ``test_batches``, and write ``model.tflite`` and ``parity.json`` to
    ``out_dir`` when it converts and is within the bounds."""
    from airflow_mlops.runtime.ml.features import task_of
    from airflow_mlops.runtime.ml.model import load_model

    with open(os.path.join(model_dir, "transform.json")) as f:
        transform = json.load(f)
    task = task_of(transform)
    try:
        flatbuffer, ops = convert(os.path.join(model_dir, "saved_model"), options.builtin_ops_only)
    except Exception as exc:
        return EdgeExport(False, f"the model does not convert to TFLite ({_first_line(exc)})")
    target_std = float(transform["label"].get("variance") or 1.0) ** 0.5 if task == REGRESSION else 1.0
    try:
        rows, largest, agreement = parity(flatbuffer, load_model(os.path.join(model_dir, "model.keras")), test_batches, task, target_std,
                                         options.max_difference)
    except Exception as exc:
        return EdgeExport(False, f"the TFLite model does not run on the test rows ({_first_line(exc)})", ops)
    result = EdgeExport(True, "", ops, len(flatbuffer), rows, largest, agreement)
    unit = " target standard deviations" if task == REGRESSION else ""
    if largest > options.max_difference:
        result = EdgeExport(False, f"its outputs differ from the Keras model's by up to {largest:.3g}{unit} on the test split, "
                                   f"more than registry.tflite.max_difference {options.max_difference:g}", ops, 0, rows, largest, agreement)
    elif agreement < options.min_agreement:
        result = EdgeExport(False, f"it agrees with the Keras model on {agreement:.4%} of the test rows, less than "
                                   f"registry.tflite.min_agreement {options.min_agreement:g}", ops, 0, rows, largest, agreement)
    os.makedirs(out_dir, exist_ok=True)
    if result.exported:
        with open(os.path.join(out_dir, TFLITE_FILE), "wb") as f:
            f.write(flatbuffer)
        with open(os.path.join(out_dir, PARITY_FILE), "w") as f:
            json.dump({**asdict(result), "bounds": options.to_dict(), "task": task}, f, indent=2)
    log.info("%s", result.summary())
    return result
