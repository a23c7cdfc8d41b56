"""Serving: the BentoML prediction service and the deployment record. The service logs every
prediction with :mod:`airflow_mlops.runtime.predictions.writer`.

The service (``service.py``) and everything that loads models run in the runtime environment;
``config`` and ``record`` are stdlib-only so the control plane can use them.
"""
