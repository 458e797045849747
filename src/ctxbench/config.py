"""Fields of the configuration dataclasses (scenario tables, phase specs).

``spec_field`` records a field's allowed values in its metadata — ``choices``, the bounds ``lo`` and
``hi``, a one-line ``doc`` — so one loader validates every table with one kind of error message
(file, key, value, what is allowed) and command-line options are checked against the same bounds
(``ctxbench.bounds``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import field
from typing import Any

# The default latency budget: every measured group's p95 within the Context API's 500 ms. A run's
# metadata records it first among its budgets (scenario.resolved_budgets); the analysis applies it
# to any folder (analysis.budgets.parse_budgets), so a scenario's own ``*``/``*`` line overrides it.
DEFAULT_BUDGET: dict[str, Any] = {"query": "*", "phase": "*", "metric": "p95", "max": 500.0}

# The default error budget: the service's SLO "errors < 1 %" (workload reference §4), judged once
# per run on every measured execution pooled (query "all", phase "all": analysis.data.pooled_groups).
# Per group it could rarely be decided (a PASS needs >= 368 error-free samples); pooled it can.
# A scenario changes it or switches it off with its own budget on query "all", phase "all".
POOLED = "all"  # as a budget's query: every query pooled; as its phase: the whole run pooled
DEFAULT_ERROR_BUDGET: dict[str, Any] = {"query": POOLED, "phase": POOLED, "metric": "error_rate",
                                        "max": 0.01}


def spec_field(default: Any = dataclasses.MISSING, *, choices: tuple[Any, ...] | None = None,
               lo: float | None = None, hi: float | None = None, doc: str = "",
               factory: Any = None) -> Any:
    meta = {"choices": choices, "lo": lo, "hi": hi, "doc": doc}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)
