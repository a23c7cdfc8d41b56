"""What a runtime component is: a name, typed inputs and outputs, and a function over a context."""

from __future__ import annotations

import ast
import functools
import hashlib
import inspect
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_mlops.contract import ComponentSpec, RemoteJob, join_uri
from airflow_mlops.contract.components import ComponentInterface
from airflow_mlops.contract.typed import Record


@dataclass(frozen=True)
class OutputArtifact:
    """An output a component wrote, before it is turned into an :class:`ArtifactRef`."""

    uri: str
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ComponentResult:
    outputs: dict[str, OutputArtifact]
    metrics: dict[str, Any] = field(default_factory=dict)
    #: jobs the component submitted elsewhere (e.g. its Beam pipeline on Dataflow)
    remote_jobs: list[RemoteJob] = field(default_factory=list)


@dataclass(frozen=True)
class ExecutionContext:
    """What the component function sees.

    :param spec: the spec it was launched with.
    :param output_dir: this attempt's directory, inside the execution directory; every output
        must be written under it.
    :param scratch_dir: survives a failed or killed attempt with the same fingerprint and is
        removed after success: checkpoints that let a retry resume.
    """

    spec: ComponentSpec
    output_dir: str
    scratch_dir: str
    log: logging.Logger
    #: the spec's parameters as the component's typed record (a plain dict for untyped components)
    params: Any = None

    @property
    def settings(self) -> dict[str, Any]:
        return self.spec.settings

    def output_uri(self, *parts: str) -> str:
        return join_uri(self.output_dir, *parts)


@dataclass(frozen=True)
class Component:
    """A runtime component, like a TFX component spec plus its executor.

    :param name: the name used on the command line and in artifact paths.
    :param run: the executor: writes outputs under ``context.output_dir`` and returns them.
    :param outputs: output names and their artifact types.
    :param inputs: input names and the artifact type each must have.
    :param external_fingerprint: for components that read state from outside the artifact
        store (ingest's source data, the registry's champion), a fingerprint of that state, so
        the cache notices when it changes.
    :param cacheable: ``False`` for steps whose effect is outside the artifact store (registry
        updates): they always run, and must be idempotent.
    :param params: the parameter record the spec's params are read into (checked before the
        component runs); ``None``: a plain dict, unchecked (a project's own component may do so).
    """

    name: str
    run: Callable[[ExecutionContext], ComponentResult]
    outputs: Mapping[str, str]
    inputs: Mapping[str, str] = field(default_factory=dict)
    external_fingerprint: Callable[[ComponentSpec], str] | None = None
    cacheable: bool = True
    params: type[Record] | None = None
    #: inputs that may be given or not (checked when given)
    optional_inputs: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def implementing(
        cls,
        interface: ComponentInterface,
        run: Callable[[ExecutionContext], ComponentResult],
        external_fingerprint: Callable[[ComponentSpec], str] | None = None,
    ) -> Component:
        """The runtime side of a built-in component: name, parameters, inputs and outputs come
        from its interface in the contract."""
        return cls(
            name=interface.name,
            run=run,
            outputs=interface.outputs,
            inputs=interface.inputs,
            external_fingerprint=external_fingerprint,
            cacheable=interface.cacheable,
            params=interface.params,
            optional_inputs=interface.optional_inputs,
        )

    @property
    def code_version(self) -> str:
        """A hash of the executor's module and of every runtime module it imports, directly or
        not (the ML helpers it calls): an edit to any of them invalidates caches."""
        module = inspect.getmodule(self.run)
        assert module is not None
        digest = hashlib.sha256()
        for name in sorted(project_imports(module.__name__)):
            digest.update(name.encode() + b"\0" + _source(name).encode())
        return digest.hexdigest()[:12]


#: the directory holding the ``airflow_mlops`` package
PACKAGES_ROOT = Path(__file__).resolve().parents[3]


def _module_file(module: str) -> Path | None:
    """The source file of a module of this project, found without importing anything: finding
    ``pkg.mod.name`` with importlib imports ``pkg.mod`` (and ``preprocessing`` imports keras,
    3 s: a cache hit of train paid it just to compute its code version)."""
    base = PACKAGES_ROOT.joinpath(*module.split("."))
    return next((p for p in (base.with_suffix(".py"), base / "__init__.py") if p.is_file()), None)


def _source(module: str) -> str:
    path = _module_file(module)
    return path.read_text() if path is not None else ""


#: how components are run, not what they compute (the contract is not followed either)
FRAMEWORK = frozenset({"airflow_mlops.runtime.components.base", "airflow_mlops.runtime.components.runner"})


def _is_module(name: str) -> bool:
    return _module_file(name) is not None  # not pkg.name where name is a function or class of pkg


@functools.cache
def project_imports(module: str) -> frozenset[str]:
    """``module`` and the runtime modules it imports, transitively: every import statement
    counts, also those inside functions (the heavy ones are imported lazily)."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        source = _source(name)
        if not source:
            continue
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                found = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                # ``from pkg import module`` imports pkg.module too
                found = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            else:
                found = []
            for imported in found:
                if imported.startswith("airflow_mlops.runtime.") and imported not in FRAMEWORK and _is_module(imported):
                    todo.append(imported)
    return frozenset(seen)
