"""report.md: GitHub-flavoured Markdown that fits a CI job summary (no images: those are in
report.html and plots/)."""

from __future__ import annotations

import html

from ctxbench.report.document import (
    Block,
    Bullets,
    Code,
    Details,
    Figure,
    Heading,
    Para,
    Table,
)


def escape(text: str) -> str:
    """Plain text → Markdown-safe inline text (no accidental tables, HTML or emphasis)."""
    out = str(text).replace("\\", "\\\\").replace("\r", " ").replace("\n", " ")
    for ch in "|*_`[]<>":
        out = out.replace(ch, {"<": "&lt;", ">": "&gt;"}.get(ch, "\\" + ch))
    return out


def _table(t: Table) -> list[str]:
    head = "| " + " | ".join(escape(h) for h in t.headers) + " |"
    sep = "|" + "|".join("---:" if i in t.numeric else "---" for i in range(len(t.headers))) + "|"
    lines = [head, sep]
    for row in t.rows:
        lines.append("| " + " | ".join(escape(c) for c in row) + " |")
    return lines


def _render(blocks: list[Block], out: list[str]) -> None:
    for block in blocks:
        if isinstance(block, Heading):
            out += ["#" * block.level + " " + escape(block.text), ""]
        elif isinstance(block, Para):
            text = escape(block.text)
            if block.kind == "warning":
                text = f"> **{text}**"
            elif block.kind == "verdict":
                text = f"**{text}**"
            elif block.kind == "note":
                text = f"_{text}_"
            out += [text, ""]
        elif isinstance(block, Bullets):
            out += [f"- {escape(item)}" for item in block.items] + [""]
        elif isinstance(block, Table):
            out += [*_table(block), ""]
        elif isinstance(block, Code):
            fence = "````" if "```" in block.text else "```"
            out += [fence + "text", block.text.rstrip("\n"), fence, ""]
        elif isinstance(block, Details):  # GitHub renders <details> collapsed
            out += [f"<details><summary>{html.escape(block.summary)}</summary>", ""]
            _render(block.blocks, out)
            out += ["</details>", ""]
        elif isinstance(block, Figure):
            continue


def render_markdown(blocks: list[Block]) -> str:
    out: list[str] = []
    _render(blocks, out)
    return "\n".join(out).rstrip("\n") + "\n"
