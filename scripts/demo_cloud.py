"""`make demo-cloud`: the unchanged penguin_training DAG on the local cloud (local_cloud/stack.py).

The pipeline YAML variant differs from include/penguin/pipeline.yaml in where things are (a gs://
artifact root, landing prefix and curated schema in the GCS emulator's bucket, an MLflow
server) and in `runtime:` (every step a Kubernetes pod, train a Vertex AI custom job with one
T4; Beam runs inside the validate pod). It prints every request sent to Kubernetes and Vertex
AI and ends, like `make demo`, with a registered, deployed champion.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from dag_runs import STEPS, dag_test, prepare_airflow

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from local_cloud.stack import cloud_pipeline, local_cloud  # noqa: E402

CONFIG = REPO / "include" / "penguin" / "pipeline.yaml"
DAG_ID = "penguin_training"
RUNTIME_PYTHON = os.environ.get("AIRFLOW__MLOPS__RUNTIME_PYTHON", str(REPO / ".venv-runtime" / "bin" / "python"))
LIVE = re.compile(r"started as |ended: |failed \(|cache (hit|miss)|registered|DagRun Finished|champion: version")


def show(message: str) -> None:
    print(f"\n== {message}", flush=True)


def champion(tracking_uri: str) -> str:
    probe = ("from mlflow import MlflowClient\n"
             f"print(MlflowClient({tracking_uri!r}).get_model_version_by_alias('penguin', 'champion').version)")
    out = subprocess.run([RUNTIME_PYTHON, "-c", probe], capture_output=True, text=True, timeout=300)
    return out.stdout.strip().splitlines()[-1] if out.returncode == 0 else f"none ({out.stderr.strip()[-200:]})"


def main() -> int:
    import logging

    logging.getLogger("fsspec").setLevel(logging.WARNING)  # one line per object read otherwise
    from airflow_mlops.artifacts import ArtifactStore
    from airflow_mlops.contract import join_uri
    from airflow_mlops.provider.operators.component import safe_segment

    work = REPO / ".mlops" / "demo-cloud"
    shutil.rmtree(work, ignore_errors=True)
    started = time.monotonic()
    with local_cloud(work, RUNTIME_PYTHON) as cloud:
        include = work / "include"
        variant = cloud_pipeline(cloud, CONFIG, include)
        show("the local cloud on 127.0.0.1")
        for what, where in (("GCS emulator", cloud.gcs_url), ("Kubernetes API", cloud.kubernetes.url),
                            ("Vertex AI API", cloud.vertex.url), ("MLflow server", cloud.mlflow_url),
                            ("token endpoint", cloud.tokens.url), ("pipeline YAML", variant)):
            print(f"   {what:<16} {where}")
        env = {**os.environ, **cloud.env(), "AIRFLOW_HOME": str(work / "airflow"), "MLOPS_INCLUDE_DIR": str(include)}
        for machine_override in ("MLOPS_ARTIFACT_ROOT", "MLOPS_TRACKING_URI", "MLOPS_RUNTIME_IMAGE"):
            env.pop(machine_override, None)
        show(f"Airflow home {env['AIRFLOW_HOME']} (SQLite): migrate, create the `gpu` pool")
        if not prepare_airflow(env):
            return 1
        logical_date = datetime.now(UTC).replace(microsecond=0).isoformat()
        log = work / "penguin_training.log"
        show(f"airflow dags test {DAG_ID} {logical_date}   (full log: {log.relative_to(REPO)})")
        run_id, state, seconds = dag_test(DAG_ID, logical_date, log, live=LIVE, env=env)
        print(f"   finished in {seconds:.0f} s: {state}")

        show("requests sent (exact bodies: .mlops/demo-cloud/requests.json)")
        sent = cloud.requests_sent()
        (work / "requests.json").write_text(json.dumps({"kubernetes": cloud.kubernetes.requests,
                                                        "vertex": cloud.vertex.requests}, indent=2, default=str))
        for request in sent:
            what = request["machine_spec"] if request["kind"] == "vertex_custom_job" else {
                **request["resources"], "node_selector": request["node_selector"]}
            print(f"   {request['kind']:<17} {request['image']}\n   {'':<17} {' '.join(request['command'])}\n   {'':<17} {what}")
        if run_id is None or state != "success":
            return 1

        show("where each step ran (execution records in the bucket)")
        store = ArtifactStore()
        invocations = join_uri(cloud.artifact_root, "penguin", "_invocations", DAG_ID, safe_segment(run_id))
        for task_id in STEPS:
            result = join_uri(invocations, task_id, "try-1", "result.json")
            record = store.read_json(result) if store.exists(result) else {}
            jobs = record.get("remote_jobs") or []
            where = ", ".join(f"{j['kind']} {j['name']}" for j in jobs) or "-"
            print(f"   {task_id:<15} {'hit ' if record.get('cache_hit') else 'miss'} {where}")
        deployment = store.read_json(join_uri(cloud.artifact_root, "penguin", "deployment", "record.json"))
        show("result")
        print(f"   champion in the MLflow server: version {champion(cloud.mlflow_url)}")
        print(f"   deployment record: champion {deployment.get('champion')}, canary {deployment.get('canary') or 'none'}")
        print(f"   {len([s for s in sent if s['kind'] == 'pod'])} pods, "
              f"{len([s for s in sent if s['kind'] == 'vertex_custom_job'])} Vertex AI job(s); "
              f"{time.monotonic() - started:.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
