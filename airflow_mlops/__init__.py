"""airflow-mlops: continuous training, validation, serving and monitoring of ML models on Airflow 3.

The package has two planes (see ``ARCHITECTURE.md``): the control plane (operators, launchers,
DAG factory) imported by Airflow, and the runtime plane (``airflow_mlops.components``) run in its
own environment. ``airflow_mlops.contract`` joins them and imports only the standard library.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("airflow-mlops")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"
