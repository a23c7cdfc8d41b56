"""The MLOps view in the Airflow UI: an Airflow plugin (registered through the provider info's
``plugins``) whose FastAPI app the API server mounts under ``/mlops``, with a top-level "MLOps"
entry and an "MLOps" tab on every DAG's pages. See :mod:`.plugin` and :mod:`.app`."""
