"""Reading results files someone may have truncated or edited: a record whose fields are
missing, unknown or of the wrong type is a usage error naming the file, the field and what
was expected — never a traceback deep inside the analysis."""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ctxbench.errors import UsageError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")


def _ok(tp: Any, value: Any) -> bool:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_ok(a, value) for a in typing.get_args(tp))
    if tp is type(None):
        return value is None
    if tp is Any:
        return True
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return (isinstance(value, int | float) and not isinstance(value, bool)
                and math.isfinite(value))
    if tp is str:
        return isinstance(value, str)
    if origin is dict or tp is dict:
        return isinstance(value, dict)
    if origin is list or tp is list:
        return isinstance(value, list)
    return True


def record(cls: type[T], data: Any, where: str | Path) -> T:
    """``cls(**data)`` after checking ``data`` field by field (``schema_version`` ignored)."""
    if not isinstance(data, dict):
        raise UsageError(f"{where}: expected a JSON object, got {type(data).__name__}")
    data = {k: v for k, v in data.items() if k != "schema_version"}
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise UsageError(f"{where}: unknown field {unknown[0]!r}; allowed: {', '.join(fields)}")
    missing = [n for n, f in fields.items() if n not in data and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        raise UsageError(f"{where}: missing field {missing[0]!r} (a truncated or foreign file?)")
    for name, value in data.items():
        if not _ok(hints[name], value):
            shown = repr(value)
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            raise UsageError(f"{where}: field {name!r} = {shown} has the wrong type; expected "
                             f"{getattr(hints[name], '__name__', None) or str(hints[name])}")
    return cls(**data)
