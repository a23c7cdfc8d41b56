"""Turning data rows into prediction requests (JSON rows of the serving schema)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def json_row(values: Mapping[str, Any], features: Mapping[str, str]) -> dict[str, Any]:
    """The features of one data row as the API takes them: missing values are ``null``."""
    row: dict[str, Any] = {}
    for name, kind in features.items():
        value = values.get(name)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            row[name] = None
        elif kind == "numeric":
            row[name] = float(value)
        else:
            row[name] = str(value)
    return row


def json_rows(frame, features: Mapping[str, str]) -> list[dict[str, Any]]:
    return [json_row(values, features) for values in frame.to_dict(orient="records")]
