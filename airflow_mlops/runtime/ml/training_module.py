"""Finding, importing and checking a pipeline's training module (``training.module``).

The module is a ``.py`` file next to the pipeline YAML (its text travels in the train step's
spec, so a remote job has it) or an importable module of the runtime environment; without one,
the built-in MLP (:mod:`airflow_mlops.runtime.ml.mlp`). Whatever is wrong with it is a ``model``
error naming the module: retrying cannot fix it.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from airflow_mlops.contract import ComponentError, ErrorKind
from airflow_mlops.runtime.ml import mlp

BUILTIN = mlp.__name__


@dataclass(frozen=True)
class TrainingModule:
    """A training module, imported and checked."""

    #: as the YAML names it (``model.py``, ``my_package.model``) or the built-in's module name
    name: str
    module: ModuleType
    #: its source text (part of train's fingerprint)
    source: str
    #: a module file's text, bundled with the model so that serving can import it
    bundled_source: str | None
    #: the file it was imported from, to say where in it something went wrong
    path: str | None = None

    @property
    def build_model(self) -> Callable[..., Any]:
        return self.module.build_model

    @property
    def fit(self) -> Callable[..., Any] | None:
        return getattr(self.module, "fit", None)

    def error(self, what: str) -> ComponentError:
        return module_error(self.name, what)

    def failure(self, doing: str, exc: BaseException) -> ComponentError:
        """``<doing> failed: <Type>: <message> (at <file> line <n>)``, the line in the module."""
        return self.error(f"{doing}: {describe_exception(exc, self.path)}")


def module_error(name: str, what: str) -> ComponentError:
    return ComponentError(ErrorKind.MODEL, f"training module {name}: {what}", {"module": name})


def describe_exception(exc: BaseException, path: str | None = None) -> str:
    """``Type: message`` and the last line of the module file ``path`` it passed through."""
    if isinstance(exc, SyntaxError):
        return f"{type(exc).__name__}: {exc.msg} (line {exc.lineno})"
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if path is not None and f.filename == path]
    where = f" (at {os.path.basename(path or '')} line {frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


def import_file(path: str, name: str | None = None) -> ModuleType:
    """Import the file at ``path`` under a name made from its content (the same text imports once)."""
    with open(path) as f:
        digest = hashlib.sha256(f.read().encode()).hexdigest()[:12]
    module_name = f"airflow_mlops_training_module_{digest}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def registered_classes(module: ModuleType) -> dict[str, type]:
    """The classes ``module`` registered with Keras (``register_keras_serializable``), by
    registered name."""
    import keras

    found = {}
    for value in vars(module).values():
        if isinstance(value, type) and value.__module__ == module.__name__:
            name = keras.saving.get_registered_name(value)
            if ">" in name:  # a registered name is "<package>>Name"
                found[name] = value
    return found


def _package_files(name: str) -> list[str]:
    """The ``.py`` files of the top-level package of module ``name`` (one file for a plain module)."""
    top = importlib.util.find_spec(name.split(".")[0])
    if top is None:
        return []
    if top.submodule_search_locations:
        return sorted(
            os.path.join(root, file)
            for folder in top.submodule_search_locations
            for root, _, files in os.walk(folder)
            for file in files if file.endswith(".py")
        )
    return [top.origin] if top.origin and os.path.isfile(top.origin) else []


def source_of(reference: str | None, module_source: str | None) -> str:
    """The module's text without importing it (train's fingerprint)."""
    if module_source is not None:
        return module_source
    name = reference or BUILTIN
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError) as exc:
        raise module_error(name, f"cannot be found in the runtime environment ({exc})") from None
    if spec is None or spec.origin is None or not os.path.isfile(spec.origin):
        raise module_error(name, "is not importable in the runtime environment (install it in the runtime image, "
                                 "or give a .py file next to the pipeline YAML)")
    if reference is None:
        with open(spec.origin) as f:
            return f.read()
    # An installed module may import the rest of its package: all of it counts.
    parts = []
    for path in _package_files(name):
        with open(path) as f:
            parts.append(f"# {os.path.relpath(path, os.path.dirname(spec.origin))}\n{f.read()}")
    return "\n".join(parts)


def load(reference: str | None, module_source: str | None) -> TrainingModule:
    """Import the module and check it has ``build_model`` (and a callable ``fit`` if any)."""
    name = reference or BUILTIN
    path = None
    try:
        if module_source is not None:
            # a directory per text, kept: tracebacks of later calls point into the file
            folder = os.path.join(tempfile.gettempdir(), f"mlops-module-{hashlib.sha256(module_source.encode()).hexdigest()[:12]}")
            os.makedirs(folder, exist_ok=True)
            path = os.path.join(folder, os.path.basename(name))
            with tempfile.NamedTemporaryFile("w", dir=folder, suffix=".tmp", delete=False) as f:
                f.write(module_source)
            os.replace(f.name, path)  # whole, even with another train of the same text importing it
            module = import_file(path)
        else:
            module = importlib.import_module(name)
            path = getattr(module, "__file__", None)
    except Exception as exc:
        raise module_error(name, f"cannot be imported: {describe_exception(exc, path)}") from None
    if not callable(getattr(module, "build_model", None)):
        raise module_error(name, "has no function build_model(context) -> keras.Model")
    if getattr(module, "fit", None) is not None and not callable(module.fit):
        raise module_error(name, "fit must be a function fit(model, data, context) -> history")
    return TrainingModule(name, module, source_of(reference, module_source), module_source, path)
