"""The query core: every Context API query defined once, plus realistic parameter samplers.

The phase runner, Locust, pytest-benchmark, the vector-quality and plan tools all execute
these definitions; nothing else in ctxbench writes query SQL.
"""

from ctxbench.queries.catalog import catalog
from ctxbench.queries.execution import Statement, ensure_vector_adapter
from ctxbench.queries.incidents import INCIDENT_FIELDS, phase_for_status
from ctxbench.queries.model import AS_SHIPPED, Bindable, Executable, OnStart, Query, Variant
from ctxbench.queries.profile import DatasetProfile
from ctxbench.queries.sampler import ParamSampler, ParamSet, param_id
from ctxbench.queries.semantic import semantic_variant

__all__ = [
    "AS_SHIPPED",
    "INCIDENT_FIELDS",
    "Bindable",
    "DatasetProfile",
    "Executable",
    "OnStart",
    "ParamSampler",
    "ParamSet",
    "Query",
    "Statement",
    "Variant",
    "catalog",
    "ensure_vector_adapter",
    "param_id",
    "phase_for_status",
    "schema_variant_names",
    "schema_variants_needed",
    "semantic_variant",
]


def schema_variants_needed(pairs) -> list[str]:
    """Schema variants (migrations/variants/NAME.sql) that (query, variant) pairs rely on."""
    out: list[str] = []
    for query, variant in pairs:
        q = catalog[query] if isinstance(query, str) else query
        for name in schema_variant_names(q.variant(variant).schema_variant):
            if name not in out:
                out.append(name)
    return out


def schema_variant_names(spec: str | None) -> list[str]:
    """A variant's schema needs: one name, or several joined with '+'."""
    return [n for n in (spec or "").split("+") if n]
