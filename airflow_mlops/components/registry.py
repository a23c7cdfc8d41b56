"""Component names -> the modules that define them, imported only when that component runs."""

from __future__ import annotations

import importlib

from airflow_mlops.components.base import Component
from airflow_mlops.contract import ComponentError, ErrorKind

COMPONENT_MODULES: dict[str, str] = {
    "ingest": "airflow_mlops.components.ingest",
}


def load_component(name: str) -> Component:
    try:
        module_name = COMPONENT_MODULES[name]
    except KeyError:
        known = ", ".join(sorted(COMPONENT_MODULES))
        raise ComponentError(ErrorKind.CONFIG, f"unknown component {name!r}; known components: {known}") from None
    return importlib.import_module(module_name).COMPONENT
