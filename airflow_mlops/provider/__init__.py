"""The control plane: what Airflow's scheduler, DAG processor, workers and triggerer import.

Operators, sensors, triggers, hooks, launchers, extra links and the DAG factory. It imports
Airflow, its providers, the standard library, :mod:`airflow_mlops.contract` and
:mod:`airflow_mlops.artifacts` - never :mod:`airflow_mlops.runtime` and never an ML library at
module level (``tests/test_layout.py`` and ruff enforce both).
"""
