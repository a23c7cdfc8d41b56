"""The step operators' extra links and OpenLineage datasets (airflow_mlops/provider/links.py, lineage.py).

What a real DAG run publishes and the URLs Airflow stores for it, and the events of the OpenLineage
listener, are asserted on ``airflow dags test penguin_training`` in tests/dags/test_dags.py; here: the
URL and dataset rules for what that run does not cover (http(s) MLflow, remote jobs, GCS, BigQuery, a
base URL), get_link through XCom, and the links surviving DAG serialization.
"""

from __future__ import annotations

import json
import subprocess
import sys
from types import SimpleNamespace

import pytest

from airflow_mlops.contract import ArtifactRef, RemoteJob
from airflow_mlops.provider import links
from airflow_mlops.provider.lineage import dataset_id, mlflow_namespace, step_datasets
from airflow_mlops.provider.operators import (
    ComponentOperator,
    DeployModelOperator,
    EvaluateModelOperator,
    IngestDataOperator,
    RegisterModelOperator,
    TrainModelOperator,
    ValidateDataOperator,
)

ROOT = "gs://bucket/mlops"


def ref(output: str, type_: str, uri: str, **properties) -> ArtifactRef:
    return ArtifactRef(output, type_, uri, "c", "fp", f"{uri}/execution.json", properties)


MODEL = ref("model", "Model", f"{ROOT}/penguin/train/fp/model", mlflow_run_id="abc123")
VERSION = ref("model_version", "ModelVersion", "models:/penguin/7", name="penguin", version="7")
VERTEX = RemoteJob("vertex_custom_job", "projects/p1/locations/europe-west4/customJobs/42",
                   "https://console.cloud.google.com/vertex-ai/locations/europe-west4/training/42/cpu?project=p1")
DATAFLOW = RemoteJob("dataflow_job", "2026-01-01_00_00-1", "https://console.cloud.google.com/dataflow/jobs/europe-west4/2026-01-01_00_00-1?project=p1")
POD = RemoteJob("kubernetes_pod", "mlops/mlops-train-0123456789",
                details={"gke_project": "p1", "gke_location": "europe-west4", "gke_cluster": "gpu-cluster"})


@pytest.fixture
def xcom(monkeypatch):
    """The task SDK's XCom with a dict behind it: ``{(task_id, key): value}``."""
    from airflow.sdk.execution_time.xcom import XCom

    values: dict = {}
    monkeypatch.setattr(XCom, "get_value", classmethod(lambda cls, *, ti_key, key: values.get((ti_key.task_id, key))))
    return values


def ti_key(task_id: str = "train"):
    return SimpleNamespace(dag_id="penguin_training", task_id=task_id, run_id="manual__1", map_index=-1)


def get_links(task_id: str = "train") -> dict[str, str]:
    return {link.name: link.get_link(None, ti_key=ti_key(task_id)) for link in links.STEP_LINKS}


def test_an_http_mlflow_gets_run_and_version_pages_without_credentials(xcom):
    xcom[("register", links.LINKS_XCOM_KEY)] = links.link_data(
        pipeline="penguin", artifact_root=ROOT, tracking_uri="https://user:secret@mlflow.example.com:8443/ml/?x=1",
        inputs={"model": MODEL}, outputs={"model_version": VERSION})
    got = get_links("register")
    assert got["MLflow run"] == "https://mlflow.example.com:8443/ml/#/runs/abc123"
    assert got["Model version"] == "https://mlflow.example.com:8443/ml/#/models/penguin/versions/7"
    assert "secret" not in json.dumps(list(xcom.values())) and got["Report"] == got["Vertex AI job"] == ""


def test_a_registry_without_a_ui_links_the_version_to_the_mlops_view(xcom, monkeypatch):
    xcom[("deploy", links.LINKS_XCOM_KEY)] = links.link_data(
        pipeline="penguin", artifact_root=ROOT, tracking_uri="sqlite:////tmp/mlflow.db",
        inputs={"model_version": VERSION}, outputs={})
    monkeypatch.delenv("AIRFLOW__API__BASE_URL", raising=False)
    assert get_links("deploy")["Model version"] == "/mlops/pipelines/penguin#v7"
    assert get_links("deploy")["MLflow run"] == ""
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.example.com/team/")
    assert get_links("deploy")["Model version"] == "https://airflow.example.com/team/mlops/pipelines/penguin#v7"


def test_the_report_link_is_relative_to_the_pipeline_and_validations_is_the_anomalies_report(xcom, monkeypatch):
    monkeypatch.delenv("AIRFLOW__API__BASE_URL", raising=False)
    outputs = {
        "statistics": ref("statistics", "ExampleStatistics", f"{ROOT}/penguin/validate/fp/statistics",
                          report=f"{ROOT}/penguin/validate/fp/statistics/statistics.html"),
        "anomalies": ref("anomalies", "ExampleAnomalies", f"{ROOT}/penguin/validate/fp/anomalies",
                         report=f"{ROOT}/penguin/validate/fp/anomalies/report.html"),
    }
    report = links.report_uri("validate", outputs)
    assert report == f"{ROOT}/penguin/validate/fp/anomalies/report.html"
    xcom[("validate", links.LINKS_XCOM_KEY)] = links.link_data(
        pipeline="penguin", artifact_root=ROOT, tracking_uri=None, inputs={}, outputs=outputs, report=report)
    assert get_links("validate")["Report"] == "/mlops/reports/penguin/validate/fp/anomalies/report.html"
    # a step that writes no report, and a report outside the root (another root): no link
    assert links.report_uri("train", {"model": MODEL}) is None
    elsewhere = links.link_data(pipeline="penguin", artifact_root="gs://other/root", tracking_uri=None, inputs={},
                                outputs=outputs, report=report)
    assert elsewhere["report"] is None


def test_remote_jobs_link_to_their_consoles(xcom):
    xcom[("train", links.LINKS_XCOM_KEY)] = links.link_data(
        pipeline="penguin", artifact_root=ROOT, tracking_uri=None, inputs={}, outputs={},
        remote_jobs=[VERTEX, POD, DATAFLOW])
    got = get_links("train")
    assert got["Vertex AI job"] == VERTEX.console_url
    assert got["Dataflow job"] == DATAFLOW.console_url
    assert got["GKE workload"] == ("https://console.cloud.google.com/kubernetes/pod/europe-west4/gpu-cluster/mlops/"
                                   "mlops-train-0123456789/details?project=p1")


def test_a_pod_on_an_unknown_cluster_and_nothing_published_give_no_link(xcom):
    xcom[("ingest", links.LINKS_XCOM_KEY)] = links.link_data(
        pipeline="penguin", artifact_root=ROOT, tracking_uri=None, inputs={}, outputs={},
        remote_jobs=[RemoteJob("kubernetes_pod", "composer-user-workloads/mlops-ingest-1")])
    assert set(get_links("ingest").values()) == {""}
    assert set(get_links("evaluate").values()) == {""}  # nothing in XCom


def test_gcloud_kubeconfig_contexts_name_the_gke_cluster():
    assert links.gke_cluster("gke_my-project_europe-west4-a_gpu_cluster") == {
        "project": "my-project", "location": "europe-west4-a", "cluster": "gpu_cluster"}
    assert links.gke_cluster("minikube") is None and links.gke_cluster(None) is None


@pytest.mark.parametrize("operator", [IngestDataOperator, ValidateDataOperator, TrainModelOperator,
                                      EvaluateModelOperator, RegisterModelOperator, DeployModelOperator])
def test_every_step_has_the_links_and_they_survive_serialization(operator):
    from airflow.sdk import DAG

    try:  # Airflow >= 3.2
        from airflow.serialization.serialized_objects import DagSerialization as Serialization
    except ImportError:
        from airflow.serialization.serialized_objects import SerializedDAG as Serialization

    with DAG("links_dag", schedule=None) as dag:
        operator(task_id="step", pipeline="penguin", artifact_root=ROOT)
    assert issubclass(operator, ComponentOperator)
    restored = Serialization.from_dict(Serialization.to_dict(dag)).get_task("step")
    expected = {link.name: link.xcom_key for link in links.STEP_LINKS}
    assert len(expected) == 6
    # what the API server has: XComOperatorLinks reading the URL the task runner stored under each key
    assert {link.name: link.xcom_key for link in restored.operator_extra_links} == expected


# -- lineage ------------------------------------------------------------------------------------


def test_dataset_names_follow_openlineage_conventions():
    assert dataset_id("file:///data/penguins.csv") == ("file", "/data/penguins.csv")
    assert dataset_id("/data/penguins.csv") == ("file", "/data/penguins.csv")
    assert dataset_id("gs://bucket/raw/day=1/a.csv") == ("gs://bucket", "raw/day=1/a.csv")
    assert dataset_id("gcs://bucket/raw") == ("gs://bucket", "raw")
    assert dataset_id("bigquery://my-project.sales.orders") == ("bigquery", "my-project.sales.orders")
    assert dataset_id("bq://my-project/sales/orders") == ("bigquery", "my-project.sales.orders")
    assert dataset_id("package://palmerpenguins/data/penguins.csv") is None
    assert dataset_id("models:/penguin/7", "https://u:p@mlflow.example.com") == ("mlflow://mlflow.example.com", "models:/penguin/7")
    assert mlflow_namespace("sqlite:////tmp/mlflow.db") == "mlflow"


def names(datasets) -> list[tuple[str, str]]:
    return [(d.namespace, d.name) for d in datasets]


def test_ingest_reads_the_files_and_a_failed_ingest_its_sources():
    examples = ref("examples", "Examples", f"{ROOT}/penguin/ingest/fp/examples",
                   files=["gs://landing/penguin/a.csv", "gs://landing/penguin/b.csv"], columns={"bill_length_mm": "float64"})
    ins, outs = step_datasets(component="ingest", pipeline="penguin", artifact_root=ROOT, tracking_uri=None,
                              inputs={}, outputs={"examples": examples})
    assert names(ins) == [("gs://landing", "penguin/a.csv"), ("gs://landing", "penguin/b.csv")]
    assert names(outs) == [("gs://bucket", "mlops/penguin/ingest/fp/examples")]
    assert [(f.name, f.type) for f in outs[0].facets["schema"].fields] == [("bill_length_mm", "float64")]
    ins, outs = step_datasets(component="ingest", pipeline="penguin", artifact_root=ROOT, tracking_uri=None, inputs={},
                              outputs={}, params={"source": ["package://palmerpenguins/data/penguins.csv", "bq://p.d.t"]})
    assert (names(ins), outs) == ([("bigquery", "p.d.t")], [])


def test_deploy_writes_the_deployment_record():
    deployment = ref("deployment", "Deployment", f"{ROOT}/penguin/deploy/fp/deployment")
    ins, outs = step_datasets(component="deploy", pipeline="penguin", artifact_root=ROOT, tracking_uri=None,
                              inputs={"model_version": VERSION}, outputs={"deployment": deployment})
    assert names(ins) == [("mlflow", "models:/penguin/7")]
    assert names(outs) == [("gs://bucket", "mlops/penguin/deploy/fp/deployment"),
                           ("gs://bucket", "mlops/penguin/deployment/record.json")]


def test_the_operators_import_neither_openlineage_nor_ml_libraries():
    # Airflow itself imports airflow.providers.openlineage's provider info: what our modules add counts
    probe = ("import sys, json, airflow\nbefore = set(sys.modules)\n"
             "import airflow_mlops.provider.operators, airflow_mlops.provider.links\n"
             "print(json.dumps(sorted(m for m in set(sys.modules) - before if m.split('.')[0] in ('openlineage', 'mlflow', "
             "'tensorflow') or m.startswith('airflow.providers.openlineage'))))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
