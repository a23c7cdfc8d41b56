"""Feature engineering: the analyzers, and the Keras layers that reproduce them."""

from __future__ import annotations

import numpy as np
import pytest

from airflow_mlops.runtime.components.transform import analyze_chunk, finalize, merge

FEATURES = {"size": "numeric", "colour": "categorical"}
ROWS = {
    "size": [1.0, 2.0, None, 4.0, 10.0, float("nan"), 7.5],
    "colour": ["red", "blue", "red", None, "green", "red", "blue"],
    "label": ["a", "b", "a", "a", "b", "b", "a"],
}


def chunks(rows: dict[str, list], sizes: list[int]) -> list[dict[str, list]]:
    out, start = [], 0
    for size in sizes:
        out.append({k: v[start : start + size] for k, v in rows.items()})
        start += size
    return out


@pytest.mark.parametrize("sizes", [[7], [3, 4], [1, 1, 1, 4], [2, 0, 5]])
def test_mean_variance_and_vocabulary_do_not_depend_on_chunking(sizes):
    transform = finalize(merge([analyze_chunk(c, FEATURES, "label") for c in chunks(ROWS, sizes)]), FEATURES, "label")
    present = np.array([1.0, 2.0, 4.0, 10.0, 7.5])
    size = transform["features"]["size"]
    assert size["mean"] == pytest.approx(present.mean())
    assert size["variance"] == pytest.approx(present.var())  # population variance, like Keras Normalization
    assert size["missing"] == 2 and size["count"] == 5
    colour = transform["features"]["colour"]
    assert colour["vocabulary"] == ["red", "blue", "green"]  # by frequency, ties by value
    assert colour["missing"] == 1
    assert transform["label"]["classes"] == ["a", "b"]


def test_a_single_class_label_is_a_data_error():
    from airflow_mlops.contract import ComponentError

    rows = {**ROWS, "label": ["a"] * 7}
    with pytest.raises(ComponentError, match="need 2 or more"):
        finalize(merge([analyze_chunk(rows, FEATURES, "label")]), FEATURES, "label")



def test_infinite_numbers_count_as_missing():
    """One infinite value would make the mean infinite and every prediction NaN."""
    columns = {"x": [1.0, float("inf"), 3.0, float("-inf"), None], "y": [1.0, 2.0, 3.0, 4.0, float("inf")]}
    out = finalize(merge([analyze_chunk(columns, {"x": "numeric"}, "y", "numeric")]), {"x": "numeric"}, "y", "regression")
    assert (out["features"]["x"]["mean"], out["features"]["x"]["missing"]) == (2.0, 3)
    assert (out["label"]["mean"], out["label"]["count"], out["label"]["max"]) == (2.5, 4, 4.0)


def test_arrow_columns_are_analysed_as_their_python_values():
    """Beam hands transform Arrow tables; counted in Arrow, each column gives what its Python
    values give (an int category with a gap stays '1', not '1.0'; NaN, None and inf are missing)."""
    import pyarrow as pa

    table = pa.table({
        "grade": pa.array([1, None, 2, 1, 3]),
        "colour": pa.array(["red", None, "blue", "red", ""]),
        "size": pa.array([1.5, float("nan"), None, float("inf"), 4.5]),
        "label": pa.array(["a", "b", None, "a", "b"]),
    })
    features = {"grade": "categorical", "colour": "categorical", "size": "numeric"}
    from_arrow = analyze_chunk({c: table.column(c) for c in table.column_names}, features, "label")
    assert from_arrow == analyze_chunk(table.to_pydict(), features, "label")
    assert from_arrow["grade"] == {"counts": {"1": 2, "2": 1, "3": 1}, "missing": 1}
    assert from_arrow["size"] == {"n": 2, "mean": 3.0, "m2": 4.5, "missing": 3, "min": 1.5, "max": 4.5}
