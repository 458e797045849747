"""Filters at chosen selectivities: the value of cluster, environment or namespace whose share
of rows is closest to each target (≈50 %, 10 %, 1 %...).

Closeness is the ratio, not the difference (0.5 % is as far from 1 % as 2 % is), and each
value is used once, so two targets never measure the same filter. The share the profile
reports is an estimate for choosing; the report gives the actual share from the ground truth
(rows matching the filter among the rows the search can return).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ctxbench.errors import UsageError
from ctxbench.queries import DatasetProfile
from ctxbench.vector.groundtruth import Filter

# Filter keys in order of preference when two values are equally close.
KEYS = ("environment", "cluster_name", "namespace")


@dataclass(frozen=True)
class FilterChoice:
    target: float  # the selectivity asked for
    filter: Filter
    estimated: float  # the profile's share of rows

    @property
    def label(self) -> str:
        """'100%', '50%', '10%', '1%', '0.3%': the target, as budgets and reports name it."""
        return selectivity_label(self.target)


def selectivity_label(share: float) -> str:
    pct = share * 100
    return f"{pct:.0f}%" if pct >= 1 and abs(pct - round(pct)) < 1e-9 else f"{pct:g}%"


def candidates(profile: DatasetProfile) -> list[tuple[str, str, float]]:
    total = max(profile.traces, 1)
    counts = {"environment": profile.environments, "cluster_name": profile.clusters,
              "namespace": profile.namespaces}
    return [(key, value, n / total) for key in KEYS for value, n in counts[key] if n > 0]


def pick_filters(profile: DatasetProfile, targets: Sequence[float]) -> list[FilterChoice]:
    """One filter per target selectivity (1.0 = no filter), closest by ratio, values unique."""
    pool = candidates(profile)
    used: set[tuple[str, str]] = set()
    out: list[FilterChoice] = []
    for target in targets:
        if not 0 < target <= 1:
            raise UsageError(f"selectivity {target!r} is not allowed; allowed: a share in (0, 1]")
        if target >= 1.0:
            out.append(FilterChoice(target, Filter(), 1.0))
            continue
        options = [(abs(math.log(share / target)), KEYS.index(key), value, key, share)
                   for key, value, share in pool if (key, value) not in used]
        if not options:
            raise UsageError("the dataset profile has no cluster/environment/namespace values "
                             "left to filter on; is the dataset loaded?")
        _, _, value, key, share = min(options)
        used.add((key, value))
        out.append(FilterChoice(target, Filter.of({key: value}), share))
    return out
