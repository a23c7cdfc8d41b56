"""The pipeline YAML's reference, generated from the typed sections (every key, its type, default
and doc), so the README cannot drift from the code::

    python -m airflow_mlops.contract.config.reference
"""

from __future__ import annotations

import dataclasses
import json
import typing
from typing import Any

from airflow_mlops.contract.config.model import (
    BatchPredictionSettings,
    DeploymentSettings,
    MonitoringSettings,
    PipelineSettings,
    RegistrySettings,
    RuntimeSettings,
    TrainingSettings,
    ValidationSettings,
)
from airflow_mlops.contract.params import EvaluateOptions, IngestOptions
from airflow_mlops.contract.typed import Record

#: YAML section -> its record (``features`` and ``pipeline`` / ``start_date`` are described in prose)
SECTIONS: dict[str, type[Record]] = {
    "": PipelineSettings,
    "data": IngestOptions,
    "runtime": RuntimeSettings,
    "validation": ValidationSettings,
    "training": TrainingSettings,
    "evaluation": EvaluateOptions,
    "registry": RegistrySettings,
    "deployment": DeploymentSettings,
    "monitoring": MonitoringSettings,
    "batch_prediction": BatchPredictionSettings,
}


def _default(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str) and value:
        return f"`{value}`"
    return f"`{json.dumps(value)}`" if isinstance(value, (bool, dict, list, str)) else f"`{value}`"


def _markdown(text: str) -> str:
    return text.replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")


def rows(record: type[Record], prefix: str) -> list[tuple[str, str, str, str]]:
    """``(key, type, default, doc)`` for every field of ``record``, nested records flattened."""
    hints = typing.get_type_hints(record)
    out = []
    for (name, kind, default, doc), f in zip(record.describe(), dataclasses.fields(record)):
        key = f"{prefix}.{name}" if prefix else name
        nested = hints[f.name]
        if isinstance(nested, type) and issubclass(nested, Record):
            out += rows(nested, key)
        else:
            out.append((key, kind, _default(default), doc))
    return out


def reference_markdown() -> str:
    lines = ["| key | type | default | what it is |", "|---|---|---|---|"]
    for section, record in SECTIONS.items():
        lines += [f"| `{key}` | {kind} | {default} | {_markdown(doc)} |" for key, kind, default, doc in rows(record, section)]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(reference_markdown(), end="")
