"""Vector search quality: recall against exact ground truth, ef_search sweeps, filtered search,
iterative scans, the shipped SQL's completeness, and HNSW warm-up to steady state.

``ctxbench vector --scenario scenarios/vector.toml`` runs it (``ctxbench.vector.run``); the
report section comes from ``ctxbench.vector.report``.
"""

VECTOR_JSON = "vector.json"
