"""Command-line tools of the runtime plane (``python -m airflow_mlops.runtime.tools.<tool>``)."""
