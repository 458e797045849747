"""The settings of one load run, resolved once from the scenario's ``[load]`` table plus
command-line overrides, and handed to every Locust process as ``--ctxbench-*`` options.

The same resolution runs in ``ctxbench load`` and inside the locustfile, so the plain
``locust -f bench/locustfile.py`` command and ``ctxbench load`` mean the same thing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from ctxbench.errors import UsageError
from ctxbench.load.schedule import ARRIVALS, RatePlan
from ctxbench.scenario import Scenario

MODES = ("closed", "open", "capacity")
CAPACITY_METRICS = ("p50", "p90", "p95", "p99")


@dataclass
class LoadSettings:
    mode: str = "closed"
    users: int = 4
    spawn_rate: float = 4.0
    duration_s: float = 30.0
    rate: float = 50.0
    arrival: str = "poisson"
    think_time_ms: float = 0.0
    pool_size: int = 4
    workers: int = 0
    warmup_s: float = 0.0
    seed: int = 42
    start_rate: float = 10.0
    step_rate: float = 10.0
    step_seconds: float = 10.0
    max_rate: float = 500.0
    metric: str = "p95"
    budget_ms: float | None = None
    synthetic_ms: float | None = None  # replace the query mix by SELECT pg_sleep (harness check)
    cache: str = "off"  # off, or a cache variant: requests through the service's read path

    @classmethod
    def from_scenario(cls, scenario: Scenario, **overrides: Any) -> LoadSettings:
        spec, cap = scenario.load, scenario.load.capacity
        base = cls(mode=spec.mode, users=spec.users, spawn_rate=spec.spawn_rate,
                   duration_s=spec.duration_s, rate=spec.rate,
                   arrival=spec.arrival, think_time_ms=spec.think_time_ms,
                   pool_size=spec.pool_size, workers=spec.workers,
                   warmup_s=spec.warmup_s, seed=scenario.sampler_seed,
                   start_rate=cap.start_rate, step_rate=cap.step_rate, step_seconds=cap.step_seconds,
                   max_rate=cap.max_rate, metric=cap.metric, budget_ms=cap.budget_ms,
                   cache=spec.cache_variant if spec.cache else "off")
        names = {f.name for f in fields(cls)}
        for key, value in overrides.items():
            if key not in names:
                raise TypeError(f"unknown load setting {key}")
            if value is not None:
                setattr(base, key, value)
        base.validate()
        return base

    def validate(self) -> None:
        def bad(option: str, value: Any, allowed: str) -> UsageError:
            return UsageError(f"load setting {option} = {value!r} is not allowed; {allowed}")

        _check_bounds(self)
        if self.mode not in MODES:
            raise bad("mode", self.mode, f"allowed: {', '.join(MODES)}")
        if self.arrival not in ARRIVALS:
            raise bad("arrival", self.arrival, f"allowed: {', '.join(ARRIVALS)}")
        if self.metric not in CAPACITY_METRICS:
            raise bad("capacity.metric", self.metric, f"allowed: {', '.join(CAPACITY_METRICS)}")
        for name, lo in (("users", 1), ("pool_size", 1)):
            if int(getattr(self, name)) < lo:
                raise bad(name, getattr(self, name), f"must be >= {lo}")
        if self.workers < 0:
            raise bad("workers", self.workers, "must be >= 0 (0 = one process)")
        for name in ("spawn_rate", "duration_s", "rate"):
            if not float(getattr(self, name)) > 0:
                raise bad(name, getattr(self, name), "must be > 0")
        for name in ("think_time_ms", "warmup_s"):
            if float(getattr(self, name)) < 0:
                raise bad(name, getattr(self, name), "must be >= 0")
        if self.mode != "closed" and self.think_time_ms:
            raise bad("think_time_ms", self.think_time_ms,
                      "think time only applies to closed mode; open modes follow the arrival rate")
        if self.mode == "capacity":
            self.plan()  # raises on an impossible plan
        if self.synthetic_ms is not None and not self.synthetic_ms > 0:
            raise bad("synthetic_ms", self.synthetic_ms, "must be > 0")
        from ctxbench.cache.readpath import CACHE_VARIANTS

        if self.cache != "off" and self.cache not in CACHE_VARIANTS:
            raise bad("cache", self.cache, f"allowed: off, {', '.join(CACHE_VARIANTS)}")
        if self.cache != "off" and self.synthetic_ms is not None:
            raise bad("cache", self.cache, "the synthetic mix (pg_sleep) has no cache keys; use off")

    def plan(self) -> RatePlan | None:
        """The arrival-rate plan of open modes (None for closed mode)."""
        if self.mode == "open":
            return RatePlan(self.rate)
        if self.mode == "capacity":
            return RatePlan(self.start_rate, self.step_rate, self.step_seconds, self.max_rate,
                            warmup_s=self.warmup_s)  # a warm-up period before step 0
        return None

    @property
    def expected_seconds(self) -> float:
        """How long the measured part should take (for progress bars and timeouts)."""
        if self.mode == "capacity":
            plan = self.plan()
            assert plan is not None
            return plan.duration_s
        return self.duration_s

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def locust_options(self) -> list[str]:
        """These settings as ``--ctxbench-*`` options (Locust passes them on to workers)."""
        out: list[str] = []
        for f in fields(self):
            if f.name in ("users", "spawn_rate", "duration_s", "workers"):
                continue  # Locust's own -u / -r / -t and process layout
            value = getattr(self, f.name)
            if value is None:
                continue
            out += [f"--ctxbench-{f.name.replace('_', '-')}", str(value)]
        return out


# LoadSettings field -> (scenario table, field, scenario key): the bound each one shares
_BOUNDS = {
    "users": ("load", "users"), "spawn_rate": ("load", "spawn_rate"),
    "duration_s": ("load", "duration_s"), "rate": ("load", "rate"),
    "think_time_ms": ("load", "think_time_ms"), "pool_size": ("load", "pool_size"),
    "workers": ("load", "workers"), "warmup_s": ("load", "warmup_s"),
    "start_rate": ("load.capacity", "start_rate"), "step_rate": ("load.capacity", "step_rate"),
    "step_seconds": ("load.capacity", "step_seconds"), "max_rate": ("load.capacity", "max_rate"),
    "budget_ms": ("load.capacity", "budget_ms"),
}


_OPTIONS = {"users": "--users", "spawn_rate": "--spawn-rate", "duration_s": "--duration",
            "rate": "--rate", "pool_size": "--pool-size", "workers": "--workers", "warmup_s": "--warmup",
            "max_rate": "--max-rate", "step_seconds": "--step-seconds"}


def _check_bounds(s: LoadSettings) -> None:
    from ctxbench import bounds
    from ctxbench.scenario import CapacitySpec, LoadSpec

    for name, (table, field_name) in _BOUNDS.items():
        cls = LoadSpec if table == "load" else CapacitySpec
        key = f"{table}.{field_name}"
        option = f"{_OPTIONS[name]} / {key}" if name in _OPTIONS else key
        bounds.check(cls, field_name, getattr(s, name), option)
    if s.synthetic_ms is not None:
        from ctxbench.errors import UsageError

        if not (isinstance(s.synthetic_ms, int | float) and 0 < s.synthetic_ms <= 60_000):
            raise UsageError(f"load setting synthetic_ms = {s.synthetic_ms!r} is not allowed; "
                             "allowed range: > 0 .. 60000")
