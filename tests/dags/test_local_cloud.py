"""The unchanged penguin_training DAG, run with `airflow dags test` on the local cloud: a gs://
artifact root in the GCS emulator, every step a Kubernetes pod and train a Vertex AI job with a
T4 (local_cloud/stack.py), an MLflow server for the registry.

Nothing of the run is on this machine's disk but Airflow's own database and logs: each step
reads and writes the bucket, each container starts in an empty directory, and each remote step
is deferred while its pod or job runs.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from conftest import AIRFLOW_BIN, REPO, RUNTIME_PYTHON, registry_champion

from airflow_mlops.contract.config import load_pipeline_config
from airflow_mlops.provider.factory.launch import launcher_options
from airflow_mlops.provider.launchers import KubernetesLauncher, LaunchRequest

STEPS = ("ingest", "validate", "transform", "train", "evaluate", "register", "infra_validate", "deploy")


def _files(root: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime for p in root.rglob("*") if p.is_file()} if root.exists() else {}


@pytest.fixture(scope="module")
def cloud_run(airflow_env, tmp_path_factory):
    from local_cloud.stack import cloud_pipeline, local_cloud

    work = tmp_path_factory.mktemp("local-cloud")
    local_roots = [Path(airflow_env["MLOPS_ARTIFACT_ROOT"].removeprefix("file://")), REPO / ".mlops" / "artifacts"]
    before = [_files(root) for root in local_roots]
    with local_cloud(work, str(RUNTIME_PYTHON)) as cloud:
        include = work / "include"
        variant = cloud_pipeline(cloud, REPO / "include" / "penguin" / "pipeline.yaml", include)
        env = {**airflow_env, **cloud.env(), "MLOPS_INCLUDE_DIR": str(include)}
        for machine_override in ("MLOPS_ARTIFACT_ROOT", "MLOPS_TRACKING_URI"):
            env.pop(machine_override)
        result = subprocess.run([str(AIRFLOW_BIN), "dags", "test", "penguin_training", "2026-03-02"], env=env,
                                capture_output=True, text=True, timeout=1500, cwd=REPO)
        from airflow_mlops.artifacts import ArtifactStore

        store = ArtifactStore()
        records = {}
        for path in store.list_files(f"{cloud.artifact_root}/penguin/_invocations/penguin_training"):
            if path.endswith("/try-1/result.json"):
                records[path.split("/")[-3]] = store.read_json(path)
        yield {
            "cloud": cloud, "variant": variant, "output": result.stdout + result.stderr, "code": result.returncode,
            "records": records, "champion": registry_champion(cloud.mlflow_url),
            "local_roots": local_roots, "before": before,
            "deployment": store.read_json(f"{cloud.artifact_root}/penguin/deployment/record.json"),
        }


def test_the_run_succeeds_and_ends_with_a_deployed_champion(cloud_run):
    assert cloud_run["code"] == 0 and "state=success" in cloud_run["output"], cloud_run["output"][-5000:]
    assert cloud_run["champion"] == "1"
    assert cloud_run["deployment"]["champion"] == "1"
    assert sorted(cloud_run["records"]) == sorted(STEPS)


def test_every_step_ran_remotely_and_says_where(cloud_run):
    records = cloud_run["records"]
    for step in STEPS:
        [job] = records[step]["remote_jobs"]
        assert job["kind"] == ("vertex_custom_job" if step == "train" else "kubernetes_pod"), step
    train = records["train"]["remote_jobs"][0]
    assert train["details"] == {"region": "europe-west4", "machine_type": "n1-standard-8", "image": train["details"]["image"],
                                "spot": False, "accelerator_type": "NVIDIA_TESLA_T4", "accelerator_count": 1}
    assert train["console_url"].startswith("https://console.cloud.google.com/vertex-ai/locations/europe-west4/training/")


def test_the_requests_are_exactly_what_the_launchers_build(cloud_run):
    cloud = cloud_run["cloud"]
    pods = cloud.kubernetes.created_pods()
    assert [p["spec"]["containers"][0]["args"][0] for p in pods] == [s for s in STEPS if s != "train"]
    config = load_pipeline_config(cloud_run["variant"])
    validate = next(p for p in pods if p["spec"]["containers"][0]["args"][0] == "validate")
    launcher = KubernetesLauncher(**launcher_options(config, config.runtime.for_step("validate")))
    from kubernetes.client import ApiClient

    spec_uri = validate["spec"]["containers"][0]["args"][2]
    env = {e["name"]: e["value"] for e in validate["spec"]["containers"][0]["env"]
           if e["name"] not in ("MLOPS_RUNTIME_IMAGE", "PYTHONUNBUFFERED")}
    labels = {k: v for k, v in validate["metadata"]["labels"].items() if k.startswith("airflow-")}
    expected = ApiClient().sanitize_for_serialization(launcher.pod(LaunchRequest("validate", spec_uri, env=env), labels))
    expected["metadata"]["labels"] = validate["metadata"]["labels"]
    assert validate == expected
    assert spec_uri.startswith(f"{cloud.artifact_root}/penguin/_invocations/penguin_training/")
    [job] = cloud.vertex.created_jobs()
    pool = job["jobSpec"]["workerPoolSpecs"][0]
    # the REST client sends enums as numbers ($alt=json;enum-encoding=int)
    from google.cloud.aiplatform_v1 import AcceleratorType

    assert pool["machineSpec"] == {"machineType": "n1-standard-8", "acceleratorType": AcceleratorType.NVIDIA_TESLA_T4.value,
                                   "acceleratorCount": 1}
    assert pool["containerSpec"]["command"] == ["python", "-m", "airflow_mlops.runtime.components"]
    assert pool["containerSpec"]["args"][:2] == ["train", "--spec"]


def test_nothing_was_read_or_written_on_this_machine(cloud_run):
    for root, before in zip(cloud_run["local_roots"], cloud_run["before"]):
        assert _files(root) == before, f"{root} changed"
    cloud = cloud_run["cloud"]
    for container in cloud.runner.containers:
        leftovers = list(Path(container.cwd).rglob("*"))
        assert leftovers == [], f"{container.name} wrote {leftovers[:5]} into its working directory"
    for step, record in cloud_run["records"].items():
        uris = [ref["uri"] for ref in record["outputs"].values()] + [ref["uri"] for ref in record["inputs"].values()]
        assert all(u.startswith(("gs://", "models:/")) for u in uris), (step, uris)  # the bucket or the registry


def test_each_remote_step_was_deferred_while_its_job_ran(cloud_run):
    """The task gave its worker slot back (state deferred) and the trigger watched the job run."""
    output = cloud_run["output"]
    deferred = set(re.findall(r"Pausing task as DEFERRED\..*? task_id=(\w+)", output))
    assert deferred == set(STEPS)
    assert output.count("new_state=deferred") == len(STEPS)
    assert output.count("[DAG TEST] Trigger completed") == len(STEPS)
    assert "vertex_custom_job projects/local-project/locations/europe-west4/customJobs/" in output
    assert ": running" in output

