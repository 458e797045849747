"""The report's extra sections, registered in one list.

A section provider is a function ``(summary, results) -> list[Block]`` (blocks from
``ctxbench.report.document``; ``Figure`` blocks appear in report.html and are saved under
plots/). It renders what the analysis stage put into ``summary.json`` (plus raw files of the
results folder it must show); it never measures. To add a section: write its module in
``ctxbench.report`` and add one line to ``SECTIONS``. A provider that raises becomes a warning
in the report instead of breaking it, because a report must always be written.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ctxbench.report import cache_section, load, remedies, scale, vector
from ctxbench.report.document import Block, Heading, Para
from ctxbench.results.store import ResultsDir

SectionProvider = Callable[[dict[str, Any], ResultsDir], list[Block]]


# (name, provider), in the order the sections appear in the report
SECTIONS: tuple[tuple[str, SectionProvider], ...] = (
    ("vector", vector.report_sections),
    ("load", load.report_sections),
    ("remedies", remedies.report_sections),
    ("scale", scale.report_sections),
    ("cache", cache_section.report_sections),
)


def extra_sections(summary: dict[str, Any], results: ResultsDir,
                   sections: tuple[tuple[str, SectionProvider], ...] = SECTIONS) -> list[Block]:
    blocks: list[Block] = []
    for name, provider in sections:
        try:
            blocks.extend(provider(summary, results))
        except Exception as exc:  # keep the report; say what went wrong
            blocks += [Heading(2, f"Section from {name}"),
                       Para(f"This section could not be built: {type(exc).__name__}: {exc}",
                            "warning")]
    return blocks
