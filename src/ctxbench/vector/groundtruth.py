"""Exact nearest neighbours, computed in numpy from the exported embeddings, cached per dataset.

The ground truth must not depend on the server it judges: a cached (prepared) plan can run an
"exact" query through HNSW without saying so. So the rows the semantic search can return are
exported once (the same joins, embedding NOT NULL, the filter columns) and every query's top
``k_max`` neighbours are found by brute force: cosine distance in float32 for a candidate
list with a margin, then recomputed in float64 and ordered by (distance, id).

One ground truth serves every threshold and every k ≤ k_max: the rows passing
``1 - distance >= threshold`` are a prefix of the distance order, so the exact answer for a
threshold is the unthresholded one cut where similarity drops below it.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from psycopg.adapt import Loader

from ctxbench.errors import UsageError
from ctxbench.queries.execution import outside_transaction
from ctxbench.queries.incidents import FROM_JOINS
from ctxbench.queries.semantic import SEMANTIC_FILTERS
from ctxbench.vector.queryset import QuerySet

TRUTH_VERSION = 1
K_MAX = 100  # the service's largest limit: any k in 1..100 reads the same cached truth
MARGIN = 32  # extra float32 candidates, so float64 re-ranking cannot miss a neighbour
CHUNK_ROWS = 65536
QUERY_BLOCK = 256

# The filter columns exactly as the query core writes its conditions ("rr.namespace = ...").
FILTER_COLUMNS: dict[str, str] = {key: cond.split(" = ")[0] for key, cond in SEMANTIC_FILTERS}


@dataclass(frozen=True)
class Filter:
    """Equality filters of the semantic search (cluster_name, environment, namespace, ...)."""

    items: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, params: dict[str, str] | None) -> Filter:
        params = params or {}
        unknown = sorted(set(params) - set(FILTER_COLUMNS))
        if unknown:
            raise UsageError(f"filter key {unknown[0]!r} is not a semantic-search filter; "
                             f"allowed: {', '.join(FILTER_COLUMNS)}")
        return cls(tuple(sorted((str(k), str(v)) for k, v in params.items())))

    @property
    def params(self) -> dict[str, str]:
        return dict(self.items)

    @property
    def label(self) -> str:
        return ",".join(f"{k}={v}" for k, v in self.items) or "none"


@dataclass
class Corpus:
    """The searchable rows: ids, unit embeddings and the filter columns, in id order."""

    ids: np.ndarray
    vectors: np.ndarray
    columns: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def mask(self, flt: Filter) -> np.ndarray:
        out = np.ones(len(self), dtype=bool)
        for key, value in flt.items:
            out &= self.columns[key] == value
        return out


@dataclass
class Truth:
    """Per query: the ``k_max`` nearest matching rows (ids, cosine distances), -1/inf padded."""

    filter: Filter
    ids: np.ndarray
    dists: np.ndarray
    matching: int
    total: int

    @property
    def selectivity(self) -> float:
        return self.matching / self.total if self.total else 0.0

    def answer(self, i: int, k: int, threshold: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """The exact answer of query ``i`` for LIMIT ``k`` and a similarity threshold."""
        if k > self.ids.shape[1]:
            raise UsageError(f"k={k} is larger than the ground truth's k_max={self.ids.shape[1]}")
        ids, dists = self.ids[i, :k], self.dists[i, :k]
        keep = (ids >= 0) & (1.0 - dists >= threshold)
        return ids[keep], dists[keep]


class _RawVector(Loader):
    """pgvector's binary wire format, kept as bytes: parsed for all rows at once in numpy."""

    def load(self, data: Any) -> bytes:
        return bytes(data)


def export_sql() -> str:
    cols = ", ".join(f"{expr} AS {key}" for key, expr in FILTER_COLUMNS.items())
    return f"SELECT rat.id, rat.embedding, {cols}\n{FROM_JOINS}\nWHERE rat.embedding IS NOT NULL"


def export_corpus(conn: psycopg.Connection, *, batch: int = 20000,
                  advance: Callable[[int], None] | None = None) -> Corpus:
    """Every row the semantic search can return (same joins), with its filter columns."""
    oid_row = conn.execute("SELECT to_regtype('vector')::oid").fetchone()
    if oid_row is None or oid_row[0] is None:
        raise UsageError("the database has no 'vector' type; run `ctxbench db migrate` first")
    ids: list[int] = []
    blobs: list[bytes] = []
    cols: dict[str, list[Any]] = {k: [] for k in FILTER_COLUMNS}
    keys = list(FILTER_COLUMNS)
    with outside_transaction(conn), conn.transaction():
        cur = conn.cursor(name="ctxbench_vector_export", binary=True)
        cur.adapters.register_loader(int(oid_row[0]), _RawVector)
        cur.itersize = batch
        cur.execute(export_sql())
        while rows := cur.fetchmany(batch):
            for row in rows:
                ids.append(int(row[0]))
                blobs.append(row[1])
                for j, key in enumerate(keys):
                    cols[key].append(row[2 + j])
            if advance:
                advance(len(rows))
        cur.close()
    if not ids:
        raise UsageError("no rows with an embedding to search; run `ctxbench seed` first")
    dims = int(np.frombuffer(blobs[0][:2], dtype=">i2")[0])
    raw = np.frombuffer(b"".join(blobs), dtype=np.uint8).reshape(len(blobs), 4 + 4 * dims)
    vectors = raw[:, 4:].copy().view(">f4").astype(np.float32)
    order = np.argsort(np.asarray(ids, dtype=np.int64), kind="stable")
    norms = np.linalg.norm(vectors.astype(np.float64), axis=1)
    norms[norms == 0] = 1.0
    vectors = (vectors / norms[:, None].astype(np.float32))[order]
    columns = {k: np.asarray([("" if v is None else str(v)) for v in vals], dtype=object)[order]
               for k, vals in cols.items()}
    return Corpus(np.asarray(ids, dtype=np.int64)[order], vectors, columns)


def brute_force(corpus: Corpus, queries: np.ndarray, filters: Sequence[Filter], *,
                k_max: int = K_MAX, chunk: int = CHUNK_ROWS) -> list[Truth]:
    """Top ``k_max`` rows per query and filter, by cosine distance; ties ordered by id."""
    queries = np.asarray(queries)
    if queries.shape[0] > QUERY_BLOCK:  # bounded memory: (block × chunk) similarities at a time
        parts = [brute_force(corpus, queries[i:i + QUERY_BLOCK], filters, k_max=k_max, chunk=chunk)
                 for i in range(0, queries.shape[0], QUERY_BLOCK)]
        return [Truth(f, np.concatenate([p[j].ids for p in parts]),
                      np.concatenate([p[j].dists for p in parts]), parts[0][j].matching,
                      parts[0][j].total) for j, f in enumerate(filters)]
    q = np.asarray(queries, dtype=np.float64)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    q32 = q.astype(np.float32)
    nq = q.shape[0]
    masks = [corpus.mask(f) for f in filters]
    keep = k_max + MARGIN
    cand_idx = [np.empty((nq, 0), dtype=np.int64) for _ in filters]
    cand_sim = [np.empty((nq, 0), dtype=np.float32) for _ in filters]
    for start in range(0, len(corpus), chunk):
        stop = min(start + chunk, len(corpus))
        sims = q32 @ corpus.vectors[start:stop].T  # (nq, rows)
        for f, mask in enumerate(masks):
            cols = np.nonzero(mask[start:stop])[0]
            if cols.size == 0:
                continue
            s = np.concatenate([cand_sim[f], sims[:, cols]], axis=1)
            idx = np.concatenate([cand_idx[f], np.broadcast_to(cols + start, (nq, cols.size))],
                                 axis=1)
            if s.shape[1] > keep:
                part = np.argpartition(-s, keep - 1, axis=1)[:, :keep]
                s = np.take_along_axis(s, part, axis=1)
                idx = np.take_along_axis(idx, part, axis=1)
            cand_sim[f], cand_idx[f] = s, idx
    out = []
    for f, flt in enumerate(filters):
        ids = np.full((nq, k_max), -1, dtype=np.int64)
        dists = np.full((nq, k_max), np.inf, dtype=np.float64)
        idx = cand_idx[f]
        if idx.shape[1]:
            exact = 1.0 - np.einsum("qd,qkd->qk", q, corpus.vectors[idx].astype(np.float64))
            row_ids = corpus.ids[idx]
            order = np.lexsort((row_ids, exact), axis=1)[:, :k_max]
            n = order.shape[1]
            ids[:, :n] = np.take_along_axis(row_ids, order, axis=1)
            dists[:, :n] = np.take_along_axis(exact, order, axis=1)
        out.append(Truth(flt, ids, dists, int(masks[f].sum()), len(corpus)))
    return out


# -- cache ----------------------------------------------------------------------------------------
def default_cache_dir() -> Path:
    env = os.environ.get("CTXBENCH_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ctxbench"


def cache_key(checksum: str, queries: QuerySet, flt: Filter, k_max: int) -> str:
    text = json.dumps({"v": TRUTH_VERSION, "checksum": checksum, "queries": queries.digest(),
                       "filter": flt.items, "k_max": k_max, "export": export_sql()},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _path(cache_dir: Path, key: str) -> Path:
    return cache_dir / "ground-truth" / f"gt-{key}.npz"


def load_cached(cache_dir: Path, key: str, flt: Filter) -> Truth | None:
    path = _path(cache_dir, key)
    if not path.exists():
        return None
    try:
        with np.load(path) as data:
            return Truth(flt, data["ids"], data["dists"], int(data["matching"]),
                         int(data["total"]))
    except (OSError, KeyError, ValueError):
        return None  # a damaged cache entry is recomputed, not trusted


def save_cached(cache_dir: Path, key: str, truth: Truth) -> Path:
    path = _path(cache_dir, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp.npz")
    np.savez_compressed(tmp, ids=truth.ids, dists=truth.dists, matching=truth.matching,
                        total=truth.total)
    os.replace(tmp, path)
    return path


@dataclass
class TruthInfo:
    """How the ground truth was obtained, for vector.json and the report."""

    cached: int = 0
    computed: int = 0
    rows: int | None = None
    export_seconds: float | None = None
    compute_seconds: float | None = None
    cache_dir: str | None = None
    keys: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"cached": self.cached, "computed": self.computed, "rows": self.rows,
                "export_seconds": self.export_seconds, "compute_seconds": self.compute_seconds,
                "cache_dir": self.cache_dir, "keys": self.keys, "k_max": K_MAX,
                "method": "numpy brute force, cosine distance (float64 re-rank), ties by id"}


def ground_truth(conn: psycopg.Connection, queries: QuerySet, filters: Sequence[Filter], *,
                 checksum: str | None, cache_dir: Path | None,
                 log: Callable[[str], None] = lambda _: None) -> tuple[list[Truth], TruthInfo]:
    """The truth for every filter: from the cache when the dataset checksum and query set
    match, else exported and computed (and cached). Without a checksum nothing is cached."""
    info = TruthInfo(cache_dir=str(cache_dir) if cache_dir and checksum else None)
    found: dict[Filter, Truth] = {}
    if checksum and cache_dir:
        for flt in filters:
            key = cache_key(checksum, queries, flt, K_MAX)
            info.keys[flt.label] = key
            hit = load_cached(cache_dir, key, flt)
            if hit is not None and hit.ids.shape[0] == len(queries):
                found[flt] = hit
    info.cached = len(found)
    missing = [f for f in filters if f not in found]
    if missing:
        t0 = time.perf_counter()
        log(f"ground truth: exporting embeddings for {len(missing)} filter(s)")
        corpus = export_corpus(conn)
        info.rows = len(corpus)
        info.export_seconds = round(time.perf_counter() - t0, 3)
        t1 = time.perf_counter()
        for truth in brute_force(corpus, queries.vectors, missing):
            found[truth.filter] = truth
            if checksum and cache_dir:
                save_cached(cache_dir, info.keys[truth.filter.label], truth)
        info.compute_seconds = round(time.perf_counter() - t1, 3)
        info.computed = len(missing)
    return [found[f] for f in filters], info
