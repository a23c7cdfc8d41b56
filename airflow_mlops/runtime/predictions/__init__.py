"""The prediction log: what the prediction service answered, read back by monitoring, canary
analysis and ingest.

- :mod:`.partitions`: the log's layout (``<root>/date=YYYY-MM-DD/hour=HH/part-*.jsonl``) and time
  format, and which files can hold a window;
- :mod:`.writer`: :class:`~.writer.PredictionLogger`, which the service appends with;
- :mod:`.reader`: the one reader of the log - :func:`~.reader.read_prediction_frame`, columnar
  (pyarrow), for every caller that can name the columns it needs, and
  :func:`~.reader.read_predictions`, whole records as dicts, for the few that cannot;
- :mod:`.feedback`: the labels that arrive later, and joining them to predictions.

A record, one JSON line:

- ``timestamp`` (ISO UTC, ``2026-01-01T10:00:00.000+00:00``), ``request_id``, ``features`` (the
  raw row, as sent), ``prediction``, ``model_version``, ``model_role``, ``latency_ms``,
  ``batch_rows``; and per task (the pipeline's ``task``, :mod:`airflow_mlops.contract.tasks`):

  - ``classification`` / ``binary_classification``: ``prediction`` is the most probable class, a
    string, and ``probabilities`` is ``{class: p}`` over every class (binary: the negative and
    the positive class);
  - ``regression``: ``prediction`` is the predicted value, a JSON number, and there is no
    ``probabilities``. The readers give it back as a number (float64 in a prediction frame).

- ``model_role`` is ``champion`` or ``challenger`` for served rows, ``batch`` for the rows of a
  batch prediction (``predict_batch``: no ``latency_ms`` nor ``batch_rows``; monitoring reads
  them, the canary analysis does not);
- or, when the model failed and nothing was predicted: ``timestamp``, ``request_id``,
  ``model_version``, ``model_role`` and ``error``.

A non-finite number (a model's NaN output) is logged as ``null``.
"""

#: the ``model_role`` of batch predictions: the champion answered, but no request was served
BATCH_ROLE = "batch"
