"""The ordered catalog: every Context API query of reference §3, defined once."""

from __future__ import annotations

from ctxbench.queries.aggregations import (
    action_comparison,
    by_namespace,
    filtered_aggregation,
    namespace_health,
    severity_distribution,
    success_rate,
    top_failing_actions,
    trend,
)
from ctxbench.queries.incidents import count_incidents, get_incident, list_incidents
from ctxbench.queries.model import Query, ordered
from ctxbench.queries.semantic import semantic_search

catalog: dict[str, Query] = ordered([
    list_incidents, count_incidents, get_incident, semantic_search, success_rate,
    by_namespace, severity_distribution, trend, filtered_aggregation, top_failing_actions,
    action_comparison, namespace_health,
])
