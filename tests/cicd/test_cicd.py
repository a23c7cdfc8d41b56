"""CD per environment: each environment's rendered build and trigger, and the steps that can run
here - the DAG sync against the GCS emulator (real google-cloud-storage client), the load test's
bounds (against a real prediction server: tests/runtime/serving/test_load_test.py)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from airflow_mlops.contract.typed import RecordError
from cicd import config, load_test, render
from cicd.sync import sync

REPO = Path(__file__).resolve().parents[2]


def test_the_committed_builds_are_those_of_environments_yaml():
    for relative, text in render.rendered(config.load()).items():
        path = REPO / "cloudbuild" / relative
        assert path.read_text() == text, f"{path} is out of date: run `make cloudbuild`"


def steps(name: str) -> dict[str, dict]:
    build = yaml.safe_load((REPO / "cloudbuild" / f"{name}.yaml").read_text())
    return {step["id"]: step for step in build["steps"]}


@pytest.mark.parametrize("name", ["dev", "staging", "prod"])
def test_each_environment_builds_tests_syncs_points_to_its_image_and_load_tests(name):
    environment = config.load().environments[name]
    build = steps(name)
    order = list(build)
    assert order[:1] == ["test"] and "make test" in build["test"]["args"][1]
    repository = environment.image_repository
    for kind in ("airflow", "runtime"):
        assert f"{repository}/{kind}:$SHORT_SHA" in build[f"build-{kind}"]["args"]
        assert build[f"push-{kind}"]["waitFor"] == ["test", f"build-{kind}"]  # pushed only once the tests pass
    assert f"--bucket {environment.composer_bucket} --project {environment.project}" in build["sync-dags"]["args"][1]
    assert build["sync-dags"]["waitFor"] == ["push-airflow", "push-runtime"]
    assert build["runtime-image"]["args"][3] == environment.composer_environment
    assert build["runtime-image"]["args"][-1] == f"--update-airflow-configs=mlops-runtime_image={repository}/runtime:$SHORT_SHA"
    assert ("integration" in build) == environment.integration_run
    if environment.integration_run:
        assert f"{environment.composer_environment} --location {environment.region} --project {environment.project} dags test -- penguin_training" in build["integration"]["args"][1]
    load = build["load-test"]["args"][1]
    assert f'export LOAD_TEST_TOKEN="$$(gcloud auth print-identity-token --audiences={environment.model_api})"' in load
    assert f"--url {environment.model_api}/predict" in load
    assert f"--qps {environment.load_test.qps:g} " in load and f"--max-p95-ms {environment.load_test.max_p95_ms:g} " in load
    assert order[-1] == "load-test" and build["load-test"]["waitFor"] == [order[-2]]


def test_dev_and_staging_deploy_on_their_trigger_prod_waits_for_a_person():
    triggers = {n: yaml.safe_load((REPO / "cloudbuild" / "triggers" / f"{n}.yaml").read_text()) for n in ("dev", "staging", "prod")}
    assert {n: t["approvalConfig"]["approvalRequired"] for n, t in triggers.items()} == {"dev": False, "staging": False, "prod": True}
    assert triggers["dev"]["github"]["push"] == {"branch": "^main$"}
    assert triggers["staging"]["github"]["push"] == triggers["prod"]["github"]["push"] == {"tag": r"^v[0-9]+\.[0-9]+\.[0-9]+$"}
    assert {n: t["filename"] for n, t in triggers.items()} == {n: f"cloudbuild/{n}.yaml" for n in triggers}
    assert "integration" not in steps("prod")  # production trains on its own schedule, not from a build


def test_environment_mistakes_are_reported_with_their_field_paths(tmp_path):
    path = tmp_path / "environments.yaml"
    path.write_text(textwrap.dedent("""
        repository: {owner: o, name: n}
        environments:
          dev:
            project: p
            region: r
            composer_environment: c
            composer_bucket: my-bucket
            image_repository: i
            model_api: penguin.example
            trigger: {branch: '^main$', tag: 'v1'}
            load_test: {qps: 0}
          Prod: {project: p}
          qa: {project: p, region: r, composer_environment: c, composer_bucket: gs://b, image_repository: i, model_api: "http://x", trigger: {}}
    """))
    with pytest.raises(RecordError) as caught:
        config.load(path)
    problems = "\n".join(caught.value.problems)
    for expected in ("environments.dev.load_test.qps: must be greater than 0", "environments.Prod.region: required",
                     "environments.dev.composer_bucket: must be a gs:// URI", "environments.dev.model_api: must be an http(s) URL",
                     "environments.qa.trigger: give a branch or a tag"):
        assert expected in problems, problems


def test_the_sync_uploads_what_changed_and_removes_what_is_gone(gcs_bucket, tmp_path):
    bucket = f"gs://{gcs_bucket.name}"
    gcs_bucket.blob("dags/airflow_monitoring.py").upload_from_string("# Composer's own")
    first = sync(REPO, bucket)
    names = {b.name for b in gcs_bucket.list_blobs()}
    assert {"dags/penguin_training.py", "dags/penguin_batch_prediction.py", "dags/include/penguin/pipeline.yaml",
            "dags/include/penguin/schema.pbtxt", "dags/.airflowignore"} <= names
    assert any(n.startswith("plugins/") for n in names) and not any("__pycache__" in n for n in names)
    assert gcs_bucket.blob("dags/include/penguin/pipeline.yaml").download_as_text() == (REPO / "include/penguin/pipeline.yaml").read_text()
    assert len(first.uploaded) == len(names) - 1 and not first.deleted

    again = sync(REPO, bucket)
    assert again.uploaded == [] and len(again.unchanged) == len(first.uploaded)

    gcs_bucket.blob("dags/retired_dag.py").upload_from_string("dag = None")
    gcs_bucket.blob("dags/include/penguin/pipeline.yaml").upload_from_string("changed by hand")
    third = sync(REPO, bucket)
    assert third.deleted == ["dags/retired_dag.py"] and third.uploaded == ["dags/include/penguin/pipeline.yaml"]
    assert gcs_bucket.blob("dags/airflow_monitoring.py").exists()  # Composer's own file stays

    with pytest.raises(ValueError, match="no DAG files"):
        sync(tmp_path, bucket)  # not the repository: nothing is deleted from the bucket
    assert gcs_bucket.blob("dags/penguin_training.py").exists()


def test_the_load_test_verdict_names_every_broken_bound():
    good = load_test.Result(sent=100, answered=100, failed=0, seconds=10, qps=10, p50_ms=5, p95_ms=9, p99_ms=12, errors={})
    assert load_test.verdict(good, qps=10, max_p95_ms=10, max_error_rate=0, min_qps_ratio=0.9) == []
    bad = load_test.Result(sent=100, answered=90, failed=10, seconds=10, qps=9, p50_ms=5, p95_ms=40, p99_ms=90,
                           errors={"HTTP 503": 10})
    broken = load_test.verdict(bad, qps=20, max_p95_ms=10, max_error_rate=0.05, min_qps_ratio=0.9)
    assert [b.split()[0] for b in broken] == ["error", "p95", "9"], broken
    assert "load test FAILED: error rate 0.1000 > 0.05 ({'HTTP 503': 10})" in load_test.report(bad, broken)
