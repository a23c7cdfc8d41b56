"""Ships ``airflow_mlops/runtime`` from the one source tree at the repository root.

In the repository the runtime package is ``../airflow_mlops/runtime`` (this project's root is
``runtime/``); in this project's sdist it has been copied to ``airflow_mlops/runtime``. Only that
directory goes into the distribution: ``airflow_mlops/__init__.py``, the contract and the artifact
store come from the ``airflow-mlops`` distribution this one depends on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class RuntimeSourceHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        root = Path(self.root)
        for candidate in (root / "airflow_mlops" / "runtime", root.parent / "airflow_mlops" / "runtime"):
            if (candidate / "__init__.py").is_file():
                build_data["force_include"][str(candidate)] = "airflow_mlops/runtime"
                return
        raise FileNotFoundError(f"airflow_mlops/runtime not found next to or above {root}")
