"""The layout shows the planes, and imports only point into the contract or within a plane.

- ``airflow_mlops.contract``: the standard library (and PyYAML, lazily, for the config loader);
- ``airflow_mlops.artifacts``: the contract and fsspec;
- ``airflow_mlops.provider`` (control plane): the contract, the artifacts store, Airflow and its
  providers - never ``airflow_mlops.runtime``, and no ML library at module level;
- ``airflow_mlops.runtime``: the contract, the artifact store and the ML libraries - never
  ``airflow_mlops.provider`` and never Airflow.

Every ``import`` statement counts, including those inside functions and ``TYPE_CHECKING`` blocks,
except where said otherwise.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "airflow_mlops"
HEAVY = {"tensorflow", "tensorflow_data_validation", "apache_beam", "evidently", "bentoml", "mlflow", "pandas",
         "keras", "tfx_bsl", "pyarrow", "sklearn", "numpy"}
PLANES = ("contract", "artifacts", "provider", "runtime")


def plane_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "airflow_mlops":
        return None
    return parts[1] if len(parts) > 1 and parts[1] in PLANES else "top"


def imports(path: Path) -> list[tuple[str, int, bool]]:
    """``(module, line, at module level)`` for every import in a file."""
    tree = ast.parse(path.read_text(), str(path))
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno, id(node) in top_level) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module, node.lineno, id(node) in top_level))
            # ``from airflow_mlops import runtime`` imports the runtime package
            found += [(f"{node.module}.{a.name}", node.lineno, id(node) in top_level) for a in node.names
                      if node.module == "airflow_mlops"]
    return found


def violations(path: Path, module: str) -> list[str]:
    """What ``path`` (module ``module``) imports that its plane must not."""
    plane = plane_of(module)
    problems = []
    for name, line, module_level in imports(path):
        root = name.split(".")[0]
        target = plane_of(name)
        where = f"{module}:{line} imports {name}"
        if plane == "contract":
            if target not in (None, "contract", "top") or (target is None and root not in sys.stdlib_module_names | {"yaml"}):
                problems.append(f"{where}: the contract imports only the standard library")
        elif plane == "artifacts":
            if target not in (None, "contract", "artifacts") or (target is None and root not in sys.stdlib_module_names | {"fsspec"}):
                problems.append(f"{where}: the artifact store imports only the contract and fsspec")
        elif plane == "provider":
            if target == "runtime":
                problems.append(f"{where}: the control plane must not import the runtime plane")
            if module_level and root in HEAVY:
                problems.append(f"{where}: the control plane imports ML libraries only inside functions")
        elif plane == "runtime":
            if target == "provider":
                problems.append(f"{where}: the runtime plane must not import the control plane")
            if root == "airflow":
                problems.append(f"{where}: the runtime plane must not import Airflow")
        elif plane == "top" and target in ("provider", "runtime"):
            problems.append(f"{where}: top-level modules belong to neither plane")
    return problems


def modules() -> list[tuple[Path, str]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        out.append((path, ".".join(parts[:-1] if parts[-1] == "__init__" else parts)))
    return out


def test_every_module_belongs_to_a_plane():
    strays = [m for _, m in modules() if plane_of(m) == "top" and m not in (
        "airflow_mlops", "airflow_mlops.get_provider_info")]
    assert strays == [], f"modules outside contract/, artifacts/, provider/ and runtime/: {strays}"


def test_imports_point_only_into_the_contract_or_within_a_plane():
    problems = [p for path, module in modules() for p in violations(path, module)]
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("airflow_mlops.provider.operators.bad", "from airflow_mlops.runtime.ml import model\n", "must not import the runtime"),
        ("airflow_mlops.provider.operators.bad", "import pandas as pd\n", "only inside functions"),
        ("airflow_mlops.runtime.components.bad", "def f():\n    from airflow_mlops.provider.hooks import x\n", "control plane"),
        ("airflow_mlops.runtime.components.bad", "from airflow.sdk import BaseOperator\n", "must not import Airflow"),
        ("airflow_mlops.contract.bad", "import fsspec\n", "only the standard library"),
        ("airflow_mlops.artifacts.bad", "from airflow_mlops.runtime.serving import x\n", "only the contract"),
        ("airflow_mlops.provider.operators.bad", "from airflow_mlops import runtime\n", "must not import the runtime"),
    ],
)
def test_the_check_catches_a_wrong_import(tmp_path, module, source, expected):
    path = tmp_path / "bad.py"
    path.write_text(source)
    found = violations(path, module)
    assert len(found) == 1 and expected in found[0], found


def test_a_function_level_heavy_import_is_allowed_in_the_control_plane(tmp_path):
    path = tmp_path / "ok.py"
    path.write_text("def f():\n    import pandas\n")
    assert violations(path, "airflow_mlops.provider.operators.ok") == []
