"""report.html: one self-contained file (inline CSS, plots as base64 PNG data URIs), so it can
be mailed, attached to a CI run or opened from an artifact without its folder."""

from __future__ import annotations

import base64
from html import escape

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

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:1200px;padding:0 1rem;color:#1f2328}
h1{font-size:1.6rem;border-bottom:1px solid #d0d7de;padding-bottom:.3rem}
h2{font-size:1.3rem;margin-top:2rem;border-bottom:1px solid #d0d7de;padding-bottom:.2rem}
h3{font-size:1.1rem;margin-top:1.4rem}
table{border-collapse:collapse;margin:.6rem 0 1rem;font-size:13px}
th,td{border:1px solid #d0d7de;padding:3px 8px;vertical-align:top}
th{background:#f6f8fa;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.fail td{background:#ffebe9}tr.warn td{background:#fff8c5}tr.pass td{background:#f0fff4}
tr.same td{color:#57606a}
.warning{background:#fff8c5;border:1px solid #d4a72c;padding:.6rem .8rem;border-radius:6px;
font-weight:600}
.verdict{font-size:1.15rem;font-weight:600}.note{color:#57606a;font-style:italic}
pre{background:#f6f8fa;padding:.6rem;overflow-x:auto;font-size:12px;border-radius:6px}
figure{margin:1rem 0}figure img{max-width:100%;border:1px solid #d0d7de}
figcaption{color:#57606a;font-size:12px}
details{margin:.5rem 0}summary{cursor:pointer;font-weight:600}
ul.findings{margin:.4rem 0 .8rem;padding-left:1.2rem}ul.findings li{margin:.15rem 0}
table.matrix{font-size:13px}table.matrix td{white-space:nowrap;text-align:center}
table.matrix td:first-child{text-align:left;font-weight:600}
table.matrix td.fail{background:#ffd7d5;color:#82071e;font-weight:600}
table.matrix td.warn{background:#fff3b0}table.matrix td.pass{background:#dafbe1}
table.matrix td.none{color:#8c959f}
"""


def _render(blocks: list[Block], out: list[str]) -> None:
    for block in blocks:
        if isinstance(block, Heading):
            level = min(max(block.level, 1), 6)
            anchor = f' id="{escape(block.anchor)}"' if block.anchor else ""
            out.append(f"<h{level}{anchor}>{escape(block.text)}</h{level}>")
        elif isinstance(block, Para):
            cls = f' class="{block.kind}"' if block.kind != "text" else ""
            out.append(f"<p{cls}>{escape(block.text)}</p>")
        elif isinstance(block, Bullets):
            cls = f' class="{escape(block.kind)}"' if block.kind else ""
            out.append(f"<ul{cls}>" + "".join(f"<li>{escape(i)}</li>" for i in block.items) + "</ul>")
        elif isinstance(block, Table):
            out.append(_table(block))
        elif isinstance(block, Code):
            out.append(f"<pre>{escape(block.text)}</pre>")
        elif isinstance(block, Figure):
            data = base64.b64encode(block.png).decode("ascii")
            out.append(f'<figure><img alt="{escape(block.title)}" '
                       f'src="data:image/png;base64,{data}"><figcaption>'
                       f"{escape(block.title)}</figcaption></figure>")
        elif isinstance(block, Details):
            out.append(f"<details><summary>{escape(block.summary)}</summary>")
            _render(block.blocks, out)
            out.append("</details>")


def _table(t: Table) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in t.headers)
    rows = []
    for i, row in enumerate(t.rows):
        kind = t.row_kinds[i] if i < len(t.row_kinds) and t.row_kinds[i] else ""
        cls = f' class="{escape(kind)}"' if kind else ""
        kinds = t.cell_kinds[i] if i < len(t.cell_kinds) else []
        cells = []
        for j, c in enumerate(row):
            classes = " ".join(x for x in ("num" if j in t.numeric else "",
                                           kinds[j] if j < len(kinds) else "") if x)
            attr = f' class="{escape(classes)}"' if classes else ""
            cells.append(f"<td{attr}>{escape(c)}</td>")
        rows.append(f"<tr{cls}>{''.join(cells)}</tr>")
    table_cls = f' class="{escape(t.kind)}" id="{escape(t.kind)}"' if t.kind else ""
    return (f"<table{table_cls}><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody>"
            "</table>")


def render_html(blocks: list[Block], title: str) -> str:
    out: list[str] = []
    _render(blocks, out)
    body = "\n".join(out)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(title)}</title><style>{CSS}</style></head>\n"
            f"<body>\n{body}\n</body></html>\n")
