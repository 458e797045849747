"""Seeded, realistic parameters for every query, drawn from a DatasetProfile.

Why varied parameters: one repeated parameter set measures a cache (the service's, the
buffer pool's, the plan cache's), not the query. Each draw says what it is (``kind``) so a
report can split e.g. existing from missing ids, or near from far query vectors.

Determinism: the draws depend only on (profile, seed, query, stream, n); each query and
stream has its own generator, derived by name, so adding a query or a stream never changes
the others, and ``sample(q, 10)`` is a prefix of ``sample(q, 20)``.

Without replacement (``distinct=True``, what the measuring phases ask for): a draw whose
statement (``ParamSet.id``) was already drawn in the same call is redrawn, so n sets are n
distinct statements where the parameter space has them. After ``MAX_REDRAWS`` duplicates in
a row the space counts as exhausted and the remaining draws may repeat (e.g. a query without
parameters has one statement); reports count the distinct statements a group really had.
Where one kind of draw has a small space (a few known ids), distinct draws shift the kind mix
towards the larger kinds; ``distinct=False`` (the default) keeps the service's mix exactly
(load runs, which replay arrivals).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from ctxbench.errors import UsageError
from ctxbench.queries.aggregations import MAX_WINDOW_S
from ctxbench.queries.catalog import catalog
from ctxbench.queries.profile import DatasetProfile
from ctxbench.queries.validation import EMBEDDING_DIMS, format_go_duration

MIXES = ("service", "extended")
MAX_REDRAWS = 200
WINDOW_MODES = ("data", "now")
# The queries whose answers are relative to NOW(), their parameter and the longest window it allows.
NOW_RELATIVE = {"trend": ("days", 365 * 86400.0), "top_failing_actions": ("time_window", MAX_WINDOW_S),
                "action_comparison": ("time_window", MAX_WINDOW_S),
                "namespace_health": ("time_window", MAX_WINDOW_S)}


# -- parameter sets ----------------------------------------------------------------------------
def _canonical(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        data = np.ascontiguousarray(value, dtype="<f4").tobytes()
        return {"float32_sha256": hashlib.sha256(data).hexdigest(), "n": int(value.size)}
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    return value


def param_id(params: Mapping[str, Any], query: str = "") -> str:
    """A short stable hash of the query name and canonical parameters: same parameters,
    same id (absent and None parameters are the same thing)."""
    canon = {k: _canonical(v) for k, v in sorted(params.items()) if v is not None}
    text = json.dumps([query, canon], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class ParamSet:
    query: str
    params: dict[str, Any] = field(hash=False)
    id: str = ""
    kind: str = ""

    @classmethod
    def of(cls, query: str, params: dict[str, Any], kind: str = "") -> ParamSet:
        return cls(query, params, param_id(params, query), kind)

    def to_json(self) -> dict[str, Any]:
        """Full parameters (embeddings as lists of floats) so a run can replay them."""
        def plain(v: Any) -> Any:
            if isinstance(v, np.ndarray):
                return [float(x) for x in v]
            if isinstance(v, datetime):
                return v.isoformat()
            return v
        return {"query": self.query, "id": self.id, "kind": self.kind,
                "params": {k: plain(v) for k, v in self.params.items()}}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ParamSet:
        query = catalog.get(data.get("query", ""))
        if query is None:
            raise UsageError(f"parameter set names unknown query {data.get('query')!r}")
        params = query.validate(data.get("params") or {})
        params = {k: v for k, v in params.items() if k in (data.get("params") or {})}
        return cls(query.name, params, param_id(params, query.name), str(data.get("kind", "")))


# -- helpers -----------------------------------------------------------------------------------
def _stream_rng(seed: int, query: str, stream: str) -> np.random.Generator:
    digest = hashlib.sha256(f"ctxbench.sampler\0{query}\0{stream}".encode()).digest()
    return np.random.default_rng([int(seed) & (2**63 - 1), int.from_bytes(digest[:8], "little")])


def _weighted(rng: np.random.Generator, counts: list[tuple[str, int]]) -> str:
    weights = np.array([n for _, n in counts], dtype=float)
    return counts[int(rng.choice(len(counts), p=weights / weights.sum()))][0]


def _pick(rng: np.random.Generator, options: list[tuple[Any, float]]) -> Any:
    probs = np.array([p for _, p in options], dtype=float)
    return options[int(rng.choice(len(options), p=probs / probs.sum()))][0]


def _freq(counts: list[tuple[str, int]], value: str | None, total: int) -> float:
    if value is None:
        return 1.0
    return next((n for k, n in counts if k == value), 0) / max(total, 1)


def _unknown(rng: np.random.Generator, prefix: str) -> str:
    return f"{prefix}-{rng.integers(0, 2**32):08x}"


WINDOWS_H = [(1, 0.1), (24, 0.35), (168, 0.3), (720, 0.2), (2160, 0.05)]
RANGE_WIDTHS_H = [(1, 0.15), (24, 0.35), (168, 0.25), (720, 0.2), (2160, 0.05)]


# -- windows relative to the data ---------------------------------------------------------------
@dataclass(frozen=True)
class WindowShift:
    """How far NOW() is past the end of the data: the service's "last 7 days" on a live system
    is the last 7 days of the dataset, i.e. a window of (NOW() − data end) + 7 days.

    ``now`` is the server's ``now()`` when the profile was read (so every sampler built from one
    profile draws the same windows); ``data_end`` the latest ``action_timestamp`` (windows on
    ``action_timestamp``) and ``created_end`` the latest ``created_at`` (the trend filters it).
    The shift is rounded up to a whole minute (windows) or day (``trend``'s whole days), so a
    window always covers at least its intended span of data, unless the allowed range clips it.
    """

    mode: str
    now: datetime | None
    data_end: datetime
    created_end: datetime

    @classmethod
    def of(cls, profile: DatasetProfile, mode: str = "data") -> WindowShift:
        if mode not in WINDOW_MODES:
            raise UsageError(f"window mode {mode!r} is not allowed; allowed: {', '.join(WINDOW_MODES)}")
        return cls(mode, profile.captured_at, profile.ts_max, profile.created_max)

    def _lag_s(self, end: datetime) -> float:
        if self.mode == "now" or self.now is None:
            return 0.0
        return max((self.now - end).total_seconds(), 0.0)

    @property
    def window_shift_s(self) -> float:
        """Added to every Go-duration window: NOW() − data end, rounded up to a minute."""
        return math.ceil(self._lag_s(self.data_end) / 60.0) * 60.0

    @property
    def trend_shift_days(self) -> int:
        """Added to trend's ``days``: NOW() − last created_at, rounded up to a day."""
        return math.ceil(self._lag_s(self.created_end) / 86400.0)

    def shift_s(self, query: str) -> float:
        return self.trend_shift_days * 86400.0 if query == "trend" else self.window_shift_s

    def reach(self, query: str) -> tuple[float, float]:
        """(shift, longest window allowed) in seconds for a NOW()-relative query."""
        return self.shift_s(query), NOW_RELATIVE[query][1]

    def problem(self, query: str) -> str | None:
        """Why the allowed range cannot reach the data for ``query`` (None if it can)."""
        if query not in NOW_RELATIVE:
            return None
        shift, longest = self.reach(query)
        if shift < longest:
            return None
        param = NOW_RELATIVE[query][0]
        allowed = "1–365" if param == "days" else "1s–8760h0m0s"
        return (f"{query}: the dataset ends {shift / 86400:.0f} days before NOW() (data end "
                f"{self.data_end.isoformat()}, NOW() {self.now.isoformat() if self.now else '?'}), "
                f"but {param} allows only {allowed} (up to {longest / 86400:.0f} days): no window "
                "can reach the data, so every answer would be empty. Seed the dataset with a later "
                "anchor (`--anchor`, or dataset.anchor in the scenario) or exclude the query")

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "now": self.now.isoformat() if self.now else None,
                "data_end": self.data_end.isoformat(), "created_end": self.created_end.isoformat(),
                "window_shift_s": self.window_shift_s, "trend_shift_days": self.trend_shift_days}


# -- the sampler -------------------------------------------------------------------------------
class ParamSampler:
    """Draws parameter sets valid on ``surface``; ``mix='service'`` draws what the service
    sent, ``'extended'`` adds the builder-only filters and the semantic-search filters.

    ``windows='data'`` (default) draws the windows of the NOW()-relative queries (trend, top
    failing actions, action comparison, namespace health) relative to the end of the data (see
    :class:`WindowShift`), so a dataset anchored in the past is measured on the same share of its
    rows as a live one; ``'now'`` sends the intended spans as they are (the service's values)."""

    def __init__(self, profile: DatasetProfile, seed: int, *, surface: str = "builder",
                 mix: str = "service", windows: str = "data") -> None:
        if mix not in MIXES:
            raise UsageError(f"sampler mix {mix!r} is not allowed; allowed: {', '.join(MIXES)}")
        if surface not in ("builder", "http"):
            raise UsageError(f"sampler surface {surface!r} is not allowed; allowed: builder, http")
        if not profile.namespaces or not profile.severities or not profile.action_types:
            raise UsageError("the dataset profile has no namespaces/severities/action types; "
                             "is the dataset loaded? (run `ctxbench seed` first)")
        self.profile, self.seed, self.surface, self.mix = profile, int(seed), surface, mix
        self.shift = WindowShift.of(profile, windows)
        self.clipped: dict[str, int] = {}  # windows cut short by the allowed range, per query
        self._draw: dict[str, Callable[[np.random.Generator], tuple[dict[str, Any], str]]] = {
            "list_incidents": self._list, "count_incidents": self._count,
            "get_incident": self._get, "semantic_search": self._semantic,
            "success_rate": self._success_rate, "by_namespace": lambda rng: ({}, "no_params"),
            "severity_distribution": self._severity, "trend": self._trend,
            "filtered_aggregation": self._filtered, "top_failing_actions": self._top_failing,
            "action_comparison": self._comparison, "namespace_health": self._health,
        }

    def sample(self, query: str, n: int, *, stream: str = "measure",
               distinct: bool = False) -> list[ParamSet]:
        if query not in self._draw:
            raise UsageError(f"no sampler for query {query!r}; allowed: {', '.join(self._draw)}")
        if n < 0:
            raise UsageError(f"sample size n={n} is not allowed; allowed >= 0")
        problem = self.shift.problem(query)
        if problem and n:
            raise UsageError(problem)
        rng = _stream_rng(self.seed, query, stream)
        validate = catalog[query].validate
        out: list[ParamSet] = []
        seen: set[str] = set()
        redraws, exhausted = 0, catalog[query].parameterless or not distinct
        while len(out) < n:
            params, kind = self._draw[query](rng)
            ps = ParamSet.of(query, params, kind)
            if ps.id in seen and not exhausted:
                redraws += 1
                exhausted = redraws >= MAX_REDRAWS
                continue
            redraws = 0
            validate(params, surface=self.surface)  # a sampler bug must fail loudly, here
            seen.add(ps.id)
            out.append(ps)
        return out

    # -- shared pieces ---------------------------------------------------------------------
    @property
    def _extended(self) -> bool:
        return self.mix == "extended"

    @property
    def _builder_filters(self) -> bool:
        """The list's builder-only filters: extended mix, and only where the surface has them."""
        return self._extended and self.surface == "builder"

    def _namespace(self, rng: np.random.Generator, miss_share: float) -> tuple[str, bool]:
        if rng.random() < miss_share:  # as the service's cache-miss test: unknown namespaces
            return _unknown(rng, "ns-miss"), True
        return _weighted(rng, self.profile.namespaces), False

    def check_windows(self, queries: list[str]) -> list[str]:
        """Refuse (UsageError naming the query and the allowed range) when the allowed range
        cannot reach the data; return warnings where the longest windows will be cut short."""
        problems = [p for q in queries if (p := self.shift.problem(q))]
        if problems:
            raise UsageError("; ".join(problems))
        warnings = []
        for q in dict.fromkeys(queries):
            if q not in NOW_RELATIVE:
                continue
            shift, longest = self.shift.reach(q)
            widest = (90 if q == "trend" else max(h for h, _ in WINDOWS_H) / 24) * 86400.0
            if shift + widest > longest:
                warnings.append(f"{q}: windows are shifted by {shift / 86400:.1f} days to reach the "
                                f"data, so those wider than {(longest - shift) / 86400:.0f} days are "
                                f"cut to the allowed {longest / 86400:.0f} days")
        return warnings

    def window_info(self) -> dict[str, Any]:
        """What the run records: the shift and how many drawn windows the allowed range clipped."""
        return {**self.shift.to_json(), "clipped": dict(self.clipped)}

    def _shifted_s(self, query: str, span_s: float) -> float:
        shift, longest = (self.shift.reach(query) if query in NOW_RELATIVE
                          else (0.0, MAX_WINDOW_S))
        if shift + span_s > longest:
            self.clipped[query] = self.clipped.get(query, 0) + 1
            return longest
        return shift + span_s

    def _window(self, rng: np.random.Generator, query: str) -> tuple[str, str]:
        hours = _pick(rng, WINDOWS_H)
        return format_go_duration(self._shifted_s(query, hours * 3600.0)), f"window_{hours}h"

    def _time_range(self, rng: np.random.Generator) -> tuple[datetime, datetime, int]:
        p = self.profile
        hours = _pick(rng, RANGE_WIDTHS_H)
        span = max((p.ts_max - p.ts_min).total_seconds() - hours * 3600.0, 0.0)
        start = p.ts_min + timedelta(seconds=float(rng.random()) * span)
        start = start.replace(microsecond=0).astimezone(UTC)
        return start, start + timedelta(hours=hours), hours

    def _filters(self, rng: np.random.Generator) -> tuple[dict[str, Any], str, float]:
        """List/count filters, their label and the share of traces they are expected to match."""
        p = self.profile
        shape = _pick(rng, [("ns", 0.4), ("ns+sev", 0.25), ("sev", 0.1), ("none", 0.1),
                            ("unknown_ns", 0.1), ("builder", 0.05 if self._builder_filters else 0.0)])
        params: dict[str, Any] = {}
        share = 1.0
        if shape == "unknown_ns":
            params["namespace"] = _unknown(rng, "ns-miss")
            return params, shape, 0.0
        if shape in ("ns", "ns+sev", "builder"):
            params["namespace"] = _weighted(rng, p.namespaces)
            share *= _freq(p.namespaces, params["namespace"], p.traces)
        if shape in ("sev", "ns+sev"):
            params["severity"] = _weighted(rng, p.severities)
            share *= _freq(p.severities, params["severity"], p.traces)
        if self._builder_filters and shape in ("builder", "none", "sev") and rng.random() < 0.6:
            shape = "builder"
            if p.clusters and rng.random() < 0.5:
                params["cluster_name"] = _weighted(rng, p.clusters)
                share *= _freq(p.clusters, params["cluster_name"], p.traces)
            if p.environments and rng.random() < 0.5:
                params["environment"] = _weighted(rng, p.environments)
                share *= _freq(p.environments, params["environment"], p.traces)
            if rng.random() < 0.4:
                params["action_type"] = _weighted(rng, p.action_types)
                share *= _freq(p.action_types, params["action_type"], p.traces)
            if rng.random() < 0.5:
                start, end, hours = self._time_range(rng)
                params["start_time"], params["end_time"] = start, end
                total_h = max((p.ts_max - p.ts_min).total_seconds() / 3600.0, 1.0)
                share *= min(1.0, hours / total_h)
        return params, shape, share

    # -- per query -------------------------------------------------------------------------
    def _list(self, rng: np.random.Generator) -> tuple[dict[str, Any], str]:
        params, shape, share = self._filters(rng)
        limits = [(10, 0.45), (20, 0.15), (5, 0.1), (50, 0.1), (100, 0.2)]
        if self._builder_filters:
            limits.append((1000, 0.05))
        limit = _pick(rng, limits)
        pages = max(1, math.ceil(self.profile.traces * share / limit))
        u = rng.random()
        if u < 0.5 or pages == 1:
            page, label = 0, "page_0"
        elif u < 0.8:
            page = int(rng.integers(1, min(5, pages - 1) + 1))
            label = f"page_{page}"
        elif u < 0.95:
            page, label = int(rng.integers(0, pages)), "deep_page"
        else:
            page, label = pages + int(rng.integers(0, 3)), "past_end"
        params["limit"], params["offset"] = limit, page * limit
        return params, f"{shape}/{label}"

    def _count(self, rng: np.random.Generator) -> tuple[dict[str, Any], str]:
        params, shape, _ = self._filters(rng)
        return params, shape

    def _get(self, rng: np.random.Generator) -> tuple[dict[str, Any], str]:
        p = self.profile
        if rng.random() < 0.8 and p.sample_ids:
            return {"id": int(p.sample_ids[int(rng.integers(0, len(p.sample_ids)))])}, "existing_id"
        return {"id": int(p.id_max + 1 + rng.integers(0, 1_000_000))}, "missing_id"

    def _semantic(self, rng: np.random.Generator) -> tuple[dict[str, Any], str]:
        sample = self.profile.embedding_sample
        if len(sample) and rng.random() < 0.7:
            noise = _pick(rng, [(0.05, 0.4), (0.15, 0.4), (0.3, 0.2)])
            base = sample[int(rng.integers(0, len(sample)))].astype(np.float64)
            base = base / (np.linalg.norm(base) or 1.0)
            vec = base + rng.normal(0.0, noise / math.sqrt(EMBEDDING_DIMS), EMBEDDING_DIMS)
            kind = f"near_{noise:g}"
        else:
            vec = rng.normal(0.0, 1.0, EMBEDDING_DIMS)
            kind = "far"
        vec = (vec / np.linalg.norm(vec)).astype(np.float32)
        http = self.surface == "http"
        limit = _pick(rng, [(10, 0.6), (5, 0.15), (20, 0.15), (50, 0.05),
                            (100, 0.0 if http else 0.05)])
        threshold = _pick(rng, [(0.5, 0.35), (0.7, 0.25), (0.0, 0.1), (0.3, 0.1), (0.8, 0.1),
                                (0.9, 0.1)])
        params: dict[str, Any] = {"embedding": vec, "threshold": threshold, "limit": limit}
        if self._extended and rng.random() < 0.3:
            p = self.profile
            which = _pick(rng, [("cluster_name", 0.35), ("environment", 0.25),
                                ("namespace", 0.25), ("severity", 0.15)])
            counts = {"cluster_name": p.clusters, "environment": p.environments,
                      "namespace": p.namespaces, "severity": p.severities}[which]
            if counts:
                params[which] = _weighted(rng, counts)
                kind += f"+{which}"
        return params, kind

    def _success_rate(self, rng: np.random.Generator) -> tuple[dict[str, Any], str]:
        # The HTTP route requires workflow_id (and ignores it); the SQL is always the same.
        if self.surface == "http":
            return {"workflow_id": "workflow-1"}, "no_params"
        return {}, "no_params"

    def _severity(self, rng: np.random.Generator) -> tuple[dict[str, Any], str]:
        u = rng.random()
        if u < 0.2:
            return {}, "all_namespaces"
        ns, miss = self._namespace(rng, 0.125)
        return {"namespace": ns}, "unknown_ns" if miss else "ns"

    def _trend(self, rng: np.random.Generator) -> tuple[dict[str, Any], str]:
        days = _pick(rng, [(7, 0.3), (30, 0.35), (90, 0.2), (1, 0.05), (None, 0.1)])
        label = f"days_{days}"
        if days is None:
            days, label = int(rng.integers(1, 366)), "days_any"
        return {"days": round(self._shifted_s("trend", days * 86400.0) / 86400.0)}, label

    def _filtered(self, rng: np.random.Generator) -> tuple[dict[str, Any], str]:
        p = self.profile
        params: dict[str, Any] = {}
        options = [("namespace", p.namespaces, 0.5), ("cluster_name", p.clusters, 0.3),
                   ("environment", p.environments, 0.3), ("severity", p.severities, 0.3),
                   ("action_type", p.action_types, 0.25), ("phase", p.statuses, 0.2)]
        for key, counts, prob in options:
            if counts and rng.random() < prob:
                params[key] = _weighted(rng, counts)
        if rng.random() < 0.3:
            start, end, _ = self._time_range(rng)
            params["start_time"], params["end_time"] = start, end
        if params.get("namespace") and rng.random() < 0.1:
            params["namespace"] = _unknown(rng, "ns-miss")
        return params, "+".join(sorted(params)) or "none"

    def _top_failing(self, rng: np.random.Generator) -> tuple[dict[str, Any], str]:
        window, label = self._window(rng, "top_failing_actions")
        limit = _pick(rng, [(10, 0.5), (5, 0.2), (20, 0.2), (100, 0.1)])
        return {"time_window": window, "limit": limit}, label

    def _comparison(self, rng: np.random.Generator) -> tuple[dict[str, Any], str]:
        types = [t for t, _ in self.profile.action_types]
        k = int(min(len(types), _pick(rng, [(2, 0.3), (3, 0.25), (5, 0.25), (10, 0.1),
                                            (20, 0.1)])))
        weights = np.array([n for _, n in self.profile.action_types], dtype=float)
        chosen = list(rng.choice(len(types), size=k, replace=False, p=weights / weights.sum()))
        picked = [types[i] for i in chosen]
        kind = f"types_{k}"
        if rng.random() < 0.1:
            picked[-1] = _unknown(rng, "action-miss")
            kind += "+unknown"
        window, label = self._window(rng, "action_comparison")
        return {"action_types": picked, "time_window": window}, f"{kind}/{label}"

    def _health(self, rng: np.random.Generator) -> tuple[dict[str, Any], str]:
        ns, miss = self._namespace(rng, 0.1)
        window, label = self._window(rng, "namespace_health")
        return {"namespace": ns, "time_window": window}, ("unknown_ns" if miss else "ns") + \
            f"/{label}"
