"""Calibration of the generator's vector geometry against a real sentence-embedding model.

For one ctxbench world (scale, seed) this measures, on the same traces, the geometry
(``analysis.geometry``) and the HNSW recall of

- the generated embeddings of a profile (``datagen.embeddings.PROFILES``), and
- the real embeddings of the traces' incident descriptions (``datagen.describe``, the
  optional packaged all-MiniLM-L6-v2 model; cached as .npy per world because embedding runs
  at ~100 descriptions/s on 2 cores).

HNSW recall is measured with pgvector itself (M 16, ef_construction 64, cosine) on a scratch
table in a server ctxbench owns: ``QUERIES`` seeded held-out rows of the set ("new incidents"
of the same world) are removed from the indexed rows and searched at each ef_search; recall@10
is scored against numpy's exact answer (a returned row as close as the exact 10th within 1e-5
counts: ties).

``python -m ctxbench.analysis.calibration --real --scales 2500,10000`` prints and (with
``--write``) stores the reference values in ``datagen/reference/minilm_geometry.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from ctxbench.analysis import geometry
from ctxbench.datagen.pgbinary import copy_statement

ANCHOR = date(2026, 1, 1)  # descriptions and vectors do not depend on the anchor
QUERIES = 200
K = 10
EF_SEARCH = (10, 40)
HNSW = {"m": 16, "ef_construction": 64}
REFERENCE_PATH = Path(__file__).resolve().parents[1] / "datagen" / "reference" / "minilm_geometry.json"


def make_world(scale: int, seed: int, profile: str | None = None):
    from ctxbench.datagen.model import World

    if profile is None:
        return World(scale, seed, ANCHOR, 3, "documented")
    return World(scale, seed, ANCHOR, 3, "documented", embedding_profile=profile)


def generated_vectors(scale: int, seed: int, profile: str | None = None) -> np.ndarray:
    world = make_world(scale, seed, profile)
    return np.concatenate([world.chunk(k).embedding for k in range(world.n_chunks)])


def _cache_dir() -> Path:
    import os

    base = os.environ.get("CTXBENCH_CACHE") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ctxbench")
    return Path(base) / "real-embeddings"


def real_vectors(scale: int, seed: int, *, log: Callable[[str], None] = print,
                 cache: bool = True) -> np.ndarray:
    """Real model embeddings of the world's descriptions, computed once and cached."""
    from ctxbench.datagen import describe

    world = make_world(scale, seed)
    texts = [t for _, chunk in describe.world_texts(world) for t in chunk]
    digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    path = _cache_dir() / f"minilm-{scale}-{seed}-{digest}.npy"
    if cache and path.exists():
        return np.load(path)
    t0 = time.perf_counter()
    parts = []
    for i in range(0, len(texts), 512):
        parts.append(describe.embed_texts(texts[i:i + 512]))
        log(f"  embedded {i + len(parts[-1]):,}/{len(texts):,} "
            f"({(i + len(parts[-1])) / (time.perf_counter() - t0):.0f}/s)")
    v = np.concatenate(parts)
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, v)
    return v


def holdout(n: int, queries: int = QUERIES, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(indexed rows, held-out query rows), seeded."""
    rng = np.random.default_rng([seed, 0x51AB])
    q = np.sort(rng.choice(n, size=min(queries, n // 10), replace=False))
    keep = np.ones(n, dtype=bool)
    keep[q] = False
    return np.nonzero(keep)[0], q


TIE_EPSILON = 1e-5  # as the vector study: a row as close as the k-th within this also counts


def exact_kth(base: np.ndarray, queries: np.ndarray, k: int = K) -> np.ndarray:
    """Cosine distance of each query's exact k-th nearest row (float64)."""
    sims = queries.astype(np.float64) @ base.astype(np.float64).T
    return 1.0 - -np.sort(-sims, axis=1)[:, k - 1]


def hnsw_recall(conn, base: np.ndarray, queries: np.ndarray, efs: Sequence[int] = EF_SEARCH,
                k: int = K) -> dict[str, float]:
    """Mean recall@k of pgvector's HNSW (cosine) per ef_search, on a temporary table."""
    from pgvector.psycopg import register_vector

    register_vector(conn)
    dims = base.shape[1]
    kth = exact_kth(base, queries, k)
    conn.execute(f"CREATE TEMP TABLE calib (id int PRIMARY KEY, v vector({dims}))")
    with conn.cursor().copy(copy_statement("calib", ("id", "v"))) as cp:
        cp.set_types(["int4", "vector"])
        for i, row in enumerate(base):
            cp.write_row((i, row))
    conn.execute(f"CREATE INDEX ON calib USING hnsw (v vector_cosine_ops) "
                 f"WITH (m = {HNSW['m']}, ef_construction = {HNSW['ef_construction']})")
    out = {}
    try:
        for ef in efs:
            conn.execute(f"SET hnsw.ef_search = {int(ef)}")
            hits = 0
            for qi, q in enumerate(queries):
                rows = conn.execute("SELECT id FROM calib ORDER BY v <=> %s LIMIT %s",
                                    (q, k), prepare=False).fetchall()
                got = base[[r[0] for r in rows]].astype(np.float64) @ q.astype(np.float64)
                hits += int(np.sum(1.0 - got <= kth[qi] + TIE_EPSILON))
            out[str(ef)] = hits / (k * len(queries))
    finally:
        conn.execute("DROP TABLE calib")
    return out


def measure_set(vectors: np.ndarray, conn=None, *, sample: int = 1000,
                log: Callable[[str], None] = print) -> dict[str, Any]:
    """Geometry of the whole set, plus HNSW recall of held-out rows when ``conn`` is given."""
    t0 = time.perf_counter()
    g = geometry.measure(vectors, sample=sample, seed=0)
    g["seconds"] = round(time.perf_counter() - t0, 2)
    if conn is not None:
        base_rows, q_rows = holdout(len(vectors))
        t1 = time.perf_counter()
        g["recall"] = hnsw_recall(conn, vectors[base_rows], vectors[q_rows])
        g["recall_queries"] = len(q_rows)
        g["recall_seconds"] = round(time.perf_counter() - t1, 2)
    log(f"  {geometry.summary_line(g)}" + (f", recall@10 {g['recall']}" if "recall" in g else ""))
    return g


def _open_conn(home: Path | None):
    """A connection to a scratch database of the embedded server (pgvector enabled)."""
    from ctxbench.db.target import make_server, open_target

    target = open_target(make_server("embedded", home=home), "ctxbench_calibration")
    conn = target.connect()
    conn.autocommit = True
    conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    return conn


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ctxbench.analysis.calibration",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--scales", default="2500,10000")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--real", action="store_true", help="measure the real model")
    ap.add_argument("--profiles", default="", help="comma-separated generator profiles")
    ap.add_argument("--recall", action="store_true", help="also HNSW recall (embedded server)")
    ap.add_argument("--home", type=Path, default=None, help="embedded server home")
    ap.add_argument("--json", type=Path, default=None, help="write all results here")
    args = ap.parse_args(argv)
    scales = [int(s) for s in args.scales.split(",") if s]
    conn = _open_conn(args.home) if args.recall else None
    results: dict[str, Any] = {}
    for scale in scales:
        if args.real:
            print(f"real model, {scale:,} traces (seed {args.seed})", flush=True)
            t0 = time.perf_counter()
            v = real_vectors(scale, args.seed)
            results.setdefault("real", {})[str(scale)] = measure_set(v, conn)
            results["real"][str(scale)]["embed_seconds"] = round(time.perf_counter() - t0, 1)
        for p in [x for x in args.profiles.split(",") if x]:
            print(f"generator profile {p}, {scale:,} traces", flush=True)
            t0 = time.perf_counter()
            v = generated_vectors(scale, args.seed, p)
            gen_s = time.perf_counter() - t0
            results.setdefault(p, {})[str(scale)] = measure_set(v, conn)
            results[p][str(scale)]["generate_seconds"] = round(gen_s, 2)
        sys.stdout.flush()
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
