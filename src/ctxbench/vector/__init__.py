"""Vector search quality, the measuring side: exact ground truth, the query set, filters by
selectivity, the cells of the study (ef_search sweep, iterative scans, the shipped SQL) with
recall/completeness per search, and plan classification.

``ctxbench vector --scenario scenarios/vector.toml`` runs the study
(``ctxbench.runs.vector``); its analysis is ``ctxbench.analysis.vector`` (summary.json's
``vector`` section) and its report section ``ctxbench.report.vector``.
"""
