"""Scenarios: what to run, on which data, with which budgets — one TOML file.

Validation is strict because a typo in a nightly scenario should fail loudly, not silently
measure the defaults: unknown keys are errors, and every error names the file, the key, the
value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fnmatch
import math
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ctxbench.config import DEFAULT_BUDGET, DEFAULT_ERROR_BUDGET, POOLED, spec_field
from ctxbench.errors import UsageError
from ctxbench.measure import phases
from ctxbench.queries import Query, catalog

PHASES = phases.NAMES
# Names measurements carry: the registered phases' (the analyze phases measure a cold and a warm
# part each), then those of the other drivers: `ctxbench load` and `ctxbench vector` (warm
# searches per statistics state, see VectorSpec).
DRIVER_PHASES = ("load", "vector", "before_analyze.vector", "after_analyze.vector")
MEASURED_PHASES = phases.MEASURED + DRIVER_PHASES
# A budget on query "all" and phase "all" is judged on every execution of the run pooled (the
# default error budget, config.DEFAULT_ERROR_BUDGET; analysis.data.POOLED_PHASE)
RUN_PHASE = POOLED
METRICS = ("p50", "p90", "p95", "p99", "max", "mean", "error_rate", "recall", "completeness",
           # cache: share of requests answered by L1/L2, share that reached the database, and
           # database queries per request (means of per-request 0/1 or counts)
           "hit_rate", "db_share", "db_queries")


_f = spec_field


@dataclass
class DatabaseSpec:
    backend: str = _f("embedded", choices=("embedded", "dsn", "testcontainers"))
    dsn: str | None = _f(None, doc="for backend dsn; CTXBENCH_DSN overrides")
    name: str | None = _f(None, doc="database; default ctxbench_<scenario name>")
    schema_variants: list[str] = _f(factory=list)
    statement_timeout_ms: int = _f(60000, lo=0, hi=3_600_000)
    prepare_threshold: int | None = _f(None, lo=0, hi=1000,
                                       doc="psycopg prepare_threshold; unset = never prepare")
    cache_reset: str = _f("restart", choices=("restart", "evict"))
    settings: dict[str, Any] = _f(factory=dict, doc="server settings (embedded/testcontainers)")


@dataclass
class DatasetSpec:
    scale: int = _f(20000, lo=1000, hi=10_000_000)
    seed: int = _f(42, lo=0, hi=2**63 - 1)
    months: int = _f(3, lo=1, hi=24)
    anchor: str | None = _f(None, doc="YYYY-MM-DD end of the time range; default today (UTC)")
    severities: str = _f("documented", choices=("documented", "tests"))
    default_partition: bool = _f(False)
    snapshot: bool = _f(False, doc="keep a snapshot of the seeded database (same server) and "
                        "restore it instead of seeding when the dataset matches")
    embedding_profile: str = _f("realistic", choices=("realistic", "hard"),
                                doc="vector geometry: realistic (calibrated against a real "
                                "sentence-embedding model) or hard (generator v1's isotropic balls)")


@dataclass
class QueryOverride:
    variants: list[str] | None = _f(None)
    weight: float | None = _f(None, lo=0, hi=1e6)


@dataclass
class QueriesSpec:
    include: list[str] = _f(factory=lambda: ["*"], doc="query names, 'tag:<tag>' or '*'")
    exclude: list[str] = _f(factory=list)
    variants: list[str] = _f(factory=lambda: ["as_shipped"])
    surface: str = _f("builder", choices=("builder", "http"),
                      doc="validation limits: the SQL builder's (limit <= 1000) or HTTP's (limit <= 100)")
    mix: str = _f("service", choices=("service", "extended"),
                  doc="service: parameters the service sent; extended: also the builder-only filters")
    windows: str = _f("data", choices=("data", "now"),
                      doc="windows of the NOW()-relative queries: data = relative to the end of the "
                      "dataset (NOW() - data end + the intended span); now = the spans as sent")
    weights: dict[str, float] = _f(factory=dict)
    overrides: dict[str, QueryOverride] = _f(factory=dict)


if TYPE_CHECKING:
    class PhasesSpec:
        """[phases]: ``run`` (the phases to run, in order) and one table per registered phase."""

        run: list[str]

        def __getattr__(self, name: str) -> Any: ...
else:
    PhasesSpec = dataclasses.make_dataclass(
        "PhasesSpec",
        [("run", list[str], _f(factory=lambda: list(phases.DEFAULT_RUN))),
         *((p.name, p.spec, _f(factory=p.spec)) for p in phases.REGISTRY)],
        namespace={"__doc__": "[phases]: run (the phases to run, in order) and one table per "
                              "registered phase (ctxbench.measure.phases.REGISTRY)."})


@dataclass
class CapacitySpec:
    start_rate: float = _f(10.0, lo=0.1, hi=1e6, doc="first step's arrival rate (req/s)")
    step_rate: float = _f(10.0, lo=0.1, hi=1e6, doc="added per step")
    step_seconds: float = _f(10.0, lo=1, hi=3600)
    max_rate: float = _f(500.0, lo=0.1, hi=1e6)
    metric: str = _f("p95", choices=("p50", "p90", "p95", "p99"))
    budget_ms: float | None = _f(None, lo=0, doc="default: the scenario's budget for phase 'load'")


@dataclass
class LoadSpec:
    mode: str = _f("closed", choices=("closed", "open", "capacity"),
                   doc="closed: Locust users back to back; open: arrivals at `rate`, latency from the "
                   "intended start; capacity: stepped open-loop rates until the budget breaks")
    users: int = _f(4, lo=1, hi=10000)
    spawn_rate: float = _f(4.0, lo=0.1, hi=10000)
    duration_s: float = _f(30.0, lo=1, hi=86400)
    rate: float = _f(50.0, lo=0.1, hi=1e6, doc="open mode: total arrivals per second")
    think_time_ms: float = _f(0.0, lo=0, hi=3_600_000, doc="closed mode: wait between requests")
    pool_size: int = _f(4, lo=1, hi=1000, doc="connections per Locust process")
    workers: int = _f(0, lo=0, hi=64, doc="local Locust worker processes (0 = a single process)")
    arrival: str = _f("poisson", choices=("poisson", "constant"), doc="open/capacity arrival process")
    warmup_s: float = _f(0.0, lo=0, hi=3600, doc="seconds of load before measuring starts "
                         "(capacity: a period at start_rate before the first step)")
    capacity: CapacitySpec = _f(factory=CapacitySpec)
    cache: bool = _f(False, doc="requests go through the service's read path (Redis + L2 + single-flight)")
    cache_variant: str = _f("as_shipped", doc="with cache = true: as_shipped, tuned or no_singleflight")


@dataclass
class VectorSpec:
    """``ctxbench vector``: recall against exact ground truth, ef_search sweep, filters, warm-up."""

    k: int = _f(10, lo=1, hi=100, doc="recall@k and the LIMIT of every search")
    queries: int = _f(200, lo=10, hi=100000, doc="distinct query vectors (near and far)")
    far_share: float = _f(0.2, lo=0, hi=1, doc="share of random unit vectors, far from every topic")
    query_seed: int | None = _f(None, lo=0, doc="seed of the query set; default: the scenario seed")
    ef_search: list[int] = _f(factory=lambda: [10, 20, 40, 80, 100, 200, 400])
    selectivities: list[float] = _f(factory=lambda: [1.0, 0.5, 0.1, 0.01],
                                    doc="share of rows a filter keeps; 1.0 = unfiltered")
    iterative_scans: list[str] = _f(factory=lambda: ["relaxed_order", "strict_order"])
    iterative_ef: list[int] = _f(factory=lambda: [40], doc="ef_search of the iterative cells")
    threshold: float = _f(0.0, lo=0, hi=1, doc="similarity threshold of the sweep")
    shipped_threshold: float = _f(0.5, lo=0, hi=1, doc="threshold of the as_shipped cells")
    stats: list[str] = _f(factory=lambda: ["after_analyze"],
                          doc="statistics states to measure in: before_analyze, after_analyze, as_found")
    sweep_stats: list[str] | None = _f(None, doc="states that get the full grid (default: the last of "
                                       "stats); the others measure only compare_variants")
    compare_variants: list[str] = _f(factory=lambda: ["as_shipped"],
                                     doc="cells outside sweep_stats: as_shipped, ef<N>, ef<N>_relaxed...")
    warmup_passes: int = _f(1, lo=0, hi=100, doc="untimed passes over the same vectors per cell")
    recall_target: float = _f(0.95, lo=0, hi=1)
    recommend_kinds: list[str] = _f(factory=lambda: ["near_row", "near_topic"],
                                    doc="query kinds (prefixes) the recommendation is judged on; "
                                    "[] = all (far vectors are random: no relevant neighbours)")
    latency_budget_ms: float = _f(250.0, lo=0, doc="for the recommendation (reference §4)")
    latency_metric: str = _f("p95", choices=("p50", "p90", "p95", "p99"))
    crosscheck: int = _f(3, lo=0, hi=100000,
                         doc="queries per filter re-checked with the server's exact scan")
    tie_epsilon: float = _f(1e-5, lo=0, hi=0.1, doc="distance tolerance for ties at the k-th neighbour")
    hnsw_warmup: bool = _f(True, doc="also run [phases.hnsw_warmup] (cold-start curves)")
    cache_dir: str | None = _f(None, doc="ground-truth cache; default $CTXBENCH_CACHE or ~/.cache/ctxbench")
    geometry_sample: int = _f(1000, lo=0, hi=100000, doc="rows whose exact neighbours measure the "
                              "data's geometry (ctxbench geometry); 0 = skip")


@dataclass
class ScaleSpec:
    """``ctxbench scale``: the same workload at several dataset sizes, then growth laws."""

    points: list[int] = _f(factory=lambda: [20000, 100000, 300000, 1000000],
                           doc="dataset sizes (traces), one database each")
    horizon: int = _f(100_000_000, lo=1000, hi=10**12,
                      doc="break-even scales beyond this are reported as 'not within'")
    bootstrap: int = _f(1000, lo=100, hi=100000, doc="bootstrap replicates for the intervals")


@dataclass
class BudgetSpec:
    query: str = _f("*")
    phase: str = _f("*")
    variant: str = _f("*")
    labels: dict[str, str] = _f(factory=dict, doc="labels the group must carry, e.g. selectivity")
    metric: str = _f("p95", choices=METRICS)
    max: float | None = _f(None, lo=0)
    min: float | None = _f(None, lo=0)
    off: bool = _f(False, doc="switch the matching budget off (e.g. the default p95 in a phase)")


@dataclass
class OutputSpec:
    dir: str = _f("reports")
    strict: bool = _f(False, doc="INCONCLUSIVE verdicts fail the run")


@dataclass
class Scenario:
    name: str = _f("scenario")
    description: str = _f("")
    seed: int | None = _f(None, lo=0, doc="root seed of parameter sampling; default dataset.seed")
    database: DatabaseSpec = _f(factory=DatabaseSpec)
    dataset: DatasetSpec = _f(factory=DatasetSpec)
    queries: QueriesSpec = _f(factory=QueriesSpec)
    phases: PhasesSpec = _f(factory=PhasesSpec)
    load: LoadSpec = _f(factory=LoadSpec)
    vector: VectorSpec = _f(factory=VectorSpec)
    scale: ScaleSpec = _f(factory=ScaleSpec)
    budgets: list[BudgetSpec] = _f(factory=list)
    output: OutputSpec = _f(factory=OutputSpec)
    source: str = field(default="<defaults>", metadata={"internal": True})
    text: str = field(default="", metadata={"internal": True})

    @property
    def sampler_seed(self) -> int:
        return self.dataset.seed if self.seed is None else self.seed

    @property
    def database_name(self) -> str:
        return self.database.name or f"ctxbench_{self.name}".replace("-", "_").lower()

    def resolved_budgets(self) -> list[dict[str, Any]]:
        """Budgets as the analysis reads them; the defaults always come first: p95 <= 500 ms per
        group, then error_rate <= 1 % over the whole run (query and phase "all")."""
        out: list[dict[str, Any]] = [{**DEFAULT_BUDGET, "variant": "*"},
                                     {**DEFAULT_ERROR_BUDGET, "variant": "*"}]
        for b in self.budgets:
            item: dict[str, Any] = {"query": b.query, "phase": b.phase, "variant": b.variant,
                                    "metric": b.metric}
            if b.labels:
                item["labels"] = dict(b.labels)
            if b.off:
                item["max"] = None
            if b.max is not None:
                item["max"] = float(b.max)
            if b.min is not None:
                item["min"] = float(b.min)
            out.append(item)
        return out


class _Loader:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, value: Any, allowed: str) -> typing.NoReturn:
        raise UsageError(f"{self.source}: key '{key}' = {value!r} is not allowed; {allowed}")

    def build(self, cls: type, data: Any, path: str) -> Any:
        if not isinstance(data, dict):
            self.fail(path or "(top level)", data, "expected a table")
        hints = typing.get_type_hints(cls)
        known = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
        unknown = sorted(set(data) - set(known))
        if unknown:
            where = f"{path}.{unknown[0]}" if path else unknown[0]
            self.fail(where, data[unknown[0]], f"unknown key; allowed keys here: {', '.join(known)}")
        kwargs = {}
        for name, value in data.items():
            key = f"{path}.{name}" if path else name
            kwargs[name] = self.convert(hints[name], value, key, known[name].metadata)
        return cls(**kwargs)

    def convert(self, tp: Any, value: Any, key: str, meta: typing.Mapping[str, Any]) -> Any:
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin in (typing.Union, types.UnionType):
            inner = [a for a in args if a is not type(None)]
            return self.convert(inner[0], value, key, meta)
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            return self.build(tp, value, key)
        if origin is list:
            if not isinstance(value, list):
                self.fail(key, value, "expected a list")
            return [self.convert(args[0], v, f"{key}[{i}]", meta) for i, v in enumerate(value)]
        if origin is dict:
            if not isinstance(value, dict):
                self.fail(key, value, "expected a table")
            return {k: self.convert(args[1], v, f"{key}.{k}", {}) for k, v in value.items()}
        if tp is Any:
            return value
        if tp is bool:
            if not isinstance(value, bool):
                self.fail(key, value, "expected true or false")
            return value
        if tp is int:
            if isinstance(value, bool) or not isinstance(value, int):
                self.fail(key, value, "expected an integer")
        elif tp is float:
            if isinstance(value, bool) or not isinstance(value, int | float):
                self.fail(key, value, "expected a number")
            if not math.isfinite(value):
                self.fail(key, value, "expected a finite number (not nan or inf)")
            value = float(value)
        elif tp is str and not isinstance(value, str):
            self.fail(key, value, "expected a string")
        choices = meta.get("choices")
        if choices and value not in choices:
            self.fail(key, value, f"allowed: {', '.join(map(str, choices))}")
        lo, hi = meta.get("lo"), meta.get("hi")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            rng = f"{lo if lo is not None else '-inf'} .. {hi if hi is not None else 'inf'}"
            self.fail(key, value, f"allowed range: {rng}")
        return value


def _check(s: Scenario, ld: _Loader) -> None:
    for i, name in enumerate(s.phases.run):
        if name not in PHASES:
            ld.fail(f"phases.run[{i}]", name, f"allowed phases: {', '.join(PHASES)}")
    for phase in phases.REGISTRY:
        if phase.check is not None:
            phase.check(getattr(s.phases, phase.name), ld.fail, phase.name in s.phases.run)
    _check_vector(s.vector, ld)
    _check_cache(s, ld)
    _check_scale(s.scale, ld)
    if s.dataset.anchor is not None:
        try:
            dt.date.fromisoformat(s.dataset.anchor)
        except ValueError:
            ld.fail("dataset.anchor", s.dataset.anchor, "expected a date YYYY-MM-DD")
    for i, b in enumerate(s.budgets):
        if b.off and (b.max is not None or b.min is not None):
            ld.fail(f"budgets[{i}]", {"off": True, "max": b.max, "min": b.min},
                    "off = true switches the budget off: give no max or min with it")
        if not b.off and (b.max is None) == (b.min is None):
            ld.fail(f"budgets[{i}]", {"max": b.max, "min": b.min},
                    "give exactly one of max (latency in ms, error_rate) or min (recall, completeness)"
                    " (or off = true)")
        if b.phase == RUN_PHASE:
            if b.query != RUN_PHASE or b.metric != "error_rate":
                ld.fail(f"budgets[{i}]", {"query": b.query, "phase": b.phase, "metric": b.metric},
                        f"phase = \"{RUN_PHASE}\" (every execution of the run pooled) takes only "
                        f"query = \"{RUN_PHASE}\" and metric = \"error_rate\"")
        elif not fnmatch.filter(MEASURED_PHASES, b.phase):
            ld.fail(f"budgets[{i}].phase", b.phase, "a phase name or glob pattern matching one of "
                    f"{', '.join(MEASURED_PHASES)} (e.g. '*', '*.warm', 'after_analyze.*'), or "
                    f"\"{RUN_PHASE}\" (the whole run pooled, for error_rate)")


def _check_cache(s: Scenario, ld: _Loader) -> None:
    from ctxbench.cache.readpath import CACHE_VARIANTS

    if s.load.cache_variant not in CACHE_VARIANTS:
        ld.fail("load.cache_variant", s.load.cache_variant, "allowed: " + ", ".join(CACHE_VARIANTS))


def _check_scale(sc: ScaleSpec, ld: _Loader) -> None:
    for i, n in enumerate(sc.points):
        if not 1000 <= n <= 10_000_000:
            ld.fail(f"scale.points[{i}]", n, "allowed range: 1000 .. 10000000 traces")
    if len(set(sc.points)) < 2:
        ld.fail("scale.points", sc.points, "at least two different sizes (a growth law needs two)")


def _check_vector(v: VectorSpec, ld: _Loader) -> None:
    for name, values in (("ef_search", v.ef_search), ("iterative_ef", v.iterative_ef)):
        for i, ef in enumerate(values):
            if not 1 <= ef <= 1000:
                ld.fail(f"vector.{name}[{i}]", ef, "allowed range: 1 .. 1000 (pgvector's hnsw.ef_search)")
    for i, sel in enumerate(v.selectivities):
        if not 0 < sel <= 1:
            ld.fail(f"vector.selectivities[{i}]", sel, "a share of rows in (0, 1]; 1.0 = unfiltered")
    for i, mode in enumerate(v.iterative_scans):
        if mode not in ("relaxed_order", "strict_order"):
            ld.fail(f"vector.iterative_scans[{i}]", mode, "allowed: relaxed_order, strict_order "
                    "(off is the ef_search sweep)")
    for i, state in enumerate(v.stats):
        if state not in ("before_analyze", "after_analyze", "as_found"):
            ld.fail(f"vector.stats[{i}]", state, "allowed: before_analyze, after_analyze, as_found")
    if not v.stats:
        ld.fail("vector.stats", v.stats, "at least one of before_analyze, after_analyze, as_found")
    for i, state in enumerate(v.sweep_stats or []):
        if state not in v.stats:
            ld.fail(f"vector.sweep_stats[{i}]", state, f"one of vector.stats: {', '.join(v.stats)}")
    for i, name in enumerate(v.compare_variants):
        if not re.fullmatch(r"as_shipped|ef\d+(_strict|_relaxed)?", name):
            ld.fail(f"vector.compare_variants[{i}]", name,
                    "allowed: as_shipped, ef<N>, ef<N>_relaxed, ef<N>_strict")


def load_text(text: str, source: str = "<string>") -> Scenario:
    ld = _Loader(source)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{source}: not valid TOML: {exc}") from exc
    if not data and source != "<defaults>":
        raise UsageError(f"{source}: the scenario is empty; give at least a name and the tables to "
                         "change (e.g. [dataset], [phases]), or use a shipped scenario such as smoke")
    scenario = ld.build(Scenario, data, "")
    if "name" not in data and source.endswith(".toml"):
        scenario.name = Path(source).stem
    scenario.source, scenario.text = source, text
    _check(scenario, ld)
    return scenario


def load(path: Path | str) -> Scenario:
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"scenario file {path} does not exist" if not path.exists()
                         else f"scenario {path} is not a file; give a .toml file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not a text file (byte {exc.start} is not UTF-8); a scenario "
                         "is a TOML file") from exc
    except OSError as exc:
        raise UsageError(f"cannot read scenario file {path}: {exc.strerror or exc}") from exc
    return load_text(text, str(path))


def scenarios_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "scenarios"


def find(name_or_path: str | None) -> Scenario:
    """A path, or the name of a shipped scenario (``smoke`` -> scenarios/smoke.toml)."""
    if name_or_path is None:
        name_or_path = "smoke"
    path = Path(name_or_path)
    if not path.exists() and not path.suffix:
        shipped = scenarios_dir() / f"{name_or_path}.toml"
        if shipped.exists():
            path = shipped
        else:
            known = ", ".join(sorted(p.stem for p in scenarios_dir().glob("*.toml")))
            raise UsageError(f"scenario {name_or_path!r} not found; shipped scenarios: {known}")
    return load(path)


def select_workload(scenario: Scenario) -> list[tuple[Query, str]]:
    """(query, variant) pairs from include/exclude patterns, names and 'tag:' selectors."""
    qs = scenario.queries

    def matches(q: Query, pattern: str) -> bool:
        if pattern.startswith("tag:"):
            return pattern[4:] in q.tags
        return fnmatch.fnmatchcase(q.name, pattern)

    for pattern in [*qs.include, *qs.exclude, *qs.overrides]:
        if not pattern.startswith("tag:") and not any(matches(q, pattern) for q in catalog.values()):
            raise UsageError(f"{scenario.source}: query {pattern!r} matches no query; known: "
                             f"{', '.join(catalog)}")
    chosen = [q for q in catalog.values()
              if any(matches(q, p) for p in qs.include) and not any(matches(q, p) for p in qs.exclude)]
    if not chosen:
        raise UsageError(f"{scenario.source}: queries.include selects no query")
    workload = []
    for q in chosen:
        override = qs.overrides.get(q.name)
        variants = override.variants if override and override.variants else qs.variants
        for v in variants:
            if not q.has_variant(v):
                if override and override.variants:
                    raise UsageError(f"{scenario.source}: queries.overrides.{q.name}.variants: {v!r} "
                                     f"is not a variant of {q.name}; allowed: {', '.join(q.variants)}")
                continue  # a global variant list applies where the variant exists
            workload.append((q, v))
    return workload
