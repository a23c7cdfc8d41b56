"""Online figures of the models that served: from the prediction log and late labels."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def percentile(values: list[float], q: float) -> float | None:
    import math

    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def version_figures(records: Iterable[Mapping[str, Any]], version: str, labels: Mapping[str, str]) -> dict[str, Any]:
    """Predictions, errors, error rate, p50/p95 latency and, on the rows whose label has
    arrived, accuracy, for one model version."""
    served = errors = labelled = correct = 0
    latencies: list[float] = []
    for record in records:
        if record.get("model_version") != version:
            continue
        if "error" in record:
            errors += 1
            continue
        served += 1
        latencies.append(float(record.get("latency_ms", 0.0)))
        label = labels.get(record["request_id"])
        if label is not None:
            labelled += 1
            correct += label == record["prediction"]
    total = served + errors
    return {
        "version": version,
        "predictions": served,
        "errors": errors,
        "error_rate": errors / total if total else 0.0,
        "latency_p50_ms": percentile(latencies, 50),
        "latency_p95_ms": percentile(latencies, 95),
        "labelled": labelled,
        "accuracy": correct / labelled if labelled else None,
    }
