"""Execution fingerprints: the cache key of a component run."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

FINGERPRINT_LENGTH = 20


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace, so equal values give equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)


def fingerprint(
    component: str,
    code_version: str,
    params: Mapping[str, Any],
    input_fingerprints: Mapping[str, str],
) -> str:
    """Hash of everything that determines a component's outputs.

    :param component: component name.
    :param code_version: version of the component's code (a hash of its source).
    :param params: the component's parameters, including external data fingerprints.
    :param input_fingerprints: fingerprint of each input artifact's producing execution, by name.
    """
    payload = canonical_json(
        {
            "component": component,
            "code_version": code_version,
            "params": params,
            "inputs": dict(input_fingerprints),
        }
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:FINGERPRINT_LENGTH]
