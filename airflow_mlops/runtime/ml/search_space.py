"""The tune step's search space (YAML ``training.tuning.search_space``) as Keras Tuner
hyper-parameters, and the chosen values applied to the training parameters.

A dimension is either ``values`` (a choice; lists such as ``hidden_units: [32, 16]`` are
choices too) or a range ``min``..``max`` (integers when both are integers, with ``step`` and
``sampling: log`` for ranges over orders of magnitude). Names that are training options
(``learning_rate``, ``hidden_units``, ``batch_size``, ``epochs``) set those; any other name
reaches the training module as ``context.hyperparameters[name]``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from airflow_mlops.contract.params import SearchDimension

#: training options a search space may set; other names are the module's hyper-parameters
TRAINING_OPTIONS = ("learning_rate", "hidden_units", "batch_size", "epochs")


def declare(hp: Any, name: str, dimension: SearchDimension) -> Any:
    """Declare ``name`` on Keras Tuner's ``hp`` and return the value this trial takes."""
    if dimension.values is not None:
        encoded = [json.dumps(v) if isinstance(v, (list, tuple)) else v for v in dimension.values]
        return decoded({name: hp.Choice(name, encoded)})[name]
    if isinstance(dimension.min, int) and isinstance(dimension.max, int) and (dimension.step is None or float(dimension.step).is_integer()):
        return hp.Int(name, dimension.min, dimension.max, step=int(dimension.step) if dimension.step else None, sampling=dimension.sampling)
    return hp.Float(name, float(dimension.min), float(dimension.max), step=dimension.step, sampling=dimension.sampling)


def declare_all(hp: Any, space: Mapping[str, SearchDimension]) -> dict[str, Any]:
    return {name: declare(hp, name, dimension) for name, dimension in sorted(space.items())}


def apply(values: Mapping[str, Any], training: Mapping[str, Any]) -> dict[str, Any]:
    """``training`` (train's parameters as a dict) with the chosen ``values``: training options
    replaced, the rest merged into ``hyperparameters``."""
    out = dict(training)
    out["hyperparameters"] = dict(training.get("hyperparameters") or {})
    for name, value in values.items():
        if name in TRAINING_OPTIONS:
            out[name] = tuple(value) if name == "hidden_units" else value
        else:
            out["hyperparameters"][name] = value
    return out


def decoded(values: Mapping[str, Any]) -> dict[str, Any]:
    """Keras Tuner's values with the list choices (kept as JSON text there) as lists again."""
    return {name: json.loads(v) if isinstance(v, str) and v.startswith("[") else v for name, v in values.items()}
