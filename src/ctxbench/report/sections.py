"""Extra report sections contributed by other parts of ctxbench (vector search, load runs).

A provider is a module listed in ``PROVIDERS`` that exposes
``report_sections(summary: dict, results: ResultsDir) -> list[Block]`` (blocks from
``ctxbench.report.document``; ``Figure`` blocks appear in report.html and are saved under
plots/). Providers not installed are skipped; one that raises becomes a warning in the
report instead of breaking it, because a report must always be written.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from ctxbench.report.document import Block, Heading, Para
from ctxbench.results.store import ResultsDir

PROVIDERS: tuple[str, ...] = ("ctxbench.vector.report", "ctxbench.report.load",
                              "ctxbench.report.remedies", "ctxbench.report.scale",
                              "ctxbench.report.cache_section")


def _available(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def extra_sections(summary: dict[str, Any], results: ResultsDir,
                   providers: tuple[str, ...] = PROVIDERS) -> list[Block]:
    blocks: list[Block] = []
    for name in providers:
        if not _available(name):
            continue
        try:
            module = importlib.import_module(name)
            fn = getattr(module, "report_sections", None)
            if fn is not None:
                blocks.extend(fn(summary, results))
        except Exception as exc:  # keep the report; say what went wrong
            blocks += [Heading(2, f"Section from {name}"),
                       Para(f"This section could not be built: {type(exc).__name__}: {exc}",
                            "warning")]
    return blocks
