from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RUNTIME_PYTHON = REPO / ".venv-runtime" / "bin" / "python"
# The Airflow CLI of the environment running the tests (.venv, or .venv-airflow-min for the lowest supported Airflow).
AIRFLOW_BIN = Path(sys.executable).parent / "airflow"


@pytest.fixture
def artifact_root(tmp_path: Path) -> str:
    return "file://" + str(tmp_path / "artifacts")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def gcs_emulator():
    """A gcp-storage-emulator on 127.0.0.1 for the session; yields its URL and sets the env for clients."""
    exe = shutil.which("gcp-storage-emulator", path=str(Path(sys.executable).parent))
    assert exe, "gcp-storage-emulator is not installed in this environment (dev extra)"
    port = free_port()
    proc = subprocess.Popen(
        [exe, "start", "--host", "127.0.0.1", "--port", str(port), "--in-memory"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("GCS emulator did not start")
    url = f"http://127.0.0.1:{port}"
    saved = {k: os.environ.get(k) for k in ("STORAGE_EMULATOR_HOST", "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT")}
    os.environ["STORAGE_EMULATOR_HOST"] = url
    os.environ["GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"] = "false"
    yield url
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def gcs_bucket(gcs_emulator, request):
    """A fresh bucket in the emulator, created with the real google-cloud-storage client."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    client = storage.Client(project="test", credentials=AnonymousCredentials())
    name = "b-" + request.node.name.lower().replace("_", "-")[:40] + f"-{os.getpid()}"
    bucket = client.create_bucket(name)
    # gcsfs caches listings per instance; a new bucket must not be hidden by an old listing.
    import fsspec

    fsspec.filesystem("gcs").invalidate_cache()
    return bucket


#: the OpenLineage events file in the ``airflow_env`` home
OPENLINEAGE_EVENTS = "openlineage-events.jsonl"


@pytest.fixture(scope="session")
def airflow_env(tmp_path_factory) -> dict[str, str]:
    """Environment for Airflow CLI subprocesses: a fresh AIRFLOW_HOME with a migrated SQLite DB,
    this repo's dags/, and artifacts under a temporary root."""
    home = tmp_path_factory.mktemp("airflow-home")
    # The pipelines' configs are copies under a project of their own: a relative path in them
    # (the landing directory .mlops/landing/penguin above all) is not the repository's, where
    # `make demo-loop` leaves batches.
    project = tmp_path_factory.mktemp("project")
    shutil.copytree(REPO / "include", project / "include")
    env = {
        **os.environ,
        "MLOPS_INCLUDE_DIR": str(project / "include"),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__MLOPS__RUNTIME_PYTHON": str(RUNTIME_PYTHON),
        "MLOPS_ARTIFACT_ROOT": "file://" + str(home / "artifacts"),
        "MLOPS_TRACKING_URI": f"sqlite:///{home}/mlflow.db",
        # OpenLineage events of every run, one JSON per line (tests/dags/test_dags.py reads the first training run's)
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps({"type": "file", "log_file_path": str(home / OPENLINEAGE_EVENTS), "append": True}),
        "AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD": "True",  # emit in the task process, no fork per event
    }
    for command in (["db", "migrate"], ["pools", "set", "gpu", "1", "GPUs for training"]):
        result = subprocess.run([str(AIRFLOW_BIN), *command], env=env, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return env


def registry_state(tracking_uri: str, model: str = "penguin") -> dict:
    """``{"versions": [...], "aliases": {alias: version}}`` of a registered model, asked of MLflow
    from the runtime environment."""
    import json

    probe = (
        "import json\n"
        "from mlflow import MlflowClient\n"
        f"client = MlflowClient({tracking_uri!r})\n"
        f"versions = sorted(int(v.version) for v in client.search_model_versions(\"name='{model}'\"))\n"
        f"aliases = client.get_registered_model({model!r}).aliases if versions else {{}}\n"
        "print(json.dumps({'versions': versions, 'aliases': {k: str(v) for k, v in aliases.items()}}))\n"
    )
    out = subprocess.run([str(RUNTIME_PYTHON), "-c", probe], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def registry_champion(tracking_uri: str, model: str = "penguin") -> str | None:
    """The champion's version, asked of MLflow from the runtime environment (the control plane
    has no MLflow)."""
    probe = (
        "import sys\n"
        "from mlflow import MlflowClient\n"
        "from mlflow.exceptions import MlflowException\n"
        "try:\n"
        f"    print(MlflowClient({tracking_uri!r}).get_model_version_by_alias({model!r}, 'champion').version)\n"
        "except MlflowException:\n"
        "    print('none')\n"
    )
    out = subprocess.run([str(RUNTIME_PYTHON), "-c", probe], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    value = out.stdout.strip().splitlines()[-1]
    return None if value == "none" else value


# -- NewDataSensor / NewDataTrigger ------------------------------------------------------------


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    path = tmp_path / "landing"
    path.mkdir()
    return path


@pytest.fixture
def state_uri(tmp_path: Path) -> str:
    return f"file://{tmp_path}/state/landing.json"


# -- the local cloud (local_cloud/): containers as processes, fake Kubernetes and Vertex AI APIs ------

LOCAL_CLOUD_IMAGES = ("europe-docker.pkg.dev/local/mlops/runtime:dev",)


@pytest.fixture
def container_runner(tmp_path: Path):
    """Runs "containers" of ``LOCAL_CLOUD_IMAGES`` as processes of .venv-runtime's python, with
    os.environ (as it is when each container starts: the GCS emulator's env when active)."""
    from local_cloud.containers import ContainerRunner, runtime_python

    runner = ContainerRunner(runtime_python(), LOCAL_CLOUD_IMAGES, base_env=None, workdir_root=tmp_path / "containers")
    yield runner
    runner.stop_all()


@pytest.fixture
def fake_kubernetes(container_runner):
    """A fake Kubernetes API server (pods) on 127.0.0.1 whose pods run with ``container_runner``."""
    from local_cloud.kubernetes_api import serve_kubernetes

    with serve_kubernetes(container_runner) as fake:
        yield fake


@pytest.fixture
def fake_vertex(container_runner):
    """A fake Vertex AI JobService (CustomJobs) on 127.0.0.1 whose jobs run with ``container_runner``."""
    from local_cloud.vertex_api import serve_vertex

    with serve_vertex(container_runner) as fake:
        yield fake


@pytest.fixture
def readme_tutorial(tmp_path: Path) -> dict[str, Path]:
    """The README tutorial's files (its first yaml and python blocks: the config, the module, the
    DAG file) written into a new project as a new user would; their paths by kind."""
    import re

    project = tmp_path / "project"
    text = (REPO / "README.md").read_text()
    section = text[text.index("## Tutorial: a new pipeline from scratch"):]
    section = section[: section.index("\n## ", 1)]
    yaml_blocks = re.findall(r"```yaml\n(.*?)```", section, re.S)
    python_blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    files = {
        "config": project / "include" / "wine" / "pipeline.yaml",
        "module": project / "include" / "wine" / "model.py",
        "dag": project / "dags" / "wine_training.py",
    }
    for path, content in zip(files.values(), (yaml_blocks[0], python_blocks[0], python_blocks[1])):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return files


# -- a real scheduler: `airflow standalone` shared by tests/dags/test_scheduler.py, test_approval.py
# and test_browser.py (one per session: it takes minutes to start and to run DAGs in)

DAG_ID = "penguin_training"


def airflow_cli(env: dict, *args: str) -> str:
    result = subprocess.run([str(AIRFLOW_BIN), *args], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def cli_json(output: str) -> list[dict]:
    return json.loads(output[output.index("\n[") + 1 :] if "\n[" in output else output[output.index("[") :])


@pytest.fixture(scope="session")
def local_cloud_stack(tmp_path_factory):
    from local_cloud.stack import local_cloud

    with local_cloud(tmp_path_factory.mktemp("scheduler-cloud"), str(RUNTIME_PYTHON)) as cloud:
        yield cloud


def _pipelines(include: Path, home: Path, cloud) -> None:
    """``include/penguin`` as in the repo, with its artifacts and registry under ``home``,
    ``include/penguin_remote``: the same pipeline on the local cloud, and ``include/penguin_gate``:
    the same with ``deployment.approval: promote`` and a registry of its own (test_approval.py)."""
    import shutil

    import yaml

    from local_cloud.stack import cloud_pipeline

    shutil.copytree(REPO / "include" / "penguin", include / "penguin")
    config = include / "penguin" / "pipeline.yaml"
    data = yaml.safe_load(config.read_text())
    data["artifact_root"] = f"file://{home}/artifacts"
    data["registry"]["tracking_uri"] = f"sqlite:///{home}/mlflow.db"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    cloud_pipeline(cloud, REPO / "include" / "penguin" / "pipeline.yaml", include, name="penguin_remote")
    gate = yaml.safe_load((REPO / "include" / "penguin" / "pipeline.yaml").read_text())
    gate.update(pipeline="penguin_gate", artifact_root=f"file://{home}/artifacts")
    gate["registry"].update(tracking_uri=f"sqlite:///{home}/penguin_gate-mlflow.db", model_name="penguin_gate")
    gate["deployment"] = {**gate.get("deployment", {}), "approval": "promote"}
    (include / "penguin_gate").mkdir()
    (include / "penguin_gate" / "pipeline.yaml").write_text(yaml.safe_dump(gate, sort_keys=False))


@pytest.fixture(scope="session")
def airflow_services(tmp_path_factory, local_cloud_stack):
    """`airflow standalone` on 127.0.0.1 with its own home, ports, DAGs folder, pipeline configs
    (artifact root and registry under its home; penguin_remote on the local cloud)."""
    home = tmp_path_factory.mktemp("scheduler-home")
    dags, include = home / "dags", home / "include"
    dags.mkdir()
    for dag_file in (REPO / "dags").glob("*.py"):
        (dags / dag_file.name).write_text(dag_file.read_text())
    (dags / "penguin_remote_training.py").write_text(
        "from airflow_mlops.provider.factory import pipeline_config_path, training_dag\n\n"
        'dag = training_dag(pipeline_config_path(__file__, "penguin_remote"))\n'
    )
    (dags / "penguin_gate_promotion.py").write_text(
        "from airflow_mlops.provider.factory import pipeline_config_path, promotion_dag\n\n"
        'dag = promotion_dag(pipeline_config_path(__file__, "penguin_gate"))\n'
    )
    _pipelines(include, home, local_cloud_stack)
    from local_cloud.postgres import Postgres

    # Airflow's database is PostgreSQL: the backfill CLI, the scheduler and the API server write at
    # once, which SQLite answers with "database is locked"
    postgres = Postgres(databases=("airflow",))
    postgres.start()
    api_port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("MLOPS_ARTIFACT_ROOT", "MLOPS_TRACKING_URI")},
        **local_cloud_stack.env(),
        "PATH": f"{AIRFLOW_BIN.parent}:{os.environ['PATH']}",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "MLOPS_INCLUDE_DIR": str(include),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__MLOPS__RUNTIME_PYTHON": str(RUNTIME_PYTHON),
        # SQLAlchemy 2.1 reads postgresql:// as psycopg 3; the environment has psycopg2
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": postgres.url("airflow", "+psycopg2"),
    }
    # where the penguin copy keeps its artifacts and registry (read by the tests, not by Airflow)
    paths = {"artifact_root": f"file://{home}/artifacts", "tracking_uri": f"sqlite:///{home}/mlflow.db", "api_port": api_port}
    log = (home / "standalone.log").open("w")
    proc = subprocess.Popen([str(AIRFLOW_BIN), "standalone"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{api_port}/api/v2/monitor/health", timeout=5) as response:
                    health = json.load(response)
                if all(health.get(c, {}).get("status") == "healthy" for c in ("scheduler", "dag_processor", "triggerer")):
                    break
            except OSError:
                pass
            time.sleep(2)
        else:
            pytest.fail("airflow standalone did not become healthy:\n" + (home / "standalone.log").read_text()[-5000:])
        deadline = time.monotonic() + 180
        while not all(d in airflow_cli(env, "dags", "list") for d in (DAG_ID, "penguin_remote_training")):
            assert time.monotonic() < deadline, "the DAG processor did not pick up penguin_training and penguin_remote_training"
            time.sleep(3)
        airflow_cli(env, "pools", "set", "gpu", "1", "GPUs for training")
        yield env, paths
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
        try:  # whatever of the group ignored SIGTERM (executor workers) must not outlive the test
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        log.close()
        postgres.stop()


def api_token(env: dict, port: int) -> str:
    """A token of standalone's generated admin user (SimpleAuthManager)."""
    passwords = json.loads((Path(env["AIRFLOW_HOME"]) / "simple_auth_manager_passwords.json.generated").read_text())
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/auth/token", method="POST", headers={"Content-Type": "application/json"},
        data=json.dumps({"username": "admin", "password": passwords["admin"]}).encode())
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["access_token"]


#: the test files that share ``airflow_services``, in the order they run: after every other test
#: (the idle scheduler would slow the `airflow dags test` runs), the backfill first (it makes the
#: first champion of the shared penguin copy)
REAL_SCHEDULER_FILES = ("test_scheduler.py", "test_approval.py", "test_browser.py")


def pytest_collection_modifyitems(items):
    def rank(item) -> int:
        name = item.path.name
        return REAL_SCHEDULER_FILES.index(name) + 1 if name in REAL_SCHEDULER_FILES else 0

    items.sort(key=rank)  # stable: the order within each group stays
