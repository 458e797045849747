"""Open-loop arrival schedules: when each request *should* start, independent of when one ends.

A closed-loop client sends its next request only after the previous answer, so a slow server
slows the client down and the stall never shows in the latencies (coordinated omission). Here
every lane (one Locust user) follows its own schedule of intended start times, drawn from the
target rate alone. A lane that is still busy when its next arrival is due starts it late: the
lateness is recorded as lag and counted in the latency, which is measured from the intended
start (as ``pgbench -R`` and wrk2 do).

The total rate R is split evenly over L lanes (R/L each). Poisson lanes superpose to a Poisson
stream of rate R; constant lanes are staggered by 1/R so the merged stream is evenly spaced.
A :class:`RatePlan` may step the rate over time (capacity search): step k runs from
``warmup_s + k * step_seconds`` to ``warmup_s + (k+1) * step_seconds`` after the plan's start at
``start_rate + k * step_rate``. A stepped plan may begin with a warm-up period of ``warmup_s``
seconds at ``start_rate`` (step :data:`WARMUP_STEP`): its arrivals are served and recorded like
any other, flagged warm-up, and belong to no step, so they are never judged and never counted
in step 0's arrivals.
"""

from __future__ import annotations

import math
import random
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from ctxbench.errors import UsageError

ARRIVALS = ("poisson", "constant")
NS = 1_000_000_000
WARMUP_STEP = -1  # the step number of a stepped plan's warm-up period (before step 0)


@dataclass(frozen=True)
class RatePlan:
    """Target arrival rate (requests/s, all lanes together) as a function of time."""

    start_rate: float
    step_rate: float = 0.0
    step_seconds: float | None = None  # None: one unbounded step at start_rate
    max_rate: float | None = None
    warmup_s: float = 0.0  # stepped plans: seconds at start_rate before step 0, never judged

    def __post_init__(self) -> None:
        if not self.start_rate > 0:
            raise UsageError(f"arrival rate {self.start_rate!r} is not allowed; it must be > 0 req/s")
        if not self.warmup_s >= 0 or (self.warmup_s and self.step_seconds is None):
            raise UsageError(f"a warm-up period of {self.warmup_s!r} s is not allowed; it must be "
                             ">= 0 and only a stepped (capacity) plan has one")
        if self.step_seconds is not None:
            if not self.step_seconds > 0 or not self.step_rate > 0:
                raise UsageError("a stepped rate plan needs step_seconds > 0 and step_rate > 0 "
                                 f"(got {self.step_seconds!r} s, {self.step_rate!r} req/s)")
            if self.max_rate is None or self.max_rate < self.start_rate:
                raise UsageError(f"capacity max_rate {self.max_rate!r} must be >= start_rate "
                                 f"{self.start_rate!r}")

    @property
    def stepped(self) -> bool:
        return self.step_seconds is not None

    @property
    def n_steps(self) -> int | None:
        if not self.stepped:
            return None
        assert self.max_rate is not None
        return math.floor((self.max_rate - self.start_rate) / self.step_rate + 1e-9) + 1

    def rate_of(self, step: int) -> float:
        """The target rate of a step (the warm-up runs at the first step's rate)."""
        return self.start_rate + max(step, 0) * self.step_rate

    def step_at(self, t_s: float) -> int | None:
        """The step an intended start ``t_s`` seconds after the plan start belongs to
        (:data:`WARMUP_STEP` during the warm-up; None: after the last step)."""
        if not self.stepped:
            return 0
        assert self.step_seconds is not None
        t = max(t_s, 0.0)
        if t < self.warmup_s:
            return WARMUP_STEP
        k = int((t - self.warmup_s) // self.step_seconds)
        n = self.n_steps
        return k if n is None or k < n else None

    def step_window(self, step: int) -> tuple[float, float]:
        """(start, end) of a step in seconds after the plan start (end = inf if unbounded);
        the warm-up's window is (0, warmup_s)."""
        if not self.stepped:
            return 0.0, math.inf
        assert self.step_seconds is not None
        if step == WARMUP_STEP:
            return 0.0, self.warmup_s
        start = self.warmup_s + step * self.step_seconds
        return start, start + self.step_seconds

    @property
    def duration_s(self) -> float:
        """The whole plan, warm-up included."""
        n = self.n_steps
        return math.inf if n is None else self.warmup_s + n * float(self.step_seconds or 0)

    def to_json(self) -> dict:
        out = {"start_rate": self.start_rate, "step_rate": self.step_rate,
               "step_seconds": self.step_seconds, "max_rate": self.max_rate}
        if self.warmup_s:  # absent = none: plans written before the warm-up period existed read alike
            out["warmup_s"] = self.warmup_s
        return out

    @classmethod
    def from_json(cls, data: dict) -> RatePlan:
        return cls(**data)


class Arrival(NamedTuple):
    intended_ns: int  # on the lane's clock (perf_counter_ns of its process)
    step: int
    item: int  # index into the workload mix, drawn when the arrival is scheduled


class Lane:
    """The schedule of one lane: arrivals are generated up to "now" and queued until served.

    Arrivals are generated from the clock, never from the lane's progress, so a lane that is
    behind still knows every arrival that fell due (``scheduled`` counts them per step and mix
    item) and serves them in order, late.
    """

    def __init__(self, plan: RatePlan, *, t0_ns: int, lanes: int, index: int, arrival: str,
                 rng: random.Random, pick: Callable[[], int], start_ns: int) -> None:
        if arrival not in ARRIVALS:
            raise UsageError(f"arrival {arrival!r} is not allowed; allowed: {', '.join(ARRIVALS)}")
        if lanes < 1:
            raise UsageError(f"an open-loop run needs at least one user (lane), got {lanes}")
        self.plan, self.t0_ns, self.lanes, self.index = plan, t0_ns, lanes, index
        self.arrival, self.rng, self.pick = arrival, rng, pick
        self.due: deque[Arrival] = deque()
        self.scheduled: Counter[tuple[int, int]] = Counter()  # (step, item) -> arrivals, since drained
        self.finished = False
        self.next_ns: int | None = self._first(max(start_ns, t0_ns))

    # -- schedule ----------------------------------------------------------------------
    def _interval_ns(self, at_ns: int) -> int | None:
        step = self.plan.step_at((at_ns - self.t0_ns) / NS)
        if step is None:
            return None
        per_lane = self.plan.rate_of(step) / self.lanes
        if self.arrival == "poisson":
            return max(1, int(self.rng.expovariate(per_lane) * NS))
        return max(1, math.ceil(NS / per_lane))  # rounding up never adds an arrival to a step

    def _first(self, start_ns: int) -> int | None:
        if self.arrival == "poisson":
            gap = self._interval_ns(start_ns)
            return None if gap is None else start_ns + gap
        # constant: lane i of L is offset by i/R on the shared grid, so the lanes interleave
        rate = self.plan.rate_of(0)
        t = self.t0_ns + math.ceil(NS * (self.index % self.lanes) / rate)
        while t < start_ns:
            gap = self._interval_ns(t)
            if gap is None:
                return None
            t += gap
        return t

    def advance(self, now_ns: int) -> None:
        """Queue every arrival intended at or before ``now_ns``."""
        while self.next_ns is not None and self.next_ns <= now_ns:
            t = self.next_ns
            step = self.plan.step_at((t - self.t0_ns) / NS)
            if step is None:
                self.next_ns = None
                break
            item = self.pick()
            self.due.append(Arrival(t, step, item))
            self.scheduled[(step, item)] += 1
            gap = self._interval_ns(t)
            self.next_ns = None if gap is None else t + gap
        if self.next_ns is None and not self.due:
            self.finished = True

    def pop(self, now_ns: int) -> Arrival | None:
        """The oldest due arrival (late ones first), or None if nothing is due yet."""
        self.advance(now_ns)
        return self.due.popleft() if self.due else None

    def wait_ns(self, now_ns: int) -> int | None:
        """How long until the next arrival falls due (0 if one is due; None if the plan ended)."""
        self.advance(now_ns)
        if self.due:
            return 0
        if self.next_ns is None:
            return None
        return max(0, self.next_ns - now_ns)

    def drain_scheduled(self) -> Counter[tuple[int, int]]:
        out, self.scheduled = self.scheduled, Counter()
        return out
