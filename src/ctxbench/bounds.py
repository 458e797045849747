"""One definition of every numeric bound: the scenario dataclasses' ``lo``/``hi`` metadata.
Command-line options that override a scenario key are checked against the same bound, so
``--workers 100000`` fails exactly like ``[load] workers = 100000`` (exit 2, naming both)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from ctxbench.errors import UsageError


def bound(cls: type, name: str) -> tuple[float | None, float | None]:
    meta = {f.name: f.metadata for f in dataclasses.fields(cls)}[name]
    return meta.get("lo"), meta.get("hi")


def check(cls: type, name: str, value: Any, option: str, key: str | None = None) -> Any:
    """``value`` if finite and within the bound of scenario field ``cls.name``, else a UsageError
    naming the option, the scenario key and the allowed range."""
    if value is None:
        return value
    where = f"{option} (scenario key {key})" if key else option
    if isinstance(value, float) and not math.isfinite(value):
        raise UsageError(f"{where} = {value!r} is not allowed; expected a finite number")
    lo, hi = bound(cls, name)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        rng = f"{lo if lo is not None else '-inf'} .. {hi if hi is not None else 'inf'}"
        raise UsageError(f"{where} = {value!r} is not allowed; allowed range: {rng}")
    return value
