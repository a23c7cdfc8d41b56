"""Provider metadata read by Airflow's ProvidersManager (entry point ``apache_airflow_provider``)."""

from __future__ import annotations

from typing import Any

#: The supported Airflow range, as pyproject.toml's ``airflow`` extra declares it: 3.1.8 is the oldest
#: Airflow 3 that Cloud Composer 3 offers (tested with requirements/airflow-min.lock.txt), 3.3 the
#: newest (requirements/airflow.lock.txt). What differs between them: airflow_mlops/provider/compat.py.
AIRFLOW_REQUIREMENT = "apache-airflow>=3.1.8,<3.4"


def get_provider_info() -> dict[str, Any]:
    from airflow_mlops import __version__

    return {
        "package-name": "airflow-mlops",
        "name": "MLOps",
        "description": "Continuous training, validation, serving and monitoring of ML models "
        "(MLOps level 1-2) on Airflow 3 and Cloud Composer. Supports Airflow 3.1.8 up to 3.3 "
        f"({AIRFLOW_REQUIREMENT}); on Airflow 3.1 the MLflow connection form comes from the hook.",
        "versions": [__version__],
        # As in Airflow's provider.yaml (the runtime schema has no such key and allows extra ones).
        "dependencies": [AIRFLOW_REQUIREMENT],
        "integrations": [
            {
                "integration-name": "MLOps",
                "external-doc-url": "https://github.com/airflow-mlops/airflow-mlops#readme",
                "tags": ["software"],
            }
        ],
        "operators": [
            {
                "integration-name": "MLOps",
                "python-modules": [
                    "airflow_mlops.provider.operators.component",
                    "airflow_mlops.provider.operators.ingest",
                    "airflow_mlops.provider.operators.validation",
                    "airflow_mlops.provider.operators.transform",
                    "airflow_mlops.provider.operators.training",
                    "airflow_mlops.provider.operators.evaluation",
                    "airflow_mlops.provider.operators.register",
                    "airflow_mlops.provider.operators.deployment",
                    "airflow_mlops.provider.operators.monitoring",
                    "airflow_mlops.provider.operators.batch_prediction",
                ],
            }
        ],
        "sensors": [{"integration-name": "MLOps", "python-modules": ["airflow_mlops.provider.sensors.new_data"]}],
        "triggers": [{"integration-name": "MLOps", "python-modules": ["airflow_mlops.provider.triggers.new_data", "airflow_mlops.provider.triggers.remote_job"]}],
        "hooks": [
            {
                "integration-name": "MLOps",
                "python-modules": ["airflow_mlops.provider.hooks.mlflow", "airflow_mlops.provider.hooks.storage"],
            }
        ],
        # Form fields are declared here (Airflow >= 3.2), not by the hook's deprecated
        # get_connection_form_widgets/get_ui_field_behaviour; values are stored in the extra.
        "connection-types": [
            {
                "hook-class-name": "airflow_mlops.provider.hooks.mlflow.MlflowHook",
                "hook-name": "MLflow",
                "connection-type": "mlflow",
                "conn-fields": {
                    "tracking_uri": {
                        "label": "Tracking URI",
                        "schema": {"type": ["string", "null"]},
                        "description": "Any MLflow tracking URI (e.g. databricks, sqlite:///..., https://...); "
                        "wins over host and port.",
                    },
                    "token": {
                        "label": "Bearer token",
                        "schema": {"type": ["string", "null"], "format": "password"},
                        "description": "Sent as MLFLOW_TRACKING_TOKEN.",
                    },
                    "insecure_tls": {
                        "label": "Skip TLS verification",
                        "schema": {"type": ["boolean", "null"], "default": False},
                    },
                },
                "ui-field-behaviour": {
                    "hidden-fields": [],
                    "relabeling": {"schema": "Scheme", "login": "Username"},
                    "placeholders": {
                        "host": "mlflow.example.com (or a whole URL)",
                        "schema": "http or https (default http)",
                        "port": "5000",
                        "login": "MLFLOW_TRACKING_USERNAME (basic auth)",
                        "password": "MLFLOW_TRACKING_PASSWORD (basic auth)",
                    },
                },
            }
        ],
        # The step operators' links (airflow_mlops/provider/links.py: STEP_LINKS, LINK_CLASSES).
        "extra-links": [
            "airflow_mlops.provider.links.ReportLink",
            "airflow_mlops.provider.links.ModelVersionLink",
            "airflow_mlops.provider.links.MlflowRunLink",
            "airflow_mlops.provider.links.VertexJobLink",
            "airflow_mlops.provider.links.GkePodLink",
            "airflow_mlops.provider.links.DataflowJobLink",
        ],
        # The MLOps view (a FastAPI app under /mlops and its UI entries); see airflow_mlops/provider/plugin.
        "plugins": [{"name": "mlops_view", "plugin-class": "airflow_mlops.provider.plugin.plugin.MlopsViewPlugin"}],
        "config": {
            "mlops": {
                "description": "Where the ML runtime plane lives and where artifacts go.",
                "options": {
                    "runtime_python": {
                        "description": "Interpreter of the runtime environment used by the local "
                        "launcher. Default: ``<project>/.venv-runtime/bin/python``. The environment "
                        "variable ``MLOPS_RUNTIME_PYTHON`` overrides it.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "/opt/mlops/.venv-runtime/bin/python",
                        "default": None,
                    },
                    "artifact_root": {
                        "description": "fsspec URI under which every pipeline writes its artifacts "
                        "(``file://`` or ``gs://``). Overrides ``artifact_root`` of the pipeline "
                        "YAML. The environment variable ``MLOPS_ARTIFACT_ROOT`` overrides it.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "gs://my-bucket/mlops",
                        "default": None,
                    },
                    "tracking_uri": {
                        "description": "MLflow tracking and registry URI. Overrides ``registry.tracking_uri`` "
                        "of the pipeline YAML; default ``sqlite:///<project>/.mlops/mlflow.db``. The "
                        "environment variable ``MLOPS_TRACKING_URI`` overrides it.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "https://mlflow.example.com",
                        "default": None,
                    },
                    "runtime_image": {
                        "description": "The runtime image of steps run by the ``kubernetes`` and ``vertex`` "
                        "launchers (a SHA-tagged Artifact Registry image). Overrides ``runtime.image`` of the "
                        "pipeline YAML. The environment variable ``MLOPS_RUNTIME_IMAGE`` overrides it.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "europe-docker.pkg.dev/my-project/mlops/runtime:3f2a1c9",
                        "default": None,
                    },
                    "alert_webhook": {
                        "description": "URL that monitoring alerts (drift, degradation) are posted to as JSON "
                        "(``{\"text\": ..., \"verdict\": ...}``, e.g. a Slack incoming webhook). The "
                        "environment variable ``MLOPS_ALERT_WEBHOOK`` overrides it.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "https://hooks.slack.com/services/...",
                        "default": None,
                    },
                },
            }
        },
    }
