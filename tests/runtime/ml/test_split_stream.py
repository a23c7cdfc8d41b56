"""Training reads its splits as a stream (ml/split_stream.py, TrainingData in ml/context.py):
the same inputs as reading the whole split, every row once per epoch, shuffled afresh each
epoch, in windows of bounded size."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from airflow_mlops.runtime.ml.features import training_arrays
from airflow_mlops.runtime.ml.split_stream import SplitStream

TRANSFORM = {
    "features": {"row": {"type": "numeric", "mean": 0.0, "variance": 1.0}, "colour": {"type": "categorical", "vocabulary": ["red", "blue"]}},
    "label": {"name": "kind", "task": "classification", "classes": ["a", "b", "c"]},
}


def frame(rows: int) -> pd.DataFrame:
    """Rows numbered 0..rows-1 in column ``row``; some labels missing or unknown, some values missing."""
    kinds = np.array(["a", "b", "c", None, "zzz"], dtype=object)[np.arange(rows) % 5]
    colours = np.array(["red", "blue", None, "green"], dtype=object)[np.arange(rows) % 4]
    row = np.arange(rows, dtype="float64")
    row[7::50] = np.nan
    return pd.DataFrame({"row": row, "colour": colours, "kind": kinds, "other": "x"})


@pytest.fixture
def split(tmp_path) -> tuple[str, pd.DataFrame]:
    data = frame(1000)
    path = tmp_path / "train.parquet"
    pq.write_table(pa.Table.from_pandas(data, preserve_index=False), path, row_group_size=128)
    return f"file://{path}", data


def rows_of(x) -> list[str]:
    """The rows' numbers, as text: ``nan`` (missing) compares equal to itself."""
    return [str(r) for r in x["row"].ravel().tolist()]


def test_the_stream_gives_what_reading_the_whole_split_gives(split):
    uri, data = split
    stream = SplitStream(uri, TRANSFORM, "kind", window_rows=50)
    x, y = stream.arrays()
    expected_x, expected_y, dropped = training_arrays(data, TRANSFORM, "kind")
    assert stream.counts() == (len(expected_y), dropped) == (600, 400)
    np.testing.assert_array_equal(y, expected_y)
    for name in expected_x:
        np.testing.assert_array_equal(x[name], expected_x[name])
    assert set(x) == {"row", "colour"}  # only the transform's features are read


def test_windows_stay_within_their_size(split):
    uri, _ = split
    stream = SplitStream(uri, TRANSFORM, "kind", window_rows=50)
    sizes = [len(y) for _, y in stream.windows(np.random.default_rng(0))]
    assert max(sizes) <= 50 and sum(sizes) == 600


def test_an_epoch_of_batches_sees_every_row_once_in_a_new_order(split):
    uri, _ = split
    stream = SplitStream(uri, TRANSFORM, "kind", window_rows=50)
    expected = rows_of(stream.arrays()[0])

    def epoch(seed):
        batches = list(stream.batches(32, np.random.default_rng(seed)))
        assert [len(y) for _, y in batches] == [32] * 18 + [600 - 32 * 18]
        for x, y in batches:  # rows keep their labels
            assert all(r == "nan" or int(float(r)) % 5 == label for r, label in zip(rows_of(x), y))
        return [r for x, _ in batches for r in rows_of(x)]

    first, again, second = epoch(1), epoch(1), epoch(2)
    assert sorted(first) == sorted(expected)
    assert first == again and first != second and first != expected
    in_order = [r for x, _ in stream.batches(32) for r in rows_of(x)]
    assert in_order == expected


def test_the_train_dataset_is_shuffled_afresh_each_epoch(split):
    from airflow_mlops.runtime.ml.context import TrainingData

    uri, _ = split
    data = TrainingData(SplitStream(uri, TRANSFORM, "kind", window_rows=50), SplitStream(uri, TRANSFORM, "kind"), seed=3)
    dataset = data.train_dataset(64)
    assert int(dataset.cardinality()) == 10  # ceil(600 / 64)
    epochs = [[r for x, _ in dataset.as_numpy_iterator() for r in rows_of(x)] for _ in range(2)]
    assert len(epochs[0]) == len(epochs[1]) == 600 and epochs[0] != epochs[1]
    assert sorted(epochs[0]) == sorted(epochs[1])
    x, y = next(data.eval_dataset(64).as_numpy_iterator())
    assert x["colour"].dtype == object and x["colour"][:2].ravel().tolist() == [b"red", b"blue"] and y.tolist()[:2] == [0, 1]
    assert data.sample(3)["row"].shape == (3, 1)


def test_a_split_that_cannot_be_read_mid_training_is_retried_not_blamed_on_the_module(split):
    """An I/O error inside tf.data reaches Keras as a TF error; train raises the OSError, which
    the runner retries, instead of a model error."""
    import keras

    from airflow_mlops.runtime.components.train import fit
    from airflow_mlops.runtime.ml import training_module
    from airflow_mlops.runtime.ml.context import TrainingContext, TrainingData

    uri, _ = split

    class Failing(SplitStream):
        def windows(self, rng=None):
            windows = super().windows(rng)
            yield next(windows)
            raise OSError("connection reset while reading the split")

    data = TrainingData(Failing(uri, TRANSFORM, "kind", window_rows=50), SplitStream(uri, TRANSFORM, "kind"))
    context = TrainingContext.from_transform(TRANSFORM, "classification", hyperparameters={}, learning_rate=0.01, epochs=1,
                                             batch_size=32, seed=0, hidden_units=(4,), strategy=None)
    module = training_module.load(None, None)
    keras.utils.set_random_seed(0)
    model = module.build_model(context)
    with pytest.raises(OSError, match="connection reset"):
        fit(module, model, data, context)
