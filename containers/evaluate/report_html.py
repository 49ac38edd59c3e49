"""`report.html`: the report document as one self-contained page beside its PNGs.

Laid out for a laptop window and for printing: the text column is at most 1100 px wide, tables
take the column's width with fixed layout (long words wrap inside their cell instead of widening
the page), figures sit two per row and shrink with the window.
"""

from __future__ import annotations

import html
import re

from containers.evaluate.report_document import (
    Cell,
    Document,
    Heading,
    Link,
    PageBreak,
    Paragraph,
    Pictures,
    Table,
)

_STYLE = """
* { box-sizing: border-box; }
body { font-family: "DejaVu Sans", Arial, sans-serif; color: #222; margin: 0; }
main { max-width: 1100px; margin: 0 auto; padding: 1.5em 2em; }
h1 { font-size: 1.5em; margin: 0 0 0.4em; }
h2 { font-size: 1.2em; margin: 1.6em 0 0.5em; border-bottom: 1px solid #ccc; }
p { line-height: 1.4; margin: 0.4em 0; }
p.note { color: #555; font-size: 0.85em; }
table { border-collapse: collapse; margin: 0.6em 0 1.2em; font-size: 0.85em; width: 100%;
        table-layout: fixed; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.45em; text-align: left;
         overflow-wrap: anywhere; vertical-align: top; }
th { background: #f2f2f2; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: 600; padding: 0.3em 0; }
.pictures { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 1em;
            margin: 0.6em 0 1.2em; }
figure { margin: 0; }
figure img { width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { font-size: 0.85em; color: #444; margin-top: 0.2em; }
a { color: #1a5fb4; }
@media print { .page-break { break-after: page; } main { max-width: none; } }
"""


_NUMBER = re.compile(r"^[-+−]?[\d.∞–]")


def _cell(cell: Cell, tag: str, numbers_right: bool = True) -> str:
    if isinstance(cell, Link):
        inner = f"<a href='{html.escape(cell.href)}'>{html.escape(cell.text)}</a>"
        return f"<{tag}>{inner}</{tag}>"
    inner = "<br>".join(html.escape(line) for line in cell.split("\n"))
    css = " class='num'" if numbers_right and tag == "td" and _NUMBER.match(cell) else ""
    return f"<{tag}{css}>{inner}</{tag}>"


def _table(table: Table) -> str:
    widths = table.widths or [1.0] * len(table.columns)
    total = sum(widths)
    cols = "".join(f"<col style='width:{100 * w / total:.1f}%'>" for w in widths)
    head = ""
    if any(table.columns):
        head = "<thead><tr>" + "".join(_cell(c, "th") for c in table.columns) + "</tr></thead>"
    key_value = not any(table.columns)
    # The first column names the row (a label, a site, a size bin such as "6-10 mm"): never
    # aligned as a number.
    body = "".join(
        "<tr>"
        + "".join(_cell(c, "td", not key_value and i > 0) for i, c in enumerate(row))
        + "</tr>"
        for row in table.rows
    )
    caption = f"<caption>{html.escape(table.caption)}</caption>" if table.caption else ""
    css = " class='key-value'" if key_value else ""
    return f"<table{css}>{caption}<colgroup>{cols}</colgroup>{head}<tbody>{body}</tbody></table>"


def _pictures(block: Pictures) -> str:
    items = "".join(
        f"<figure><img src='{html.escape(p.file)}' alt='{html.escape(p.caption)}'>"
        f"<figcaption>{html.escape(p.caption)}</figcaption></figure>"
        for p in block.items
    )
    return f"<div class='pictures'>{items}</div>"


def render_report_html(document: Document) -> str:
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{html.escape(document.title)}</title>",
        f"<style>{_STYLE}</style></head><body><main>",
    ]
    for block in document.blocks:
        if isinstance(block, Heading):
            parts.append(f"<h{block.level}>{html.escape(block.text)}</h{block.level}>")
        elif isinstance(block, Paragraph):
            css = " class='note'" if block.note else ""
            parts.append(f"<p{css}>{html.escape(block.text)}</p>")
        elif isinstance(block, Table):
            parts.append(_table(block))
        elif isinstance(block, Pictures):
            parts.append(_pictures(block))
        elif isinstance(block, PageBreak):
            parts.append("<div class='page-break'></div>")
    parts.append("</main></body></html>")
    return "\n".join(parts) + "\n"
