"""One source tree, two distributions.

- ``airflow-mlops`` (root ``pyproject.toml``): the provider, the contract and the artifact store,
  for Airflow's environment. It must not ship the runtime plane (BentoML services, TensorFlow
  components) nor require its libraries.
- ``airflow-mlops-runtime`` (``runtime/pyproject.toml``): ``airflow_mlops/runtime/**`` only, for
  the runtime environment or image; it requires ``airflow-mlops`` of the same version.

Both are built here with hatchling (installed in ``.venv`` from ``requirements/lint.lock.txt``),
without network access: no build isolation.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "airflow_mlops"
ML_LIBRARIES = {"tensorflow", "tensorflow-data-validation", "tfx-bsl", "keras", "apache-beam", "evidently",
                "bentoml", "mlflow", "pandas", "pyarrow"}


def build(project: Path, target: str, out: Path) -> Path:
    done = subprocess.run([sys.executable, "-m", "hatchling", "build", "-t", target, "-d", str(out)],
                          cwd=project, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    (artifact,) = out.glob("*.whl" if target == "wheel" else "*.tar.gz")
    return artifact


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("dist")
    return {
        "provider": build(REPO, "wheel", tmp / "provider"),
        "provider-sdist": build(REPO, "sdist", tmp / "provider-sdist"),
        "runtime": build(REPO / "runtime", "wheel", tmp / "runtime"),
        "runtime-sdist": build(REPO / "runtime", "sdist", tmp / "runtime-sdist"),
    }


def wheel_files(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as z:
        return {name for name in z.namelist() if ".dist-info/" not in name}


def wheel_metadata(wheel: Path, name: str) -> str:
    with zipfile.ZipFile(wheel) as z:
        (path,) = [n for n in z.namelist() if n.endswith(f".dist-info/{name}")]
        return z.read(path).decode()


def requirements(wheel: Path) -> dict[str, str]:
    """Requires-Dist as {normalised name: the whole requirement}."""
    meta = Parser().parsestr(wheel_metadata(wheel, "METADATA"))
    out = {}
    for req in meta.get_all("Requires-Dist") or []:
        name = re.split(r"[\s\[;(<>=!~]", req, maxsplit=1)[0]
        out[re.sub(r"[-_.]+", "-", name).lower()] = req
    return out


def source_files() -> set[str]:
    """What the tree has under airflow_mlops/, as wheel paths (bytecode aside)."""
    return {p.relative_to(REPO).as_posix() for p in PACKAGE.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}


def version(pyproject: Path) -> str:
    return tomllib.loads(pyproject.read_text())["project"]["version"]


def test_the_two_distributions_have_one_version() -> None:
    assert version(REPO / "runtime" / "pyproject.toml") == version(REPO / "pyproject.toml")


def test_provider_wheel_has_no_runtime_plane(dists: dict[str, Path]) -> None:
    files = wheel_files(dists["provider"])
    assert not [f for f in files if f.startswith("airflow_mlops/runtime/")]
    for needed in ("airflow_mlops/__init__.py", "airflow_mlops/get_provider_info.py",
                   "airflow_mlops/contract/__init__.py", "airflow_mlops/artifacts/__init__.py",
                   "airflow_mlops/provider/__init__.py"):
        assert needed in files


def test_provider_wheel_registers_the_provider(dists: dict[str, Path]) -> None:
    entry_points = wheel_metadata(dists["provider"], "entry_points.txt")
    assert "[apache_airflow_provider]" in entry_points
    assert "provider_info = airflow_mlops.get_provider_info:get_provider_info" in entry_points


def test_provider_wheel_requires_no_ml_library(dists: dict[str, Path]) -> None:
    reqs = requirements(dists["provider"])
    assert not ML_LIBRARIES & reqs.keys(), reqs
    # The base install stays light: only what the contract and the artifact store need.
    base = {name for name, req in reqs.items() if "extra ==" not in req}
    assert base == {"fsspec", "pyyaml"}
    assert "apache-airflow" in reqs and "extra == 'airflow'" in reqs["apache-airflow"]


def test_provider_sdist_has_no_runtime_plane(dists: dict[str, Path]) -> None:
    with tarfile.open(dists["provider-sdist"]) as tar:
        names = [n.split("/", 1)[1] for n in tar.getnames() if "/" in n]
    assert "pyproject.toml" in names and "airflow_mlops/provider/__init__.py" in names
    assert not [n for n in names if n.startswith(("airflow_mlops/runtime", "runtime/", "tests/"))]


def test_runtime_wheel_has_only_the_runtime_plane(dists: dict[str, Path]) -> None:
    files = wheel_files(dists["runtime"])
    assert "airflow_mlops/runtime/components/__main__.py" in files  # the component CLI
    assert [f for f in files if not f.startswith("airflow_mlops/runtime/")] == []


def test_the_two_wheels_partition_the_tree(dists: dict[str, Path]) -> None:
    provider, runtime = wheel_files(dists["provider"]), wheel_files(dists["runtime"])
    assert not provider & runtime
    assert provider | runtime == source_files()


def test_runtime_wheel_requires_the_provider_distribution_and_the_ml_libraries(dists: dict[str, Path]) -> None:
    reqs = requirements(dists["runtime"])
    assert reqs["airflow-mlops"] == f"airflow-mlops=={version(REPO / 'pyproject.toml')}"
    for library in ("tensorflow", "tensorflow-data-validation", "tfx-bsl", "apache-beam", "evidently", "bentoml",
                    "mlflow", "pandas"):
        assert library in reqs, library
    assert "apache-airflow" not in reqs


def test_runtime_wheel_builds_from_its_sdist(dists: dict[str, Path], tmp_path: Path) -> None:
    with tarfile.open(dists["runtime-sdist"]) as tar:
        tar.extractall(tmp_path, filter="data")
    (unpacked,) = tmp_path.iterdir()
    wheel = build(unpacked, "wheel", tmp_path / "out")
    assert wheel_files(wheel) == wheel_files(dists["runtime"])
