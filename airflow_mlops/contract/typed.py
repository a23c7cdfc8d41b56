"""Typed records: standard-library dataclasses read from JSON/YAML with every problem reported
by its field path, and written back as plain JSON.

A field is declared once, with :func:`option` (type from the annotation, default, one-line doc
and bounds); the pipeline YAML loader, the DAG factory, the operators and the components all read
and write the same declaration::

    @dataclass(frozen=True, kw_only=True)
    class TrainOptions(Record):
        epochs: int = option(30, "passes over the training split", gt=0)

    TrainOptions.from_dict({"epochs": "many"}, path="training")
    # RecordError: training.epochs: must be an integer (got 'many')
"""

from __future__ import annotations

import ast
import dataclasses
import math
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar

T = TypeVar("T", bound="Record")

_INVALID = object()
_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false", dict: "a mapping"}


class RecordError(ValueError):
    """Every problem found in one record, each ``<field path>: <what is wrong>``."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


def option(
    default: Any = dataclasses.MISSING,
    doc: str = "",
    *,
    factory: Callable[[], Any] | None = None,
    choices: tuple[Any, ...] | None = None,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    check: Callable[[Any], list[str]] | None = None,
) -> Any:
    """A field of a :class:`Record`.

    :param default: the default (omit for a required field); use ``factory`` for mutable ones.
    :param doc: one line saying what it is, shown in docs and the Airflow UI.
    :param choices: the allowed values.
    :param ge: numbers must be at least this (``ge=0, le=1`` reads "between 0 and 1").
    :param gt: numbers must be greater than this.
    :param le: numbers must be at most this.
    :param lt: numbers must be less than this (``gt=0, lt=1``: strictly between 0 and 1).
    :param check: more rules: a function returning problems (``"<what>"`` or ``"<sub.path>: <what>"``).
    """
    metadata = {"doc": doc, "choices": choices, "ge": ge, "gt": gt, "le": le, "lt": lt, "check": check}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Record:
    """Base of typed records. Subclasses are frozen keyword-only dataclasses of :func:`option` fields."""

    #: Keys accepted in addition to the fields (ignored), e.g. for a config section's sub-sections.
    extra_keys: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def from_dict(cls: type[T], data: Any, *, path: str = "", coerce: bool = False) -> T:
        """Read and check ``data``; raise :class:`RecordError` with every problem.

        :param path: the field path of ``data`` in its document, for messages (``training``).
        :param coerce: accept numbers and booleans written as strings (values rendered from
            Airflow templates, e.g. ``"{{ params.epochs }}"`` -> ``"30"``).
        """
        problems: list[str] = []
        record = read_record(cls, data, path, problems, coerce)
        if problems or record is None:
            raise RecordError(problems)
        return record

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON: nested records as mappings, tuples as lists, unset optional fields left out."""
        return _plain(self)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def describe(cls) -> list[tuple[str, str, Any, str]]:
        """``(name, type, default, doc)`` of every field, for docs and forms."""
        hints = typing.get_type_hints(cls)
        out = []
        for f in dataclasses.fields(cls):
            if f.default is not dataclasses.MISSING:
                default = f.default
            elif f.default_factory is not dataclasses.MISSING:
                default = f.default_factory()
            else:
                default = None
            out.append((f.name, _type_name(hints[f.name]), _plain(default), f.metadata.get("doc", "")))
        return out


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        # an optional field left unset is omitted: reading the mapping back gives the same record
        return {f.name: _plain(v) for f in dataclasses.fields(value) if (v := getattr(value, f.name)) is not None}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def read_record(cls: type[T], data: Any, path: str, problems: list[str], coerce: bool = False) -> T | None:
    """Like :meth:`Record.from_dict`, appending problems to ``problems``; ``None`` when invalid."""
    if data is None:
        data = {}
    if isinstance(data, Record):  # a record where its mapping is expected (a nested default, say)
        data = data.to_dict()
    if not isinstance(data, Mapping):
        problems.append(f"{path or 'the document'}: must be a mapping (got {data!r})")
        return None
    fields = {f.name: f for f in dataclasses.fields(cls)}
    allowed = set(fields) | set(cls.extra_keys)
    for key in sorted(set(data) - allowed, key=str):
        problems.append(f"{_join(path, str(key))}: unknown field (allowed: {', '.join(sorted(allowed))})")
    hints = typing.get_type_hints(cls)
    before = len(problems)
    values = {}
    for name, f in fields.items():
        fpath = _join(path, name)
        if data.get(name) is None:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                problems.append(f"{fpath}: required")
            continue
        value = read_value(hints[name], data[name], fpath, problems, coerce)
        if value is _INVALID:
            continue
        if _check_rules(f.metadata, value, fpath, problems):
            values[name] = value
    if len(problems) > before:
        return None
    return cls(**values)


def _check_rules(meta: Mapping[str, Any], value: Any, path: str, problems: list[str]) -> bool:
    before = len(problems)
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        problems.append(f"{path}: must be one of {', '.join(map(str, choices))} (got {value!r})")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        ge, gt, le, lt = meta.get("ge"), meta.get("gt"), meta.get("le"), meta.get("lt")
        if gt is not None and lt is not None:
            if not gt < value < lt:
                problems.append(f"{path}: must be between {gt:g} and {lt:g} (got {value!r}), both excluded")
            gt = lt = None
        if lt is not None and value >= lt:
            problems.append(f"{path}: must be less than {lt:g} (got {value!r})")
        if ge is not None and le is not None and not ge <= value <= le:
            problems.append(f"{path}: must be between {ge:g} and {le:g} (got {value!r})")
        elif ge is not None and value < ge:
            problems.append(f"{path}: must be {ge:g} or more (got {value!r})")
        elif le is not None and value > le:
            problems.append(f"{path}: must be {le:g} or less (got {value!r})")
        if gt is not None and value <= gt:
            problems.append(f"{path}: must be greater than {gt:g} (got {value!r})")
    check = meta.get("check")
    if check is not None and len(problems) == before:
        for problem in check(value):
            problems.append(f"{path}.{problem}" if ":" in problem.split(" ")[0] else f"{path}: {problem}")
    return len(problems) == before


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp) if a is not type(None))
    if origin is tuple:
        return f"a list of {_type_name(typing.get_args(tp)[0]).removeprefix('a ').removeprefix('an ')}s"
    if origin is dict or tp is dict:
        return "a mapping"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    if tp is Any:
        return "anything"
    return _NAMES.get(tp, getattr(tp, "__name__", str(tp)))


def parse_bool(text: str) -> bool | None:
    """``true``/``1``/``yes``/``on`` or ``false``/``0``/``no``/``off`` (any case); else ``None``."""
    lowered = text.strip().lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    return None


def _coerced(tp: type, value: str) -> Any:
    text = value.strip()
    if tp is bool:
        parsed = parse_bool(text)
        return _INVALID if parsed is None else parsed
    try:
        return tp(text)
    except ValueError:
        return _INVALID


def _rendered(tp: Any, value: Any) -> Any:
    """A value as Airflow renders a template: a container or record as its Python repr
    (``"[16, 8]"``), or - with native rendering - a number where a string was meant."""
    origin = typing.get_origin(tp)
    wants_container = origin in (tuple, dict) or tp is dict or (isinstance(tp, type) and issubclass(tp, Record))
    if isinstance(value, str) and wants_container:
        try:
            return ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            return value
    if tp is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value


def read_value(tp: Any, value: Any, path: str, problems: list[str], coerce: bool = False) -> Any:
    """``value`` checked against the annotation ``tp``; ``_INVALID`` (with a problem) if it is not."""
    origin = typing.get_origin(tp)
    if coerce:
        value = _rendered(tp, value)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(options) == 1:  # an optional field: its type's own problem says more
            return read_value(options[0], value, path, problems, coerce)
        for candidate in options:
            scratch: list[str] = []
            result = read_value(candidate, value, path, scratch, coerce)
            if result is not _INVALID:
                return result
        problems.append(f"{path}: must be {_type_name(tp)} (got {value!r})")
        return _INVALID
    if isinstance(tp, type) and issubclass(tp, Record):
        record = read_record(tp, value, path, problems, coerce)
        return _INVALID if record is None else record
    if origin is tuple:
        item_type = typing.get_args(tp)[0]
        if not isinstance(value, (list, tuple)):
            problems.append(f"{path}: must be {_type_name(tp)} (got {value!r})")
            return _INVALID
        items = [read_value(item_type, v, path, [], coerce) for v in value]
        if any(i is _INVALID for i in items):
            problems.append(f"{path}: must be {_type_name(tp)} (got {value!r})")
            return _INVALID
        return tuple(items)
    if origin is dict or tp is dict:
        if not isinstance(value, Mapping):
            problems.append(f"{path}: must be a mapping (got {value!r})")
            return _INVALID
        args = typing.get_args(tp)
        if not args:
            return dict(value)
        out = {str(key): read_value(args[1], item, _join(path, str(key)), problems, coerce) for key, item in value.items()}
        return _INVALID if any(v is _INVALID for v in out.values()) else out  # every entry's problems, not the first's
    if tp in (int, float, bool, str):
        original = value
        if coerce and isinstance(value, str) and tp is not str:
            value = _coerced(tp, value)
        ok = isinstance(value, tp) and not (isinstance(value, bool) and tp is not bool)
        if tp is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if tp is float and ok and not math.isfinite(value):
            problems.append(f"{path}: must be a finite number (got {original!r})")
            return _INVALID
        if not ok:
            problems.append(f"{path}: must be {_type_name(tp)} (got {original!r})")
            return _INVALID
        return value
    raise TypeError(f"{path}: unsupported field type {tp!r}")
