"""report.md: GitHub-flavoured Markdown that fits a CI job summary (no images: those are in
report.html and plots/; long tables collapsed in <details>; never more than GitHub's 1 MiB
job-summary limit, see ``SUMMARY_LIMIT``)."""

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


SUMMARY_LIMIT = 1024 * 1024  # GitHub rejects a step summary larger than 1 MiB
MARGIN = 64 * 1024  # room for what the workflow appends (comparison, history links)
LEFT_OUT = ("Left out of report.md to stay under GitHub's 1 MiB job-summary limit: "
            "see report.html or summary.json.")


def render_markdown(blocks: list[Block], limit: int | None = SUMMARY_LIMIT - MARGIN) -> str:
    """Markdown for ``blocks``; past ``limit`` bytes the collapsed sections are emptied, the
    biggest first, and then the document is cut at a block boundary, each time saying so."""
    out: list[str] = []
    _render(blocks, out)
    text = "\n".join(out).rstrip("\n") + "\n"
    if limit is None or len(text.encode("utf-8")) <= limit:
        return text
    return _fit(blocks, limit)


def _size(blocks: list[Block]) -> int:
    out: list[str] = []
    _render(blocks, out)
    return len("\n".join(out).encode("utf-8"))


def _fit(blocks: list[Block], limit: int) -> str:
    blocks = list(blocks)
    details = sorted((i for i, b in enumerate(blocks) if isinstance(b, Details)),
                     key=lambda i: -_size([blocks[i]]))
    for i in details:
        d = blocks[i]
        assert isinstance(d, Details)
        blocks[i] = Details(d.summary, [Para(LEFT_OUT, "note")])
        if _size(blocks) <= limit:
            return render_markdown(blocks, None)
    keep: list[Block] = []
    budget = limit - len(LEFT_OUT) - 64
    for b in blocks:
        if _size([*keep, b]) > budget:
            break
        keep.append(b)
    return render_markdown([*keep, Para(LEFT_OUT, "warning")], None)
