"""The project report as a reader sees it: the HTML page in headless Chromium at 1280 px, the PDF's
pages through pdftoppm/pdftotext, and every figure's text inside its canvas."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from PIL import Image

from containers.common.data_split import TRAINING, UNSEEN, VALIDATION
from containers.evaluate.project_cases import CaseEvaluation
from containers.evaluate.project_mode import ProjectRequest, project_figures, run_project
from containers.evaluate.report_pdf import MARGIN, PAGE_INCHES, TEXT_WIDTH
from tests.evaluate.conftest import MODELS, PROJECT
from tests.rendering import measure_overflow, pdf_pages, pdftoppm_or_skip


@pytest.fixture(scope="module")
def report(evaluated_project):
    """Both models (the widest tables: a model column, paired tests), alpha's roles recorded."""
    client, root, _, _ = evaluated_project
    return run_project(
        ProjectRequest(PROJECT, root / "report-rendered", models=list(MODELS), run="rendered"),
        client=client,
    )


def test_html_report_fits_a_1280_px_window_and_every_picture_loads(report):
    measured = measure_overflow(report / "report.html", width=1280)
    assert measured["innerWidth"] == 1280
    assert measured["scrollWidth"] <= measured["innerWidth"], measured
    assert measured["overflowing"] == [], measured["overflowing"]
    assert measured["images"], "the page shows no pictures"
    assert all(width > 0 for _, width in measured["images"]), measured["images"]


def test_html_report_fits_a_narrow_window_too(report):
    measured = measure_overflow(report / "report.html", width=900)
    assert measured["scrollWidth"] <= measured["innerWidth"], measured["overflowing"][:5]


def _pdf_text_pages(pdf) -> list[str]:
    pdftoppm_or_skip()  # pdftotext comes with it (poppler-utils)
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    return text.split("\f")[:-1]


def test_pdf_pages_are_numbered_as_laid_out_and_page_one_answers_how_good_it_is(report, tmp_path):
    pages = pdf_pages(report / "report.pdf", tmp_path / "pages")
    texts = _pdf_text_pages(report / "report.pdf")
    assert len(texts) == len(pages) >= 4
    for number, text in enumerate(texts, start=1):
        assert f"page {number} of {len(pages)}" in text
    first = texts[0]
    assert "How good is alpha 0.3.0?" in first and "1 unseen session" in first
    assert "Dice mean [95 % CI]" in first and "HD95 (mm)" in first
    assert "Energy of the study" in first
    assert "absolute_volume_difference_ml" not in "".join(texts)  # display names only


def test_no_pdf_table_or_text_runs_into_the_page_margins(report, tmp_path):
    dpi = 50
    for page in pdf_pages(report / "report.pdf", tmp_path / "pages", dpi=dpi):
        pixels = np.asarray(Image.open(page).convert("L"))
        height, width = pixels.shape
        assert abs(width - PAGE_INCHES[0] * dpi) <= 1 and abs(height - PAGE_INCHES[1] * dpi) <= 1
        left = int(MARGIN * dpi) - 2
        right = int((MARGIN + TEXT_WIDTH) * dpi) + 2
        assert pixels[:, :left].min() > 200, f"{page.name}: ink in the left margin"
        assert pixels[:, right:].min() > 200, f"{page.name}: ink in the right margin"
        assert pixels[: int(MARGIN * dpi) - 2].min() > 200, f"{page.name}: ink in the top margin"


def _synthetic_cases() -> list[CaseEvaluation]:
    """Long label names and three groups: the hardest case for titles, ticks and legends."""
    rng = np.random.default_rng(3)
    labels = ["liver", "left kidney cortex", "spleen"]
    roles = [UNSEEN, VALIDATION, TRAINING]
    cases = []
    for i in range(9):
        values = {
            label: {
                "dice": float(rng.uniform(0.7, 0.99)),
                "hausdorff95_mm": float(rng.uniform(1, 20)),
                "assd_mm": float(rng.uniform(0.3, 4)),
                "surface_dice": float(rng.uniform(0.5, 1)),
                "volume_prediction_ml": float(rng.uniform(100, 1500)),
                "volume_reference_ml": float(rng.uniform(100, 1500)),
                "reference_empty": 0.0,
            }
            for label in labels
        }
        for model in MODELS:
            cases.append(
                CaseEvaluation(
                    f"E{i}",
                    f"SUBJ{i:03d}_CT1",
                    ("north", "south")[i % 2],
                    model,
                    f"eval{i}",
                    values,
                    role=roles[i % 3],
                )
            )
    return cases


def test_every_figures_text_lies_inside_its_canvas():
    from containers.evaluate.project_mode import build_summary

    cases = _synthetic_cases()
    summary = build_summary(PROJECT, "run", cases, list(MODELS), 0)
    for name, (figure, _) in project_figures(cases, summary).items():
        canvas = FigureCanvasAgg(figure)
        canvas.draw()
        renderer = canvas.get_renderer()
        box = figure.get_tightbbox(renderer).transformed(figure.dpi_scale_trans)
        width, height = figure.get_size_inches() * figure.dpi
        assert box.x0 >= -0.5 and box.y0 >= -0.5, (name, box)
        assert box.x1 <= width + 0.5 and box.y1 <= height + 0.5, (name, box, width, height)
        titles = [a.get_title() for a in figure.axes if a.get_title()]
        assert titles and all("…" not in t for t in titles)
    json.dumps(summary["roles"])  # the roles of synthetic cases serialise
