"""When traces happen: M months ending at the anchor, with a daily and weekly cycle and bursts.

The rate per hour is ``weekday × daily × burst``:

- daily: ``1 + 0.6·cos(2π(h − 15)/24)`` for UTC hour h (peak 15:00 UTC, where US and EU
  working hours overlap; trough 03:00 at 0.4/1.6 = 1/4 of the peak);
- weekday: 1.0 Monday–Friday, 0.6 on weekends;
- burst: a log-normal factor per hour (σ = 0.5, drawn from the seed) for alert storms.

Trace i of N gets the time ``F⁻¹((i + u)/N)`` with F the cumulative rate and u uniform: the
rows follow the rate exactly (stratified sampling), and trace ids increase with time, as
they would when a service inserts traces as actions happen. Consequently a chunk of
consecutive ids falls into one or two monthly partitions.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import numpy as np

from ctxbench.datagen.rng import stream

DAILY_AMPLITUDE = 0.6
PEAK_HOUR_UTC = 15
WEEKEND_FACTOR = 0.6
BURST_SIGMA = 0.5
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
US_PER_HOUR = 3_600_000_000


def months_before(day: date, months: int) -> date:
    """The same day ``months`` calendar months earlier (clamped to the month's length)."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def to_pg_us(moment: datetime) -> int:
    """Microseconds since 2000-01-01 UTC: PostgreSQL's binary timestamptz."""
    delta = moment - PG_EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_pg_us(us: int) -> datetime:
    return PG_EPOCH + timedelta(microseconds=int(us))


def daily_factor(hours: np.ndarray) -> np.ndarray:
    return 1.0 + DAILY_AMPLITUDE * np.cos(2 * np.pi * (hours - PEAK_HOUR_UTC) / 24.0)


@dataclass(frozen=True)
class Timeline:
    """The dataset's time range [start, end) in UTC and its rate per hour."""

    start: datetime
    end: datetime
    weights: np.ndarray = field(repr=False)    # relative rate of each hour in the range
    cum: np.ndarray = field(repr=False)        # normalized cumulative rate at each hour's end

    @classmethod
    def build(cls, anchor: date, months: int, seed: int) -> Timeline:
        end = datetime(anchor.year, anchor.month, anchor.day, tzinfo=UTC)
        first = months_before(anchor, months)
        start = datetime(first.year, first.month, first.day, tzinfo=UTC)
        n_hours = int((end - start).total_seconds() // 3600)
        hour_of_range = np.arange(n_hours)
        hour_of_day = (start.hour + hour_of_range) % 24
        weekday = (start.weekday() + (start.hour + hour_of_range) // 24) % 7
        weights = daily_factor(hour_of_day) * np.where(weekday >= 5, WEEKEND_FACTOR, 1.0)
        weights = weights * stream(seed, "time.bursts").lognormal(0.0, BURST_SIGMA, n_hours)
        cum = np.cumsum(weights)
        cum /= cum[-1]
        return cls(start, end, weights, cum)

    @property
    def start_us(self) -> int:
        return to_pg_us(self.start)

    @property
    def end_us(self) -> int:
        return to_pg_us(self.end)

    def quantile_us(self, p: np.ndarray) -> np.ndarray:
        """Times (µs since 2000-01-01) at cumulative rate fractions ``p`` in [0, 1)."""
        hour = np.searchsorted(self.cum, p, side="right")
        hour = np.minimum(hour, len(self.cum) - 1)
        lower = np.where(hour > 0, self.cum[hour - 1], 0.0)
        frac = (p - lower) / (self.cum[hour] - lower)
        frac = np.clip(frac, 0.0, 1.0)
        us = self.start_us + ((hour + frac) * US_PER_HOUR).astype(np.int64)
        return np.minimum(us, self.end_us - 1)

    def trace_times(self, first_index: int, count: int, total: int,
                    rng: np.random.Generator) -> np.ndarray:
        """action_timestamp of traces first_index .. first_index+count-1 out of ``total``."""
        i = np.arange(first_index, first_index + count, dtype=np.float64)
        return self.quantile_us((i + rng.random(count)) / total)
