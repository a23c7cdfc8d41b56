"""The runtime plane: ML components, ML helpers and the prediction service.

It runs in its own environment (``.venv-runtime`` locally, the runtime image on GKE / Vertex AI),
started by a launcher as ``python -m airflow_mlops.runtime.components <name> --spec <uri>``. It
imports :mod:`airflow_mlops.contract`, :mod:`airflow_mlops.artifacts` and the ML libraries - never
Airflow and never :mod:`airflow_mlops.provider`. It is shipped as its own distribution,
``airflow-mlops-runtime`` (see the README's layout section).
"""
