"""Scoring one answer against the exact one: recall@k, completeness and fill.

- **recall** = returned rows that belong to the exact answer ÷ size of the exact answer. A
  returned row also counts when its distance is within ``epsilon`` of the exact answer's last
  distance (ann-benchmarks' rule): with ties at the k-th place, any of the tied rows is right.
- **completeness** = rows returned ÷ rows the exact answer has (k, or fewer when fewer rows
  pass the threshold and filters). The shipped SQL filters after the HNSW scan and can come
  back short although enough rows qualify; that shows here, not only as lower recall.
- **fill** = rows returned ÷ k: how full the page the service hands back is, including
  answers that are short because fewer rows qualify.

An exact answer with no rows (e.g. a far query under a high threshold) has no recall or
completeness: those are left out rather than counted as perfect.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

DEFAULT_EPSILON = 1e-5


def score_answer(returned_ids: Sequence[int], returned_dists: Sequence[float],
                 truth_ids: np.ndarray, truth_dists: np.ndarray, k: int,
                 epsilon: float = DEFAULT_EPSILON) -> dict[str, float]:
    """Metrics of one answer; ``truth_*`` is the exact answer (already cut to k/threshold)."""
    got = len(returned_ids)
    out = {"fill": min(got, k) / k}
    expected = len(truth_ids)
    if expected == 0:
        return out
    limit = float(truth_dists[expected - 1]) + epsilon
    truth = {int(i) for i in truth_ids}
    hits = sum(1 for i, d in zip(returned_ids, returned_dists, strict=True)
               if int(i) in truth or float(d) <= limit)
    out["recall"] = min(hits, expected) / expected
    out["completeness"] = min(got, expected) / expected
    return out


def recall_at_k(returned: Sequence[Sequence[int]], truth: Sequence[Sequence[int]], k: int) -> float:
    """Plain set recall@k averaged over queries (no tie tolerance): a second, independent
    formula the tests compare ``score_answer`` with."""
    values = []
    for got, want in zip(returned, truth, strict=True):
        want_k = list(want)[:k]
        if not want_k:
            continue
        values.append(len(set(list(got)[:k]) & set(want_k)) / len(want_k))
    return float(np.mean(values)) if values else float("nan")
