"""Split ratio rules, shared by the config loader (control plane) and ingest (runtime)."""

from __future__ import annotations

from collections.abc import Mapping

REQUIRED_SPLITS = ("train", "eval", "test")


def split_ratio_problems(ratios: Mapping[str, object]) -> list[str]:
    """What is wrong with ``ratios`` (empty when they are valid)."""
    problems = []
    missing = [s for s in REQUIRED_SPLITS if s not in ratios]
    if missing:
        problems.append(f"missing split(s) {', '.join(missing)}; expected {', '.join(REQUIRED_SPLITS)}")
    values = {}
    for name, value in ratios.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            problems.append(f"{name}: must be a number between 0 and 1 (got {value!r})")
        else:
            values[name] = float(value)
    if not problems:
        if abs(sum(values.values()) - 1.0) > 1e-6:
            problems.append(f"ratios must add up to 1 (they add up to {sum(values.values()):g})")
        if values.get("train", 0) <= 0:
            problems.append("train: must be greater than 0")
    return problems
