"""`report.pdf`: the report document laid out on A4 portrait pages with matplotlib (no browser
in the image). A simple flow: blocks go down the page and continue on the next; tables take the
text width, wrap their cells and repeat their header on a new page; pictures go two per row.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path

from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.image import imread

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

PAGE_INCHES = (8.27, 11.69)  # A4 portrait; fits Letter's width (8.5 in) too
MARGIN = 0.6
TEXT_WIDTH = PAGE_INCHES[0] - 2 * MARGIN
BOTTOM = PAGE_INCHES[1] - MARGIN
# DejaVu Sans averages about 0.55 em per character; 0.6 keeps wrapped text inside its cell.
CHAR_EM = 0.6
FONT = {"h1": 15.0, "h2": 12.0, "body": 9.0, "note": 7.5, "table": 7.0, "caption": 8.0}
CELL_PAD = 0.05


PROSE_EM = 0.53  # running text may come closer to the margin than a cell to its border


def _chars_fitting(width_in: float, size_pt: float, em: float = CHAR_EM) -> int:
    return max(1, int(width_in * 72 / (size_pt * em)))


def _wrap(text: str, width_in: float, size_pt: float, em: float = CHAR_EM) -> list[str]:
    chars = _chars_fitting(width_in, size_pt, em)
    lines: list[str] = []
    for paragraph in text.split("\n"):
        lines.extend(textwrap.wrap(paragraph, chars, break_long_words=True) or [""])
    return lines


def _line_height(size_pt: float) -> float:
    return size_pt * 1.3 / 72


class PdfLayout:
    """Pages as matplotlib Figures; `y` is inches from the top of the current page."""

    def __init__(self) -> None:
        self.pages: list[Figure] = []
        self.new_page()

    def new_page(self) -> None:
        self.page = Figure(figsize=PAGE_INCHES)
        self.pages.append(self.page)
        self.y = MARGIN

    def room(self) -> float:
        return BOTTOM - self.y

    def ensure(self, height: float) -> None:
        if height > self.room() and self.y > MARGIN:
            self.new_page()

    def text(self, x: float, y: float, text: str, size: float, **kwargs: object) -> None:
        self.page.text(
            x / PAGE_INCHES[0], 1 - y / PAGE_INCHES[1], text, fontsize=size, va="top", **kwargs
        )

    def lines(self, lines: Sequence[str], size: float, x: float = MARGIN, **kwargs: object) -> None:
        step = _line_height(size)
        for line in lines:
            self.ensure(step)
            self.text(x, self.y, line, size, **kwargs)
            self.y += step

    # ---- blocks -----------------------------------------------------------------------------
    def heading(self, block: Heading) -> None:
        size = FONT["h1"] if block.level == 1 else FONT["h2"]
        # Keep a heading with the start of what follows it.
        self.ensure(_line_height(size) + 1.2)
        if self.y > MARGIN:
            self.y += 0.12
        self.lines(_wrap(block.text, TEXT_WIDTH, size), size, weight="bold")
        self.y += 0.06

    def paragraph(self, block: Paragraph) -> None:
        size = FONT["note"] if block.note else FONT["body"]
        colour = "#555555" if block.note else "#222222"
        self.lines(_wrap(block.text, TEXT_WIDTH, size, PROSE_EM), size, color=colour)
        self.y += 0.08

    def table(self, block: Table) -> None:
        size = FONT["table"]
        widths = block.widths or [1.0] * len(block.columns)
        scale = TEXT_WIDTH / sum(widths)
        columns = [w * scale for w in widths]
        step = _line_height(size)

        def cell_lines(cell: Cell, width: float) -> list[str]:
            text = cell.text if isinstance(cell, Link) else cell
            return _wrap(text, width - 2 * CELL_PAD, size)

        def draw_row(cells: Sequence[Cell], bold: bool) -> None:
            wrapped = [cell_lines(c, w) for c, w in zip(cells, columns, strict=True)]
            height = max(len(w) for w in wrapped) * step + 2 * CELL_PAD
            if height > self.room():
                self.new_page()
                if header and not bold:
                    draw_row(block.columns, True)
            top, x = self.y, MARGIN
            if bold:
                _rectangle(self.page, MARGIN, top, TEXT_WIDTH, height, "#f0f0f0")
            for lines, width, cell in zip(wrapped, columns, cells, strict=True):
                colour = "#1a5fb4" if isinstance(cell, Link) else "#222222"
                for k, line in enumerate(lines):
                    self.text(
                        x + CELL_PAD,
                        top + CELL_PAD + k * step,
                        line,
                        size,
                        weight="bold" if bold else "normal",
                        color=colour,
                    )
                x += width
            _hline(self.page, top + height)
            self.y = top + height

        header = any(block.columns)
        if block.caption:
            self.ensure(_line_height(FONT["caption"]) + 3 * step)
            self.lines(
                _wrap(block.caption, TEXT_WIDTH, FONT["caption"]), FONT["caption"], weight="bold"
            )
            self.y += 0.03
        self.ensure(3 * step)
        _hline(self.page, self.y)
        if header:
            draw_row(block.columns, True)
        for row in block.rows:
            draw_row(row, False)
        self.y += 0.15

    def pictures(self, block: Pictures, folder: Path) -> None:
        gap = 0.2
        width = (TEXT_WIDTH - gap) / 2
        for start in range(0, len(block.items), 2):
            pair = block.items[start : start + 2]
            images = [imread(folder / p.file) for p in pair]
            heights = [width * img.shape[0] / img.shape[1] for img in images]
            captions = [_wrap(p.caption, width, FONT["caption"]) for p in pair]
            caption_height = max(len(c) for c in captions) * _line_height(FONT["caption"])
            row_height = max(heights) + caption_height + 0.1
            self.ensure(row_height)
            for k, (image, height, caption) in enumerate(
                zip(images, heights, captions, strict=True)
            ):
                x = MARGIN + k * (width + gap)
                axes = self.page.add_axes(
                    (
                        x / PAGE_INCHES[0],
                        1 - (self.y + height) / PAGE_INCHES[1],
                        width / PAGE_INCHES[0],
                        height / PAGE_INCHES[1],
                    )
                )
                axes.imshow(image, interpolation="antialiased")
                axes.axis("off")
                for j, line in enumerate(caption):
                    self.text(
                        x,
                        self.y + height + 0.04 + j * _line_height(FONT["caption"]),
                        line,
                        FONT["caption"],
                        color="#444444",
                    )
            self.y += row_height + 0.1


def _hline(page: Figure, y: float) -> None:
    from matplotlib.lines import Line2D

    fy = 1 - y / PAGE_INCHES[1]
    page.add_artist(
        Line2D(
            [MARGIN / PAGE_INCHES[0], (MARGIN + TEXT_WIDTH) / PAGE_INCHES[0]],
            [fy, fy],
            linewidth=0.4,
            color="#999999",
            transform=page.transFigure,
        )
    )


def _rectangle(page: Figure, x: float, y: float, width: float, height: float, colour: str) -> None:
    from matplotlib.patches import Rectangle

    page.add_artist(
        Rectangle(
            (x / PAGE_INCHES[0], 1 - (y + height) / PAGE_INCHES[1]),
            width / PAGE_INCHES[0],
            height / PAGE_INCHES[1],
            facecolor=colour,
            edgecolor="none",
            transform=page.transFigure,
            zorder=-1,
        )
    )


def layout_pages(document: Document, folder: Path) -> list[Figure]:
    layout = PdfLayout()
    for block in document.blocks:
        if isinstance(block, Heading):
            layout.heading(block)
        elif isinstance(block, Paragraph):
            layout.paragraph(block)
        elif isinstance(block, Table):
            layout.table(block)
        elif isinstance(block, Pictures):
            layout.pictures(block, folder)
        elif isinstance(block, PageBreak) and layout.y > MARGIN:
            layout.new_page()
    for number, page in enumerate(layout.pages, start=1):
        page.text(
            0.5,
            0.4 / PAGE_INCHES[1],
            f"{document.title} · page {number} of {len(layout.pages)}",
            ha="center",
            fontsize=7,
            color="#777777",
        )
    return layout.pages


def write_report_pdf(path: Path, document: Document, folder: Path) -> int:
    """Write the PDF; returns its page count. `folder` holds the pictures the document names."""
    pages = layout_pages(document, folder)
    with PdfPages(path) as pdf:
        for page in pages:
            pdf.savefig(page)
        info = pdf.infodict()
        info["Title"] = document.title
    return len(pages)
