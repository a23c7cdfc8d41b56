"""A split of the ``Examples`` artifact as a stream of model-input batches, in bounded memory.

The split's Parquet file is read a window of rows at a time (ingest writes row groups of
:data:`~airflow_mlops.runtime.ml.examples.ROW_GROUP_ROWS` rows), each window turned into model
inputs exactly as :func:`~airflow_mlops.runtime.ml.features.training_arrays` turns a whole
split, so memory holds a few windows whatever the split's size. Shuffled, the windows come in a
random order and their rows in a random order; a batch may join the end of one window to the
start of the next, so every batch but the last has ``batch_size`` rows and an epoch sees every
row once.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.runtime.ml.examples import ROW_GROUP_ROWS

#: rows turned into model inputs at a time (at most: a row group is not read across)
WINDOW_ROWS = ROW_GROUP_ROWS

Inputs = dict[str, Any]


class SplitStream:
    """One split (``uri``: its ``.parquet``) as model inputs and labels for ``transform``."""

    def __init__(self, uri: str, transform: Mapping[str, Any], label: str, window_rows: int = WINDOW_ROWS):
        self.uri = uri
        self.transform = transform
        self.label = label
        self.window_rows = window_rows
        self.columns = [*transform["features"], label]
        self._counts: tuple[int, int] | None = None
        self._arrays: tuple[Inputs, Any] | None = None

    def counts(self) -> tuple[int, int]:
        """Rows with a usable label, and rows dropped for a missing or unknown one (reading the
        label column only)."""
        if self._counts is None:
            from airflow_mlops.runtime.ml.features import usable_labels

            usable = dropped = 0
            for table in self._tables([self.label]):
                _, known = usable_labels(table.to_pandas(), self.transform, self.label)
                usable += int(known.sum())
                dropped += int((~known).sum())
            self._counts = (usable, dropped)
        return self._counts

    @property
    def rows(self) -> int:
        return self.counts()[0]

    def _tables(self, columns: list[str], rng=None) -> Iterator[Any]:
        """The file's row groups (in a random order with ``rng``), as Arrow tables of ``columns``."""
        import pyarrow.parquet as pq

        with ArtifactStore().open(self.uri) as f:
            parquet = pq.ParquetFile(f)
            groups = list(range(parquet.num_row_groups))
            if rng is not None:
                rng.shuffle(groups)
            for group in groups:
                yield parquet.read_row_group(group, columns=columns)

    def windows(self, rng=None) -> Iterator[tuple[Inputs, Any]]:
        """``(inputs, labels)`` a window at a time: in file order, or shuffled with ``rng``
        (a ``numpy.random.Generator``)."""
        from airflow_mlops.runtime.ml.features import training_arrays

        for table in self._tables(self.columns, rng):
            starts = list(range(0, table.num_rows, self.window_rows))
            if rng is not None:
                rng.shuffle(starts)
            for start in starts:
                frame = table.slice(start, self.window_rows).to_pandas()
                if rng is not None:
                    frame = frame.iloc[rng.permutation(len(frame))]
                x, y, _ = training_arrays(frame, self.transform, self.label)
                if len(y):
                    yield x, y

    def batches(self, batch_size: int, rng=None) -> Iterator[tuple[Inputs, Any]]:
        """``(inputs, labels)`` batches of ``batch_size`` rows (the last one: what is left)."""
        pending: list[tuple[Inputs, Any]] = []
        held = 0
        for x, y in self.windows(rng):
            pending.append((x, y))
            held += len(y)
            if held < batch_size:
                continue
            x, y = _concat(pending)
            cut = held - held % batch_size
            for start in range(0, cut, batch_size):
                yield {k: v[start:start + batch_size] for k, v in x.items()}, y[start:start + batch_size]
            pending = [({k: v[cut:] for k, v in x.items()}, y[cut:])] if cut < held else []
            held -= cut
        if held:
            yield _concat(pending)

    def arrays(self) -> tuple[Inputs, Any]:
        """The whole split in memory, in file order (read once, then kept)."""
        import numpy as np

        if self._arrays is None:
            parts = list(self.windows())
            if parts:
                self._arrays = _concat(parts)
            else:
                features = self.transform["features"]
                self._arrays = (
                    {name: np.empty((0, 1), dtype="float32" if spec["type"] == "numeric" else object) for name, spec in features.items()},
                    np.empty((0,), dtype="int64" if "classes" in self.transform["label"] else "float32"),
                )
        return self._arrays

    def head(self, rows: int) -> Inputs:
        """The inputs of the first ``rows`` usable rows."""
        for x, _ in self.batches(rows):
            return x
        return self.arrays()[0]


def _concat(parts: list[tuple[Inputs, Any]]) -> tuple[Inputs, Any]:
    import numpy as np

    if len(parts) == 1:
        return parts[0]
    return {k: np.concatenate([x[k] for x, _ in parts]) for k in parts[0][0]}, np.concatenate([y for _, y in parts])
