"""The prediction log: what the prediction service answered, read back by monitoring, canary
analysis and ingest.

- :mod:`.partitions`: the log's layout (``<root>/date=YYYY-MM-DD/hour=HH/part-*.jsonl``) and time
  format, and which files can hold a window;
- :mod:`.writer`: :class:`~.writer.PredictionLogger`, which the service appends with;
- :mod:`.reader`: the one reader of the log - :func:`~.reader.read_prediction_frame`, columnar
  (pyarrow), for every caller that can name the columns it needs, and
  :func:`~.reader.read_predictions`, whole records as dicts, for the few that cannot;
- :mod:`.feedback`: the labels that arrive later, and joining them to predictions.

A record: ``timestamp`` (ISO UTC, ``2026-01-01T10:00:00.000+00:00``), ``request_id``,
``features`` (the raw row), ``prediction``, ``probabilities``, ``model_version``, ``model_role``,
``latency_ms``, ``batch_rows``; or, when the model failed and nothing was predicted,
``timestamp``, ``request_id``, ``model_version``, ``model_role`` and ``error``.
"""
