"""Records built column-wise are the records the prediction logger writes for the same rows."""

from __future__ import annotations

import json
import math

import numpy as np
import pyarrow as pa

from airflow_mlops.runtime.predictions.columnar import record_lines
from airflow_mlops.runtime.predictions.writer import _json_line


def _expected(values: dict, i: int, probabilities: dict | None, prediction) -> dict:
    def clean(v):
        return None if v is None or (isinstance(v, float) and not math.isfinite(v)) else v

    record = {"timestamp": "2026-01-01T10:00:00.000+00:00", "request_id": values["id"][i],
              "features": {"x": clean(values["x"][i]), "c": values["c"][i]}, "prediction": clean(prediction[i])}
    if probabilities is not None:
        record["probabilities"] = {k: clean(float(v[i])) for k, v in probabilities.items()}
    return {**record, "model_version": "7", "model_role": "batch"}


def test_the_lines_are_the_logger_s_records_for_any_values():
    texts = ["Biscoe", 'say "hi"', "back\\slash", "tab\there", "ünïcødé ✓", "", None, "line\nbreak"]
    numbers = [39.1, 0.1 + 0.2, 1e-7, 1e20, -0.0, float("nan"), float("inf"), None, 3.0, 123456789.125]
    n = 40
    rng = np.random.default_rng(1)
    values = {
        "id": [f"r{i}" if i % 7 else f'q"{i}' for i in range(n)],
        "x": [numbers[i % len(numbers)] for i in range(n)],
        "c": [texts[i % len(texts)] for i in range(n)],
    }
    probabilities = {"A": rng.random(n).astype("float32"), 'B "b"': rng.random(n)}
    classes = np.asarray(["A", 'B "b"'], dtype=object)[rng.integers(0, 2, n)]
    for prediction, probs in ((classes, probabilities), (np.asarray([1.5, float("nan")] * (n // 2)), None)):
        text = record_lines(
            timestamp="2026-01-01T10:00:00.000+00:00", request_ids=values["id"],
            features={"x": ("numeric", pa.array(values["x"], pa.float64(), from_pandas=True)), "c": ("categorical", values["c"])},
            prediction=prediction, probabilities=probs, fields={"model_version": "7", "model_role": "batch"},
        )
        lines = text.splitlines()
        assert len(lines) == n
        for i, line in enumerate(lines):
            expected = _expected(values, i, probs, list(prediction))
            assert json.loads(line) == json.loads(_json_line(expected)), (i, line)
            assert list(json.loads(line)) == list(expected)  # the server's field order


def test_no_rows_no_lines():
    assert record_lines(timestamp="t", request_ids=[], features={"x": ("numeric", pa.array([], pa.float64()))},
                        prediction=pa.array([], pa.string()), probabilities=None, fields={}) == ""
