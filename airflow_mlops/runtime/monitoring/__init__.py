"""Monitoring a served model: a window of the prediction log against the champion's training data.

- :mod:`.drift`: Evidently's data drift per feature (:func:`~.drift.drift_report`);
- :mod:`.performance`: accuracy on the predictions whose labels have arrived, and a model
  version's online figures for canary analysis;
- :mod:`.verdict`: the figures turned into ``ok``, ``alert`` or ``no_traffic``;
- :mod:`.report`: the HTML report;
- :mod:`.assessment`: all of it for one window (:func:`~.assessment.assess`), as the ``monitor``
  component does.

The window itself is read by :func:`airflow_mlops.runtime.predictions.reader.read_prediction_frame`.
"""
