"""Component names -> the modules that define them, imported only when that component runs.

Built-in components have short names (``ingest``). A project's own component is named by the
dotted path of a module that defines ``COMPONENT`` (``my_project.components.score``).
"""

from __future__ import annotations

import importlib

from airflow_mlops.contract import ComponentError, ErrorKind
from airflow_mlops.contract.components import BUILT_IN
from airflow_mlops.runtime.components.base import Component

COMPONENT_MODULES: dict[str, str] = {name: f"airflow_mlops.runtime.components.{name}" for name in BUILT_IN}


def load_component(name: str) -> Component:
    module_name = COMPONENT_MODULES.get(name, name)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if not (exc.name and module_name.startswith(exc.name)):
            raise  # the module exists but one of its own imports is missing: a broken environment
        known = ", ".join(sorted(COMPONENT_MODULES))
        raise ComponentError(
            ErrorKind.CONFIG,
            f"unknown component {name!r}: not a built-in ({known}) nor an importable module defining COMPONENT",
        ) from None
    component = getattr(module, "COMPONENT", None)
    if not isinstance(component, Component):
        raise ComponentError(ErrorKind.CONFIG, f"component {name!r}: {module_name} defines no COMPONENT")
    return component
