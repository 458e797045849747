"""Q4 semantic search: cosine kNN over the HNSW index, joined to the incident fields.

As shipped (quirks kept):
- before the query the service sent ``SET LOCAL enable_seqscan = off`` and
  ``SET LOCAL ivfflat.probes = 10`` outside any transaction: each is a round trip and a
  WARNING, with no effect; ``hnsw.ef_search`` stays at pgvector's default 40;
- the threshold (``1 - distance >= $2``) and the joins filter rows *after* the per-partition
  HNSW scans, so fewer than k rows can come back although more qualify;
- every row carries the full 384-dimensional embedding.

Tuned variants apply real settings inside a transaction (``semantic_variant``); ``exact``
turns index scans off, which makes the answer the brute-force ground truth.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from ctxbench.errors import UsageError
from ctxbench.queries.incidents import FROM_JOINS, INCIDENT_FIELDS, SELECT_INCIDENT, incident_dict
from ctxbench.queries.model import OnStart, Query, Variant
from ctxbench.queries.validation import Checker

SHIPPED_NOOP_SETS = ("SET LOCAL enable_seqscan = off", "SET LOCAL ivfflat.probes = 10")
ITERATIVE_SCANS = ("off", "strict_order", "relaxed_order")
DEFAULT_TUNED_EF = 100

SEMANTIC_SQL = f"""{SELECT_INCIDENT},
    rat.embedding,
    1 - (rat.embedding <=> %(embedding)s::vector) AS similarity
{FROM_JOINS}
WHERE rat.embedding IS NOT NULL
  AND 1 - (rat.embedding <=> %(embedding)s::vector) >= %(threshold)s{{filters}}
ORDER BY rat.embedding <=> %(embedding)s::vector
LIMIT %(limit)s"""

# The smaller index remedy: an HNSW expression index on the embedding cast to halfvec (16-bit
# floats, pgvector >= 0.7; half the index size) and the ORDER BY on the same expression so the
# planner can walk it. The threshold and the similarity returned stay in full precision; only
# the order among near-ties (and so which rows make the k) can change.
HALFVEC_SQL = SEMANTIC_SQL.replace(
    "ORDER BY rat.embedding <=> %(embedding)s::vector",
    "ORDER BY rat.embedding::halfvec(384) <=> %(embedding)s::vector::halfvec(384)")

# The threshold after the LIMIT (pgvector's own advice for distance filters): the k nearest
# first, then the threshold on those k. The same answer: the HNSW scan (ef_search 40, no
# iterative scan) emits each partition's candidates in exact distance order and the Merge Append
# keeps that order, so the rows passing "similarity >= threshold" are a prefix of the stream and
# cutting at k before or after the threshold keeps the same rows (where the shipped plan walks
# the index in every partition: see the variant's doc). What changes is what a search
# with nothing above the threshold (a `far` vector) reads: as shipped, the filter rejects every
# candidate each partition's scan emits (ef_search = 40 heap rows per partition, 240 over 1M's 6, each a
# random read of the 3.6 kB trace row when cold); here the Limit stops after k rows (+ the one
# row each partition's scan must produce to start the merge). With the optional (not shipped)
# filters, the shipped SQL is sent (see _render).
TOPK_SQL = ("SELECT " + ", ".join(f"top_k.{c}" for c in INCIDENT_FIELDS)
            + ", top_k.embedding, top_k.similarity\nFROM (\n"
            + SEMANTIC_SQL.replace(
                "\n  AND 1 - (rat.embedding <=> %(embedding)s::vector) >= %(threshold)s", "")
            .replace("AS similarity\n",
                     "AS similarity,\n    rat.embedding <=> %(embedding)s::vector AS distance\n")
            + ") top_k\nWHERE top_k.similarity >= %(threshold)s\nORDER BY top_k.distance")

# The relations every returned row joins to (50k rows each at 1M: 16.5 MB with their keys): a
# prewarm of these beside the HNSW graph leaves a cold search only the k trace rows to read.
JOINED_TABLES = ("action_histories", "action_histories_pkey", "resource_references",
                 "resource_references_pkey")

# What a server-start prewarm of the search's index loads: the shipped HNSW index's partitions
# (resolved from the catalog of the database the run connects to). Named, not
# "hnsw:resource_action_traces": where the half-size index also exists, that would load both.
PREWARM_HNSW = OnStart(("idx_rat_embedding_hnsw",))
# ... and only the half-size index's partitions (the shipped HNSW index stays in the schema,
# but the halfvec query never reads it).
PREWARM_HALFVEC = OnStart(("idx_rat_embedding_half_hnsw",))
# The HNSW graph and the joined tables (see TOPK_SQL).
PREWARM_TOPK = OnStart(("idx_rat_embedding_hnsw", *JOINED_TABLES))

# Optional filters, not in the shipped query: for filtered-search recall studies.
SEMANTIC_FILTERS = (
    ("namespace", "rr.namespace = %(namespace)s"),
    ("severity", "rat.alert_severity = %(severity)s"),
    ("cluster_name", "rat.cluster_name = %(cluster_name)s"),
    ("environment", "rat.environment = %(environment)s"),
)
FILTER_KEYS = tuple(k for k, _ in SEMANTIC_FILTERS)


def _validate(params: Mapping[str, Any], surface: str) -> dict[str, Any]:
    c = Checker("semantic_search", params, ("embedding", "threshold", "limit", *FILTER_KEYS),
                surface)
    c.embedding("embedding")
    if surface == "http":
        # No HTTP route shipped; the stricter model validation (used by no path) stands in.
        c.integer("limit", 10, 1, 50)
        c.number("threshold", 0.7, 0.0, 1.0)
    else:
        c.integer("limit", 10, 1, 100)
        c.number("threshold", 0.0, 0.0, 1.0)
    for key in FILTER_KEYS:
        c.text(key, max_len=100)
    return c.out


def _render(variant: Variant, params: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    args: dict[str, Any] = {
        "embedding": np.asarray(params["embedding"], dtype=np.float32),
        "threshold": float(params.get("threshold", 0.0)),
    }
    conds = []
    for key, cond in SEMANTIC_FILTERS:
        if params.get(key) is not None:
            conds.append(f"\n  AND {cond}")
            args[key] = params[key]
    args["limit"] = int(params.get("limit", 10))
    sql = variant.sql
    if conds and sql is TOPK_SQL:
        # With the optional filters the threshold stays in the scan: the planner's estimate
        # (threshold and filter together) is what picks the exact bitmap scan + sort for a
        # selective filter; without the threshold it walks the HNSW index and filters after
        # it, a different (shorter) answer. The service never sends filters.
        sql = SEMANTIC_SQL
    return sql.replace("{filters}", "".join(conds)), args


def embedding_array(value: Any) -> np.ndarray:
    """A stored embedding as float32, whether pgvector's loader ran (Vector) or not (text)."""
    if hasattr(value, "to_numpy"):
        return value.to_numpy()
    if isinstance(value, str):
        return np.array(value.strip("[]").split(","), dtype=np.float32)
    return np.asarray(value, dtype=np.float32)


def _to_result(rows: list[tuple], params: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        item = incident_dict(row[:19])
        item["embedding"] = embedding_array(row[19]).tolist()
        item["similarity"] = float(row[20])
        out.append(item)
    return out


def semantic_variant(ef_search: int = DEFAULT_TUNED_EF, iterative_scan: str | None = None,
                     *, max_scan_tuples: int | None = None, name: str | None = None) -> Variant:
    """A variant that really applies HNSW settings (SET LOCAL inside a transaction).

    ``iterative_scan='strict_order'`` keeps scanning until k rows pass the threshold and
    filters (the shipped query can return fewer: a bug, so it may change the answer there);
    ``relaxed_order`` may also return rows slightly out of distance order.
    """
    if not 1 <= ef_search <= 1000:
        raise UsageError(f"semantic_search: ef_search={ef_search} is not allowed; allowed 1–1000")
    if iterative_scan is not None and iterative_scan not in ITERATIVE_SCANS:
        raise UsageError(f"semantic_search: iterative_scan={iterative_scan!r} is not allowed; "
                         f"allowed: {', '.join(ITERATIVE_SCANS)}")
    settings = {"hnsw.ef_search": str(ef_search)}
    label = f"ef{ef_search}"
    if iterative_scan is not None:
        settings["hnsw.iterative_scan"] = iterative_scan
        label += "" if iterative_scan == "off" else f"_{iterative_scan.split('_')[0]}"
    if max_scan_tuples is not None:
        settings["hnsw.max_scan_tuples"] = str(max_scan_tuples)
        label += f"_max{max_scan_tuples}"
    doc = (f"Really applies hnsw.ef_search={ef_search}"
           + (f", hnsw.iterative_scan={iterative_scan}" if iterative_scan else "")
           + (f", hnsw.max_scan_tuples={max_scan_tuples}" if max_scan_tuples else "")
           + " with SET LOCAL inside a transaction (BEGIN; SET LOCAL ...; query; COMMIT). "
           "Same SQL as shipped; a larger ef_search only raises recall toward the exact answer.")
    changes = iterative_scan in ("strict_order", "relaxed_order")
    if changes:
        doc += (" Iterative scan keeps searching until k rows pass the threshold/filters, fixing "
                "the shipped short answers (the answer changes only there)")
        doc += "; relaxed_order may return rows slightly out of order." if (
            iterative_scan == "relaxed_order") else "."
    return Variant(name or label, SEMANTIC_SQL, doc, settings=settings, changes_answer=changes)


_EF_NAME = re.compile(r"^ef(\d+)(?:_(strict|relaxed))?(?:_max(\d+))?$")


def variant_by_name(name: str) -> Variant | None:
    """Build ``ef<N>[_strict|_relaxed][_max<M>]`` on demand, e.g. ``ef200`` or ``ef40_strict``."""
    m = _EF_NAME.match(name)
    if not m:
        return None
    scan = {"strict": "strict_order", "relaxed": "relaxed_order", None: None}[m.group(2)]
    return semantic_variant(int(m.group(1)), scan,
                            max_scan_tuples=int(m.group(3)) if m.group(3) else None)


EXACT = Variant(
    "exact",
    "/* ctxbench:exact */ " + SEMANTIC_SQL,
    "Ground truth: SET LOCAL enable_indexscan = off so no HNSW scan can be chosen (a sort "
    "over every embedded row, slow by design). The SQL carries a comment so psycopg's "
    "prepared statement for it is never shared with the indexed variants (a cached plan "
    "would ignore the setting). Answers the question the shipped query asks, exactly.",
    settings={"enable_indexscan": "off"}, changes_answer=True)

semantic_search = Query(
    name="semantic_search",
    description="Q4: k nearest incidents by cosine distance with a similarity threshold.",
    tags=frozenset({"vector"}),
    params_doc={"embedding": "384 floats (required)",
                "threshold": "0–1 (builder default 0.0; http/model default 0.7)",
                "limit": "k: builder 1–100 (default 10); http/model 1–50",
                "namespace/severity/cluster_name/environment": "optional filters (not shipped)"},
    variants={
        "as_shipped": Variant(
            "as_shipped", SEMANTIC_SQL,
            "As shipped: the no-op SET LOCALs (outside a transaction: WARNING, no effect) "
            "then the query with pgvector defaults (ef_search 40). Threshold and joins filter "
            "after the HNSW scan, so fewer than k rows can come back.",
            shipped_noop_sets=SHIPPED_NOOP_SETS),
        "tuned": semantic_variant(DEFAULT_TUNED_EF, name="tuned"),
        "iterative": semantic_variant(DEFAULT_TUNED_EF, "strict_order", name="iterative"),
        "prewarmed": Variant(
            "prewarmed", SEMANTIC_SQL,
            "The shipped statement (pgvector defaults, ef_search 40, without the no-op SETs) "
            f"plus a server-start action: {PREWARM_HNSW.text()} (every HNSW index of the trace "
            "partitions; the cold phase runs it after each cache reset, before the sample, and "
            "records its seconds and MB). Same answer as shipped. ef_search 40 rather than "
            "tuned's 100: at 1M, 100 touched 1.8x the index blocks per search (84 vs 48 MB) and "
            "doubled the warm median for +0.03 recall (README).",
            on_start=PREWARM_HNSW),
        "topk": Variant(
            "topk", TOPK_SQL,
            "The shipped search with the threshold applied after the LIMIT: the k nearest "
            "(ef_search 40, as shipped), then similarity >= threshold on those k (pgvector's "
            "advice for distance filters). A search with nothing above the threshold reads k "
            "trace rows instead of every candidate of every partition (ef_search = 40 each), each a "
            "random heap read when cold. The answer is the shipped one wherever the shipped "
            "plan walks the HNSW index of every partition (the scans emit candidates in distance "
            "order, so the rows above the threshold are a prefix): always at 1M. It can differ "
            "where the planner scans and sorts the partitions exactly instead (the threshold in the "
            "shipped WHERE lowers the index scan's expected yield, e.g. k = 100 on the CI "
            "dataset): there the shipped rows are exact and these approximate, with the same "
            "recall as the index walk (checked against brute force).",
            changes_answer=True),
        "topk_prewarmed": Variant(
            "topk_prewarmed", TOPK_SQL,
            "topk (see there) plus the server-start action: "
            f"{PREWARM_TOPK.text()} (the HNSW graphs and the two joined tables with their keys), "
            "so a cold search reads only its k trace rows. Answer as topk.",
            changes_answer=True, on_start=PREWARM_TOPK),
        "halfvec": Variant(
            "halfvec", HALFVEC_SQL,
            "Half-size index: ORDER BY embedding::halfvec(384) <=> query::halfvec(384) over the "
            "HNSW expression index of schema variant embedding_halfvec (16-bit floats: half the "
            "shipped index's size, so more of it stays in shared buffers), pgvector defaults "
            "(ef_search 40). The threshold and the similarity returned stay in full precision; "
            "rounding the vectors to 16 bits can reorder near-ties, so which rows make the k "
            "can change (recall against the exact answer is checked).",
            schema_variant="embedding_halfvec", changes_answer=True),
        "halfvec_prewarmed": Variant(
            "halfvec_prewarmed", HALFVEC_SQL,
            "halfvec (see there) plus the server-start action: pg_prewarm every HNSW index of "
            "the half-size index's partitions after every start.",
            schema_variant="embedding_halfvec", changes_answer=True, on_start=PREWARM_HALFVEC),
        "exact": EXACT,
    },
    _validate=_validate,
    _render=_render,
    _to_result=_to_result,
    variant_factory=variant_by_name,
    needs_vector=True,
)
