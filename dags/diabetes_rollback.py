"""Roll the diabetes progression model back to the previous champion (triggered by hand)."""

from __future__ import annotations

from airflow_mlops.provider.factory import pipeline_config_path, rollback_dag

dag = rollback_dag(pipeline_config_path(__file__, "diabetes"))
