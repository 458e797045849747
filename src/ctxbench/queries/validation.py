"""Input checks with the service's limits, and one clear message per bad value.

Every message names the query, the parameter, the value and what is allowed, because a
scenario author reads it, not a developer. Two surfaces exist: ``builder`` (the Go SQL builder
and aggregation service, the widest limits) and ``http`` (the REST handlers, stricter).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from ctxbench.errors import UsageError

SURFACES = ("builder", "http")
EMBEDDING_DIMS = 384
INT64_MAX = 2**63 - 1


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class Checker:
    """Collects the normalized parameters of one query call; raises on the first bad one."""

    def __init__(self, query: str, params: Mapping[str, Any], allowed: Sequence[str],
                 surface: str) -> None:
        if surface not in SURFACES:
            raise UsageError(f"{query}: surface {surface!r} is not allowed; allowed: "
                             f"{', '.join(SURFACES)}")
        if not isinstance(params, Mapping):
            raise UsageError(f"{query}: parameters must be a mapping, got {type(params).__name__}")
        unknown = sorted(set(params) - set(allowed))
        if unknown:
            raise UsageError(f"{query}: unknown parameter(s) {', '.join(unknown)}; allowed: "
                             f"{', '.join(allowed) or '(none)'}")
        self.query, self.params, self.surface = query, params, surface
        self.out: dict[str, Any] = {}

    def fail(self, key: str, value: Any, allowed: str) -> UsageError:
        return UsageError(f"{self.query}: {key}={_short(value)} is not allowed; {allowed}")

    def given(self, key: str) -> bool:
        return self.params.get(key) is not None

    def integer(self, key: str, default: int | None, lo: int, hi: int | None,
                *, required: bool = False) -> int | None:
        value = self.params.get(key)
        if value is None:
            if required:
                raise self.fail(key, value, f"{key} is required ({_range(lo, hi)})")
            self.out[key] = default
            return default
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise self.fail(key, value, f"expected an integer {_range(lo, hi)}")
        value = int(value)
        if value < lo or (hi is not None and value > hi):
            raise self.fail(key, value, f"allowed {_range(lo, hi)} ({self.surface} surface)")
        self.out[key] = value
        return value

    def number(self, key: str, default: float | None, lo: float, hi: float) -> float | None:
        value = self.params.get(key)
        if value is None:
            self.out[key] = default
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise self.fail(key, value, f"expected a number in [{lo:g}, {hi:g}]")
        value = float(value)
        if not math.isfinite(value) or value < lo or value > hi:
            raise self.fail(key, value, f"allowed [{lo:g}, {hi:g}]")
        self.out[key] = value
        return value

    def text(self, key: str, *, required: bool = False, max_len: int | None = None,
             empty_is_none: bool = False) -> str | None:
        value = self.params.get(key)
        if value is None or (empty_is_none and value == ""):
            if required:
                raise self.fail(key, value, f"{key} is required (a non-empty string)")
            self.out[key] = None
            return None
        if not isinstance(value, str) or value == "":
            raise self.fail(key, value, "expected a non-empty string")
        if max_len is not None and len(value) > max_len:
            raise self.fail(key, value, f"at most {max_len} characters")
        self.out[key] = value
        return value

    def timestamp(self, key: str) -> datetime | None:
        value = self.params.get(key)
        if value is None:
            self.out[key] = None
            return None
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                raise self.fail(key, value, "expected an ISO-8601 timestamp") from None
        if not isinstance(value, datetime):
            raise self.fail(key, value, "expected a timestamp (datetime or ISO-8601 string)")
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)  # the service's Go times are zoned; assume UTC
        self.out[key] = value
        return value

    def time_range(self, start_key: str, end_key: str) -> None:
        start, end = self.timestamp(start_key), self.timestamp(end_key)
        if (start is None) != (end is None):
            missing = end_key if end is None else start_key
            raise self.fail(missing, None, f"{start_key} and {end_key} go together "
                            "(action_timestamp BETWEEN start AND end)")
        if start is not None and end is not None and start > end:
            raise self.fail(start_key, start.isoformat(), f"must not be after {end_key}="
                            f"{end.isoformat()}")

    def embedding(self, key: str) -> np.ndarray:
        value = self.params.get(key)
        if value is None:
            raise self.fail(key, value, f"{key} is required ({EMBEDDING_DIMS} floats)")
        try:
            arr = np.asarray(value, dtype=np.float32)
        except (TypeError, ValueError):
            raise self.fail(key, value, f"expected {EMBEDDING_DIMS} floats") from None
        if arr.ndim != 1 or arr.shape[0] != EMBEDDING_DIMS:
            raise self.fail(key, f"<{arr.size} values, shape {arr.shape}>",
                            f"expected exactly {EMBEDDING_DIMS} dimensions (vector(384))")
        if not np.isfinite(arr).all():
            raise self.fail(key, "<non-finite values>", "every value must be finite")
        self.out[key] = arr
        return arr

    def go_duration(self, key: str, default: str, max_seconds: float) -> str:
        value = self.params.get(key)
        if value is None:
            value = default
        seconds = parse_duration(value, where=f"{self.query}: {key}")
        if seconds < 1 or seconds > max_seconds:
            raise self.fail(key, value, f"allowed a duration from 1s to "
                            f"{format_go_duration(max_seconds)}")
        text = format_go_duration(seconds)
        self.out[key] = text
        return text

    def text_list(self, key: str, lo: int, hi: int) -> list[str]:
        value = self.params.get(key)
        if isinstance(value, str) or not isinstance(value, Sequence) or value is None:
            raise self.fail(key, value, f"expected a list of {lo}–{hi} strings")
        items = list(value)
        if not lo <= len(items) <= hi:
            raise self.fail(key, f"<{len(items)} items>", f"allowed {lo}–{hi} items")
        for item in items:
            if not isinstance(item, str) or item == "":
                raise self.fail(key, item, "every item must be a non-empty string")
        self.out[key] = items
        return items

    def only_on_builder(self, keys: Sequence[str]) -> None:
        if self.surface != "http":
            return
        used = [k for k in keys if self.given(k)]
        if used:
            raise self.fail(used[0], self.params[used[0]],
                            "the HTTP handler does not pass this filter to the query "
                            "(only the builder supports it); use surface='builder'")


def _range(lo: int, hi: int | None) -> str:
    return f">= {lo}" if hi is None else f"{lo}–{hi}"


# --- Go durations -------------------------------------------------------------------------
# The service passed time.Duration.String() ("24h0m0s") to PostgreSQL as ``$1::interval``.

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0,
          "h": 3600.0}
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(value: Any, *, where: str = "duration") -> float:
    """Seconds in a Go duration string ("24h0m0s", "1h30m", "90s"), a timedelta or a number."""
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bool):
        raise UsageError(f"{where}={value!r} is not a duration")
    if isinstance(value, (int, float)):
        return float(value)
    if not isinstance(value, str) or not value:
        raise UsageError(f"{where}={_short(value)} is not a duration; expected a Go duration "
                         "string such as '24h0m0s', '30m0s' or '168h'")
    pos, total = 0, 0.0
    for match in _DURATION.finditer(value):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(value):
        raise UsageError(f"{where}={_short(value)} is not a Go duration; expected e.g. "
                         "'24h0m0s', '30m0s', '168h' (units h, m, s, ms, us, ns)")
    return total


def format_go_duration(seconds: float) -> str:
    """What Go's ``time.Duration.String()`` prints (for whole-millisecond and longer values)."""
    nanos = round(seconds * 1e9)
    if nanos == 0:
        return "0s"
    sign = "-" if nanos < 0 else ""
    nanos = abs(nanos)
    if nanos < 1_000_000_000:  # Go prints sub-second values with the largest fitting unit
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if nanos >= size:
                return sign + _trim(nanos / size) + unit
    hours, rest = divmod(nanos, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    secs = _trim(rest / 1e9)
    if hours:
        return f"{sign}{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{sign}{minutes}m{secs}s"
    return f"{sign}{secs}s"


def _trim(value: float) -> str:
    text = f"{value:.9f}".rstrip("0").rstrip(".")
    return text or "0"
