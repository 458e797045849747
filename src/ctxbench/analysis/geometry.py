"""The geometry of an embedding set: what every recall figure was measured on.

Approximate nearest-neighbour recall depends less on the index than on the data: how far the
10th neighbour is from the 11th, how many dimensions the neighbourhoods really span, how much
closer the nearest rows are than the rest. ``measure`` computes, on a seeded sample of query
rows searched exactly (numpy, cosine) against the whole set:

- ``cos1`` / ``cos10`` / ``cos100``: cosine similarity to the 1st / 10th / 100th nearest other
  row (medians over the sample);
- ``d10_d1`` and ``d100_d10``: ratios of the cosine distances sqrt(2 - 2 cos) to those
  neighbours (medians of the per-row ratios): near 1 means every neighbour is about as far as
  the nearest one;
- ``relative_contrast``: mean distance to all rows / distance to the nearest (median);
- ``tie_share``: share of sampled rows whose 10th and 11th neighbours are within 1 % of each
  other (top-10 answers whose membership is decided by noise);
- ``lid``: local intrinsic dimension, the maximum-likelihood estimate of Levina & Bickel /
  Amsaleg et al. over the ``lid_k`` = 20 nearest distances, LID = -1 / mean(ln(d_i / d_k))
  (median, 10th and 90th percentiles over the sample);
- ``pca``: principal components needed for 50 / 90 / 99 % of the variance of (a seeded sample
  of at most ``pca_rows``) rows;
- ``mean_norm``: length of the mean unit vector (0 = isotropic, 1 = all identical).

Rows that are exact duplicates of the query (distance < 1e-2, float32 rounding) are neighbours
like any other; the count of sampled rows whose nearest neighbour is a duplicate is reported as
``duplicates`` and they are left out of the ratios to d1 and of LID (log 0).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

K_MAX = 100
LID_K = 20
TIE_GAP = 0.01
# float32 unit vectors: an identical row is not at distance 0. The cosine of a row with its copy
# is 1 within the float32 dot product's rounding (up to n·u = 384 × 6e-8 ≈ 2.3e-5 for 384
# dims, in practice a few 1e-7 depending on the BLAS's summation order), and d = sqrt(2 − 2cos)
# magnifies that: 1e-4 … 1.1e-3 measured across numpy/OpenBLAS builds, ≤ 7e-3 at the bound.
# Distinct embeddings that close (cos > 0.99995) are duplicates for every purpose here.
DUPLICATE_D = 1e-2
PCA_LEVELS = (0.50, 0.90, 0.99)
BLOCK_ROWS = 65_536
QUERY_BLOCK = 256
GEOMETRY_VERSION = 1

# statistic key → (label, format) in the order reports show them
LABELS: dict[str, tuple[str, str]] = {
    "cos1": ("cosine to 1st neighbour", ".3f"),
    "cos10": ("cosine to 10th neighbour", ".3f"),
    "cos100": ("cosine to 100th neighbour", ".3f"),
    "d10_d1": ("d10 / d1", ".2f"),
    "d100_d10": ("d100 / d10", ".2f"),
    "relative_contrast": ("relative contrast (mean d / d1)", ".2f"),
    "tie_share": ("rows whose 10th/11th neighbour gap < 1 %", ".0%"),
    "lid_median": ("local intrinsic dimension (MLE, k=20), median", ".1f"),
    "lid_p10": ("LID p10", ".1f"),
    "lid_p90": ("LID p90", ".1f"),
    "pca50": ("PCA components for 50 % of variance", "d"),
    "pca90": ("PCA components for 90 % of variance", "d"),
    "pca99": ("PCA components for 99 % of variance", "d"),
}


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32)
    norms = np.linalg.norm(v.astype(np.float64), axis=1)
    norms[norms == 0] = 1.0
    return v / norms[:, None].astype(np.float32)


def neighbours(vectors: np.ndarray, query_rows: np.ndarray, k: int = K_MAX + 1
               ) -> tuple[np.ndarray, np.ndarray]:
    """(cosines of the ``k`` nearest other rows, sorted descending; mean distance to all other
    rows) for each query row index, by exact search over ``vectors`` (unit rows)."""
    n = vectors.shape[0]
    top = np.empty((len(query_rows), k), dtype=np.float64)
    mean_d = np.empty(len(query_rows), dtype=np.float64)
    for qs in range(0, len(query_rows), QUERY_BLOCK):
        rows = query_rows[qs:qs + QUERY_BLOCK]
        q = vectors[rows]
        cand = np.empty((len(rows), 0), dtype=np.float32)
        dsum = np.zeros(len(rows), dtype=np.float64)
        for start in range(0, n, BLOCK_ROWS):
            stop = min(start + BLOCK_ROWS, n)
            sims = q @ vectors[start:stop].T
            own = (rows >= start) & (rows < stop)
            sims[np.nonzero(own)[0], rows[own] - start] = -np.inf  # never its own neighbour
            d = np.sqrt(np.maximum(np.float32(2.0) - np.float32(2.0) * sims, np.float32(0.0)))
            d[~np.isfinite(sims)] = 0.0
            dsum += d.sum(axis=1, dtype=np.float64)
            s = np.concatenate([cand, sims], axis=1)
            if s.shape[1] > k:
                s = np.take_along_axis(s, np.argpartition(-s, k - 1, axis=1)[:, :k], axis=1)
            cand = s
        top[qs:qs + len(rows)] = -np.sort(-cand.astype(np.float64), axis=1)[:, :k]
        mean_d[qs:qs + len(rows)] = dsum / max(n - 1, 1)
    return top, mean_d


def pca_components(vectors: np.ndarray, levels: tuple[float, ...] = PCA_LEVELS) -> list[int]:
    """Number of principal components that explain each share of the variance."""
    x = vectors.astype(np.float64)
    x -= x.mean(axis=0)
    var = np.clip(np.linalg.eigvalsh(x.T @ x)[::-1], 0.0, None)  # covariance spectrum
    cum = np.cumsum(var) / var.sum()
    return [int(np.searchsorted(cum, lv - 1e-12) + 1) for lv in levels]


def measure(vectors: np.ndarray, *, sample: int = 1000, seed: int = 0, pca_rows: int = 10_000,
            lid_k: int = LID_K, log: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """The statistics of the module docstring for one set of embeddings (rows need not be unit)."""
    v = _unit(vectors)
    n = v.shape[0]
    if n < K_MAX + 2:
        raise ValueError(f"geometry needs at least {K_MAX + 2} rows, got {n}")
    rng = np.random.default_rng(seed)
    m = min(sample, n)
    rows = np.sort(rng.choice(n, size=m, replace=False))
    log(f"geometry: {m} sampled rows searched exactly among {n:,}")
    cos, mean_d = neighbours(v, rows)
    d = np.sqrt(np.maximum(2.0 - 2.0 * cos, 0.0))
    d1, d10, d11, d100 = d[:, 0], d[:, 9], d[:, 10], d[:, 99]
    pos = d1 > DUPLICATE_D
    with np.errstate(divide="ignore", invalid="ignore"):
        dk = d[:, :lid_k]
        logs = np.log(dk / dk[:, -1:])
        valid = (dk > DUPLICATE_D).all(axis=1)
        lid = -1.0 / logs[valid].mean(axis=1)
        tie = (d11 - d10) / np.where(d10 > DUPLICATE_D, d10, np.nan) < TIE_GAP
    pca_pick = rng.choice(n, size=min(pca_rows, n), replace=False)
    pca = pca_components(v[np.sort(pca_pick)])
    out: dict[str, Any] = {
        "version": GEOMETRY_VERSION, "rows": int(n), "dims": int(v.shape[1]), "sample": int(m),
        "seed": int(seed), "pca_rows": len(pca_pick), "lid_k": lid_k,
        "cos1": float(np.median(cos[:, 0])), "cos10": float(np.median(cos[:, 9])),
        "cos100": float(np.median(cos[:, 99])),
        "d10_d1": float(np.median(d10[pos] / d1[pos])) if pos.any() else None,
        "d100_d10": float(np.median(d100 / d10)),
        "relative_contrast": float(np.median(mean_d[pos] / d1[pos])) if pos.any() else None,
        "tie_share": float(np.mean(tie | (d10 <= DUPLICATE_D))),
        "lid_median": float(np.median(lid)), "lid_p10": float(np.percentile(lid, 10)),
        "lid_p90": float(np.percentile(lid, 90)),
        "pca50": pca[0], "pca90": pca[1], "pca99": pca[2],
        "mean_norm": float(np.linalg.norm(v[pca_pick].astype(np.float64).mean(axis=0))),
        "duplicates": int((~pos).sum()),
    }
    return out


def compare(measured: Mapping[str, Any], reference: Mapping[str, Any],
            tolerances: Mapping[str, Mapping[str, float]]) -> list[dict[str, Any]]:
    """Each toleranced statistic: measured, reference, allowed band and whether it is inside.

    A tolerance is ``{"abs": x}`` (|m - r| ≤ x) or ``{"rel": x}`` (|m - r| ≤ x·|r|).
    """
    out = []
    for key, tol in tolerances.items():
        m, r = measured.get(key), reference.get(key)
        if m is None or r is None:
            out.append({"stat": key, "measured": m, "reference": r, "ok": False,
                        "allowed": None})
            continue
        allowed = float(tol["abs"]) if "abs" in tol else float(tol["rel"]) * abs(float(r))
        out.append({"stat": key, "measured": float(m), "reference": float(r),
                    "allowed": allowed, "ok": abs(float(m) - float(r)) <= allowed + 1e-12})
    return out


def fmt(key: str, value: Any) -> str:
    if value is None:
        return "—"
    spec = LABELS.get(key, (key, ".3g"))[1]
    return format(int(value) if spec == "d" else float(value), spec)


def summary_line(g: Mapping[str, Any]) -> str:
    """One line: the geometry a figure was measured on."""
    return (f"{g['rows']:,} rows: neighbour cosines {fmt('cos1', g['cos1'])} / "
            f"{fmt('cos10', g['cos10'])} / {fmt('cos100', g['cos100'])}, d10/d1 "
            f"{fmt('d10_d1', g['d10_d1'])}, d100/d10 {fmt('d100_d10', g['d100_d10'])}, "
            f"contrast {fmt('relative_contrast', g['relative_contrast'])}, ties "
            f"{fmt('tie_share', g['tie_share'])}, LID {fmt('lid_median', g['lid_median'])} "
            f"[{fmt('lid_p10', g['lid_p10'])}–{fmt('lid_p90', g['lid_p90'])}], PCA "
            f"{g['pca50']}/{g['pca90']}/{g['pca99']}")


def read_vectors(conn: Any, table: str = "resource_action_traces", column: str = "embedding", *,
                 rows: int | None = None, seed: int = 0, batch: int = 20_000) -> np.ndarray:
    """Every non-NULL vector of ``table.column`` (pgvector binary, parsed in numpy), or a seeded
    random subset of ``rows`` of them. ``table`` may be schema-qualified (``schema.table``)."""
    from psycopg import sql

    from ctxbench.errors import UsageError

    parts = table.split(".")
    if not 1 <= len(parts) <= 2 or not all(parts):
        raise UsageError(f"--table {table!r} is not allowed: give table or schema.table")
    ident = sql.Identifier(*parts)
    col = sql.Identifier(column)
    row = conn.execute(
        "SELECT a.atttypid::regtype::text FROM pg_attribute a "
        "WHERE a.attrelid = to_regclass(%s) AND a.attname = %s AND NOT a.attisdropped",
        (ident.as_string(conn), column)).fetchone()
    if row is None:
        raise UsageError(f"--table {table!r} --column {column!r}: no such table or column "
                         "in this database")
    if not str(row[0]).startswith("vector"):
        raise UsageError(f"{table}.{column} is of type {row[0]}, not a pgvector 'vector'")
    from psycopg.adapt import Loader

    class _RawVector(Loader):  # pgvector's binary form, parsed for a whole batch in numpy
        def load(self, data: Any) -> bytes:
            return bytes(data)

    oid = conn.execute("SELECT to_regtype('vector')::oid").fetchone()[0]
    query = sql.SQL("SELECT {col} FROM {tbl} WHERE {col} IS NOT NULL").format(col=col, tbl=ident)
    out: list[np.ndarray] = []
    with conn.transaction():
        cur = conn.cursor(name="ctxbench_geometry_export", binary=True)
        cur.adapters.register_loader(int(oid), _RawVector)
        cur.itersize = batch
        cur.execute(query)
        while chunk := cur.fetchmany(batch):
            blobs = [r[0] for r in chunk]
            dims = int(np.frombuffer(blobs[0][:2], dtype=">i2")[0])
            raw = np.frombuffer(b"".join(blobs), dtype=np.uint8).reshape(len(blobs), 4 + 4 * dims)
            out.append(raw[:, 4:].copy().view(">f4").astype(np.float32))
        cur.close()
    if not out:
        raise UsageError(f"{table}.{column} has no non-NULL vectors to measure")
    v = np.concatenate(out)
    if rows is not None and rows < len(v):
        pick = np.sort(np.random.default_rng(seed).choice(len(v), size=rows, replace=False))
        v = v[pick]
    return v


def load_reference() -> dict[str, Any]:
    """The stored real-model reference (``datagen/reference/minilm_geometry.json``)."""
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "datagen" / "reference" / "minilm_geometry.json"
    return json.loads(path.read_text(encoding="utf-8"))


def reference_at(rows: int) -> dict[str, Any] | None:
    """The real model's statistics measured at the size nearest to ``rows`` (log scale)."""
    try:
        ref = load_reference()
    except (OSError, ValueError):
        return None
    sizes = {int(k): v for k, v in ref.get("real", {}).items()}
    if not sizes:
        return None
    best = min(sizes, key=lambda s: abs(np.log(s) - np.log(max(rows, 1))))
    return {**sizes[best], "label": f"{ref.get('model', 'real model')} at {best:,} rows"}


def table_lines(g: Mapping[str, Any], ref: Mapping[str, Any] | None = None) -> list[str]:
    """Plain-text table of the statistics (and the reference beside them)."""
    width = max(len(label) for label, _ in LABELS.values())
    head = f"{'':<{width}}  {'measured':>9}" + (f"  {'reference':>9}" if ref else "")
    lines = [head]
    for key, (label, _) in LABELS.items():
        line = f"{label:<{width}}  {fmt(key, g.get(key)):>9}"
        if ref:
            line += f"  {fmt(key, ref.get(key)):>9}"
        lines.append(line)
    if ref:
        lines.append(f"reference: {ref.get('label')}")
    return lines


def _cache_path(cache_dir: Any, checksum: str) -> Any:
    from pathlib import Path

    key = checksum.split(":")[-1][:32]
    return Path(cache_dir) / "geometry" / f"geo-v{GEOMETRY_VERSION}-{key}.json"


def cached(cache_dir: Any, checksum: str) -> dict[str, Any] | None:
    """The geometry measured before for the dataset with this checksum, if any."""
    import json

    path = _cache_path(cache_dir, checksum)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def save_cached(cache_dir: Any, checksum: str, g: Mapping[str, Any]) -> None:
    import json
    import os

    path = _cache_path(cache_dir, checksum)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(dict(g), indent=1), encoding="utf-8")
    os.replace(tmp, path)
