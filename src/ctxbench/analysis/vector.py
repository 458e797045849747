"""The vector study's analysis: from a vector run's measurements, its summary groups and
vector.json to the sweep table, the Pareto frontier, the ef_search recommendation, plan flips
between statistics states and recall per query kind — the ``vector`` section of summary.json
(``summarize``), which the report's vector section only renders.

Pure functions of the results folder, so ``ctxbench report DIR`` gives the same summary and
section again. The warm-up curves' steady state is decided once, by
``ctxbench.analysis.warmup.detect_steady``, for every table that shows it.

Recommendation rule: per statistics state and selectivity, the smallest ef_search of the
sweep (iterative scan off) whose mean recall@k reaches the target *and* whose latency metric
(p95 by default) stays within the budget. Across selectivities the recommendation is the
largest of those (one setting has to serve every filter); a selectivity no ef_search can
serve is named, with the best the sweep reached and whether an iterative scan did better.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ctxbench.analysis.stats import latency_estimates, mean_estimate, seed_for
from ctxbench.results.model import Measurement
from ctxbench.results.store import ResultsDir
from ctxbench.results.summary_types import EstimateJson

# the statistics state a study measures in → the phase its cells are recorded under
PHASE_OF_STATE = {"before_analyze": "before_analyze.vector",
                  "after_analyze": "after_analyze.vector", "as_found": "vector"}
VECTOR_PHASES = tuple(PHASE_OF_STATE.values())
QUERY = "semantic_search"
DEFAULT_TARGET, DEFAULT_BUDGET_MS, DEFAULT_METRIC = 0.95, 250.0, "p95"


CellKey = tuple[str, str, tuple[tuple[str, str], ...]]


def cell_key(phase: str, variant: str, labels: dict[str, str]) -> CellKey:
    return phase, variant, tuple(sorted((k, v) for k, v in labels.items() if k != "param_kind"))


@dataclass
class Point:
    """One cell as the report shows it."""

    phase: str
    stats: str
    selectivity: str
    filter: str
    kind: str
    variant: str
    ef_search: int
    iterative_scan: str
    threshold: float
    n: int
    recall: EstimateJson | None
    completeness: EstimateJson | None
    fill: EstimateJson | None
    latency: dict[str, Any]
    rows_mean: float | None
    plan_kind: str = "unknown"
    plan_access: str = ""
    settings_applied: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    frontier: bool = False

    @property
    def key(self) -> CellKey:
        return cell_key(self.phase, self.variant, self.labels)

    def lat(self, metric: str) -> float | None:
        e = self.latency.get(metric)
        return float(e["value"]) if e else None

    @property
    def recall_value(self) -> float | None:
        value = self.recall["value"] if self.recall else None
        return float(value) if value is not None else None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Point:
        return cls(**data)


def _metric(group: Mapping[str, Any], name: str) -> EstimateJson | None:
    m = (group.get("metrics") or {}).get(name)
    return m["mean"] if m and m.get("mean") else None


def points(summary: Mapping[str, Any], vec: dict[str, Any]) -> list[Point]:
    cells = {(c["phase"], c["variant"], tuple(sorted(c["labels"].items()))): c
             for c in vec.get("cells", [])}
    out = []
    for g in summary.get("groups", []):
        if g["query"] != QUERY or g["phase"] not in VECTOR_PHASES:
            continue
        labels = g["labels"]
        if "selectivity" not in labels:
            continue
        cell = cells.get((g["phase"], g["variant"], tuple(sorted(labels.items()))), {})
        rows = g.get("rows") or {}
        out.append(Point(
            phase=g["phase"], stats=labels.get("stats", ""), selectivity=labels["selectivity"],
            filter=labels.get("filter", ""), kind=cell.get("kind", _kind(g["variant"], labels)),
            variant=g["variant"], ef_search=int(labels.get("ef_search", 0)),
            iterative_scan=labels.get("iterative_scan", "off"),
            threshold=float(labels.get("threshold", 0)), n=g["n"],
            recall=_metric(g, "recall"), completeness=_metric(g, "completeness"),
            fill=_metric(g, "fill"), latency=g.get("latency_ms") or {},
            rows_mean=rows.get("mean"), plan_kind=cell.get("plan_kind", "unknown"),
            plan_access=cell.get("plan_access", ""),
            settings_applied=cell.get("settings_applied", {}), labels=dict(labels)))
    order = {s: i for i, s in enumerate(f["selectivity"] for f in vec.get("filters", []))}
    phase_rank = {p: i for i, p in enumerate(_phases(vec))}
    kind_rank = {"sweep": 0, "iterative": 1, "shipped": 2}
    out.sort(key=lambda p: (phase_rank.get(p.phase, 9), order.get(p.selectivity, 99),
                            kind_rank.get(p.kind, 3), p.ef_search, p.iterative_scan))
    return out


@dataclass
class Searches:
    """The timed searches of one cell: query kind, latency (ms) and recall (None: no exact
    answer, e.g. a far query under a high threshold)."""

    kinds: list[str] = field(default_factory=list)
    latency_ms: list[float] = field(default_factory=list)
    recall: list[float | None] = field(default_factory=list)


def searches_by_cell(measurements: Iterable[Measurement]) -> dict[CellKey, Searches]:
    out: dict[CellKey, Searches] = {}
    for m in measurements:
        if m.warmup or not m.ok or m.query != QUERY or m.phase not in VECTOR_PHASES:
            continue
        s = out.setdefault(cell_key(m.phase, m.variant, m.labels), Searches())
        s.kinds.append(str(m.labels.get("param_kind", "")))
        s.latency_ms.append(m.latency_ns / 1e6)
        r = (m.metrics or {}).get("recall")
        s.recall.append(None if r is None else float(r))
    return out


def subset(items: list[Point], searches: dict[CellKey, Searches], prefixes: list[str]
           ) -> list[Point]:
    """The points recomputed over the searches whose query kind starts with one of
    ``prefixes`` (recall mean and latency percentiles with bootstrap intervals)."""
    if not prefixes:
        return items
    out = []
    for p in items:
        s = searches.get(p.key)
        if s is None:
            continue
        keep = [i for i, k in enumerate(s.kinds) if any(k.startswith(x) for x in prefixes)]
        if not keep:
            continue
        lat = np.asarray([s.latency_ms[i] for i in keep])
        rec = np.asarray([s.recall[i] for i in keep if s.recall[i] is not None])
        key = "|".join((p.phase, p.variant, p.selectivity, *prefixes))
        recall = mean_estimate(rec, seed=seed_for("vector-recall", key)) if rec.size else None
        latency = {k: v.to_json() for k, v in
                   latency_estimates(lat, seed=seed_for("vector-latency", key)).items()}
        out.append(dataclasses.replace(p, n=len(keep), latency=latency,
                                       recall=recall.to_json() if recall else None))
    return out


def _phases(vec: dict[str, Any]) -> list[str]:
    states = (vec.get("spec") or {}).get("stats") or []
    return [PHASE_OF_STATE[s] for s in states if s in PHASE_OF_STATE] or list(VECTOR_PHASES)


def _kind(variant: str, labels: dict[str, str]) -> str:
    if variant == "as_shipped":
        return "shipped"
    return "sweep" if labels.get("iterative_scan", "off") == "off" else "iterative"


def pareto(items: Iterable[Point], metric: str = "p95") -> list[Point]:
    """Points no other point beats on both recall (higher) and latency (lower), by latency."""
    pts = [p for p in items if p.recall_value is not None and p.lat(metric) is not None]
    front = []
    for p in pts:
        dominated = any(
            (q.recall_value >= p.recall_value and q.lat(metric) <= p.lat(metric))  # type: ignore[operator]
            and (q.recall_value > p.recall_value or q.lat(metric) < p.lat(metric))  # type: ignore[operator]
            for q in pts if q is not p)
        if not dominated:
            front.append(p)
    return sorted(front, key=lambda p: (p.lat(metric), -(p.recall_value or 0)))


@dataclass
class Recommendation:
    phase: str
    selectivity: str
    ef_search: int | None
    recall: float | None
    latency_ms: float | None
    reason: str

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def recommend(sweep: list[Point], target: float, budget_ms: float, metric: str = "p95"
              ) -> tuple[int | None, str, Point | None]:
    """(smallest ef_search meeting target and budget, why, that point) over one sweep."""
    pts = sorted((p for p in sweep if p.recall_value is not None and p.lat(metric) is not None),
                 key=lambda p: p.ef_search)
    if not pts:
        return None, "no measured sweep points", None
    for p in pts:
        if p.recall_value >= target and p.lat(metric) <= budget_ms:  # type: ignore[operator]
            return p.ef_search, (f"smallest ef_search with recall {p.recall_value:.3f} ≥ {target:g} "
                                 f"and {metric} {p.lat(metric):.3g} ms ≤ {budget_ms:g} ms"), p
    reaching = [p for p in pts if p.recall_value >= target]  # type: ignore[operator]
    if reaching:
        p = reaching[0]
        return None, (f"recall reaches {target:g} first at ef_search {p.ef_search}, but its "
                      f"{metric} {p.lat(metric):.3g} ms exceeds {budget_ms:g} ms"), None
    best = max(pts, key=lambda p: (p.recall_value, -p.ef_search))
    return None, (f"no ef_search reaches recall {target:g}: best {best.recall_value:.3f} at "
                  f"ef_search {best.ef_search}"), None


def recommendations(items: list[Point], target: float, budget_ms: float, metric: str = "p95"
                    ) -> dict[str, Any]:
    """Per phase: per selectivity and overall (one ef_search for every filter)."""
    out: dict[str, Any] = {}
    phases: list[str] = []
    for p in items:
        if p.phase not in phases and p.kind == "sweep":  # phases with an ef_search sweep
            phases.append(p.phase)
    for phase in phases:
        rows, sels = [], []
        for p in items:
            if p.phase == phase and p.selectivity not in sels:
                sels.append(p.selectivity)
        for sel in sels:
            sweep = [p for p in items if p.phase == phase and p.selectivity == sel
                     and p.kind == "sweep"]
            ef, why, point = recommend(sweep, target, budget_ms, metric)
            iterative = [p for p in items if p.phase == phase and p.selectivity == sel
                         and p.kind == "iterative" and p.recall_value is not None
                         and p.recall_value >= target and (p.lat(metric) or 0) <= budget_ms]
            if ef is None and iterative:
                best = min(iterative, key=lambda p: p.lat(metric) or 0)
                why += (f"; iterative scan {best.variant} reaches {best.recall_value:.3f} at "
                        f"{metric} {best.lat(metric):.3g} ms")
            rows.append(Recommendation(phase, sel, ef, point.recall_value if point else None,
                                       point.lat(metric) if point else None, why))
        ok = [r for r in rows if r.ef_search is not None]
        missing = [r.selectivity for r in rows if r.ef_search is None]
        overall = max((r.ef_search for r in ok), default=None)  # type: ignore[type-var]
        if overall is None:
            text = "no ef_search meets the target within the budget for any selectivity"
        elif missing:
            text = (f"ef_search {overall} serves {', '.join(r.selectivity for r in ok)}; "
                    f"not reachable by ef_search alone at {', '.join(missing)}")
        else:
            text = f"ef_search {overall} meets recall ≥ {target:g} and {metric} ≤ {budget_ms:g} ms " \
                   "at every selectivity"
        out[phase] = {"per_selectivity": [r.to_json() for r in rows], "overall": overall,
                      "unreachable": missing, "text": text}
    return out


def plan_flips(items: list[Point]) -> list[dict[str, Any]]:
    """Cells whose plan kind differs between statistics states (e.g. exact → HNSW after
    ANALYZE), with recall and completeness on both sides."""
    by_cell: dict[tuple, list[Point]] = {}
    for p in items:
        key = (p.selectivity, p.variant, p.iterative_scan, p.threshold)
        by_cell.setdefault(key, []).append(p)
    out = []
    for (sel, variant, _, _), pts in by_cell.items():
        kinds = {p.plan_kind for p in pts}
        if len(pts) < 2 or len(kinds) < 2:
            continue
        out.append({"selectivity": sel, "variant": variant,
                    "sides": [{"phase": p.phase, "stats": p.stats, "plan": p.plan_kind,
                               "recall": p.recall_value,
                               "completeness": p.completeness["value"] if p.completeness else None,
                               "p95": p.lat("p95")} for p in pts]})
    return out


def recall_by_kind(items: list[Point], searches: dict[CellKey, Searches]) -> dict[str, Any]:
    """Mean recall per query kind for every cell (from the searches themselves; None where a
    kind has no scored search)."""
    kinds = sorted({k for s in searches.values() for k in s.kinds})
    rows = []
    for p in items:
        s = searches.get(p.key)
        if s is None:
            continue
        means: dict[str, float | None] = {}
        for kind in kinds:
            vals = [r for k, r in zip(s.kinds, s.recall, strict=True) if k == kind and r is not None]
            means[kind] = sum(vals) / len(vals) if vals else None
        rows.append({"phase": p.phase, "selectivity": p.selectivity, "variant": p.variant,
                     "recall": means})
    return {"kinds": kinds, "rows": rows}


def warm_reference(items: list[Point], variant: str | None) -> dict[str, Any] | None:
    """The warm, unfiltered cell of the warm-up's variant in the last measured phase: what
    the warm-up's steady level is compared with."""
    same = [p for p in items if p.variant == variant and p.selectivity == "100%"]
    if not same:
        return None
    ref = same[-1]
    return {"phase": ref.phase, "variant": ref.variant, "p50_ms": ref.lat("p50")}


@dataclass
class Study:
    """Everything the report and the CLI headline need, computed once from the folder."""

    items: list[Point]
    basis: list[Point]  # the recommendation's basis (query kinds), frontier flags set
    searches: dict[CellKey, Searches]
    recommendations: dict[str, Any]


def study(summary: Mapping[str, Any], vec: dict[str, Any], measurements: Iterable[Measurement]
          ) -> Study:
    spec = vec.get("spec") or {}
    metric = spec.get("latency_metric", DEFAULT_METRIC)
    items = points(summary, vec)
    searches = searches_by_cell(measurements)
    basis = subset(items, searches, list(spec.get("recommend_kinds") or []))
    for phase in {p.phase for p in basis}:
        for sel in {p.selectivity for p in basis if p.phase == phase}:
            for p in pareto([p for p in basis if p.phase == phase and p.selectivity == sel
                             and p.kind != "shipped"], metric):
                p.frontier = True
    recs = recommendations(basis, float(spec.get("recall_target", DEFAULT_TARGET)),
                           float(spec.get("latency_budget_ms", DEFAULT_BUDGET_MS)), metric)
    return Study(items, basis, searches, recs)


def summarize(results: ResultsDir, groups: Sequence[Mapping[str, Any]],
              hnsw_warmup: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """summary.json's ``vector`` section (None for a folder without vector.json): the rule the
    recommendation applied, every cell over all queries (``points``) and over the
    recommendation's basis (``basis``, with ``frontier`` flags), the recommendation per phase,
    plan flips, recall per query kind and the warm cell the warm-up is compared with.
    ``groups`` are summary.json's groups, ``hnsw_warmup`` its warm-up curves."""
    vec = results.read_vector()
    if vec is None:
        return None
    spec = vec.get("spec") or {}
    st = study({"groups": groups}, vec, results.iter_measurements())
    variant = hnsw_warmup[0].get("variant") if hnsw_warmup else None
    return {
        "rule": {"recall_target": float(spec.get("recall_target", DEFAULT_TARGET)),
                 "latency_budget_ms": float(spec.get("latency_budget_ms", DEFAULT_BUDGET_MS)),
                 "latency_metric": spec.get("latency_metric", DEFAULT_METRIC),
                 "k": spec.get("k"), "basis_kinds": list(spec.get("recommend_kinds") or [])},
        "recommendations": st.recommendations,
        "points": [p.to_json() for p in st.items],
        "basis": [p.to_json() for p in st.basis],
        "plan_flips": plan_flips(st.items),
        "recall_by_kind": recall_by_kind(st.items, st.searches),
        "warm_reference": warm_reference(st.items, variant) if hnsw_warmup else None,
    }
