"""Which plan a semantic search ran: the HNSW index, or an exact sort over the matching rows.

This decides what recall *means* for a cell: an exact plan (B-tree or sequential scan, then
Sort by distance) is always right and its cost grows with the matching rows; an HNSW plan is
approximate, and with a filter applied after the index scan it can come back short. The
planner switches between them on its row estimates, so the same query can flip after
ANALYZE; each cell records its plan so such a flip is visible beside the recall it caused.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ctxbench.results.explain import summarize_plan

HNSW, EXACT, MIXED, UNKNOWN = "hnsw", "exact", "mixed", "unknown"


def _is_hnsw(index: str | None, hnsw_indexes: set[str]) -> bool:
    if not index:
        return False
    return index in hnsw_indexes or (not hnsw_indexes and "embedding" in index)


def classify(summary: dict[str, Any], hnsw_indexes: Iterable[str] = ()) -> dict[str, Any]:
    """{'kind': hnsw|exact|mixed, 'access': short text} from a plan summary's nodes.

    ``hnsw_indexes`` are the partition HNSW index names (without schema); without them an
    index whose name mentions 'embedding' counts as HNSW.
    """
    names = {n.split(".")[-1] for n in hnsw_indexes}
    nodes = summary.get("nodes") or []
    scans = [n for n in nodes if n.get("relation", "") and
             str(n.get("relation")).startswith("resource_action_traces")]
    hnsw = [n for n in scans if _is_hnsw(n.get("index"), names)]
    other = [n for n in scans if not _is_hnsw(n.get("index"), names)]
    if not scans:
        return {"kind": UNKNOWN, "access": "no scan of resource_action_traces found"}
    kinds = sorted({str(n["node_type"]) for n in other})
    if hnsw and not other:
        return {"kind": HNSW, "access": f"HNSW index scan on {len(hnsw)} partition(s)"}
    if other and not hnsw:
        return {"kind": EXACT, "access": f"{', '.join(kinds)} on {len(other)} partition(s), "
                                         "then sort by distance"}
    return {"kind": MIXED, "access": f"HNSW on {len(hnsw)} partition(s), {', '.join(kinds)} "
                                     f"on {len(other)}"}


def classify_plan(explain_json: Any, hnsw_indexes: Iterable[str] = ()) -> dict[str, Any]:
    return classify(summarize_plan(explain_json), hnsw_indexes)
