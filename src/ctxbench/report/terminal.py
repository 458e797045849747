"""Document blocks on a terminal (rich), so CLI output and report.md say the same thing."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table as RichTable
from rich.text import Text

from ctxbench.report.document import Block, Bullets, Code, Details, Figure, Heading, Para, Table

ROW_STYLE = {"fail": "red", "warn": "yellow", "pass": "", "same": "dim", "added": "green",
             "removed": "red", "changed": "yellow"}
CELL_STYLE = {"fail": "bold red", "warn": "yellow", "pass": "green", "none": "dim"}


def rich_table(block: Table) -> RichTable:
    table = RichTable(box=box.SIMPLE_HEAD, pad_edge=False)
    for i, head in enumerate(block.headers):
        table.add_column(head, justify="right" if i in block.numeric else "left",
                         overflow="fold", no_wrap=block.kind == "matrix")
    for i, row in enumerate(block.rows):
        kind = block.row_kinds[i] if i < len(block.row_kinds) else ""
        cells = block.cell_kinds[i] if i < len(block.cell_kinds) else []
        table.add_row(*(Text(c, style=CELL_STYLE.get(cells[j], "")) if j < len(cells) else c
                        for j, c in enumerate(row)), style=ROW_STYLE.get(kind, ""))
    return table


def print_blocks(console: Console, blocks: list[Block]) -> None:
    for block in blocks:
        if isinstance(block, Heading):
            if block.level <= 2:
                console.rule(Text(block.text, style="bold"), align="left")
            else:
                console.print(Text(block.text, style="bold"))
        elif isinstance(block, Para):
            style = {"warning": "bold yellow", "verdict": "bold", "note": "dim"}.get(block.kind, "")
            console.print(Text(block.text, style=style))
        elif isinstance(block, Bullets):
            for item in block.items:
                console.print(Text(f"• {item}"))
        elif isinstance(block, Table):
            console.print(rich_table(block))
        elif isinstance(block, Code):
            console.print(Text(block.text))
        elif isinstance(block, Details):
            console.print(Text(block.summary, style="bold"))
            print_blocks(console, block.blocks)
        elif isinstance(block, Figure):
            continue
