"""The runtime plane: ML components run as ``python -m airflow_mlops.runtime.components <name> --spec <uri>``.

Heavy libraries (pandas, pyarrow, tensorflow, ...) are imported by each component's own module,
only when that component runs.
"""
