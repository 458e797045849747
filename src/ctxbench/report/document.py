"""A tiny document model shared by the Markdown and HTML renderers.

The report's content is decided once (``ctxbench.report.content``) as a list of blocks; each
renderer only decides how a block looks, so report.md and report.html can't drift apart.
All text in blocks is plain text: renderers do the escaping.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Heading:
    level: int
    text: str
    anchor: str = ""


@dataclass
class Para:
    text: str
    kind: str = "text"  # text | warning | verdict | note


@dataclass
class Bullets:
    items: list[str]
    kind: str = ""  # a list's role ("findings"), for styling


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]
    numeric: set[int] = field(default_factory=set)  # right-aligned columns
    row_kinds: list[str] = field(default_factory=list)  # css class per row (fail, warn, ...)
    cell_kinds: list[list[str]] = field(default_factory=list)  # css class per cell, row-major
    kind: str = ""  # a table's role ("matrix": the verdict matrix), for styling


@dataclass
class Code:
    text: str


@dataclass
class Figure:
    name: str  # file name under plots/
    title: str
    png: bytes


@dataclass
class Details:
    """Collapsed in HTML, a titled block in Markdown."""

    summary: str
    blocks: list[Block]


Block = Heading | Para | Bullets | Table | Code | Figure | Details
