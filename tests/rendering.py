"""Headless Chromium and poppler's pdftoppm for tests that look at a report as a reader would.

A user's clone may have neither (Debian: `apt-get install chromium poppler-utils`): those tests
skip there with the reason, and fail where XNAT_MONAI_REQUIRE_RENDERERS=1 (CI, `.ci/run`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

REQUIRE_RENDERERS = os.environ.get("XNAT_MONAI_REQUIRE_RENDERERS", "") not in ("", "0")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
# Measures, after the page and its pictures load, every element whose right edge passes the
# window and the page's own scroll width; writes the result into the DOM for --dump-dom.
_OVERFLOW_PROBE = """
<script>
window.addEventListener('load', () => {
  const width = window.innerWidth;
  const over = [];
  for (const el of document.querySelectorAll('body *')) {
    const box = el.getBoundingClientRect();
    if (box.width > 0 && box.right > width + 0.5) {
      over.push(el.tagName + ' ' + (el.textContent || el.getAttribute('src') || '').slice(0, 40));
    }
  }
  const images = [...document.images].map(i => [i.getAttribute('src'), i.naturalWidth]);
  const out = document.createElement('pre');
  out.id = 'overflow-probe';
  out.textContent = JSON.stringify({innerWidth: width,
    scrollWidth: document.documentElement.scrollWidth, overflowing: over, images: images});
  document.body.appendChild(out);
});
</script>
"""


def _tool_or_skip(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    message = (
        f"{' or '.join(names)} is not installed (Debian: apt-get install chromium poppler-utils)"
    )
    if REQUIRE_RENDERERS:
        pytest.fail(message + " and XNAT_MONAI_REQUIRE_RENDERERS=1 requires it")
    pytest.skip(message)


def chromium_or_skip() -> str:
    return _tool_or_skip("chromium", "chromium-browser")


def pdftoppm_or_skip() -> str:
    return _tool_or_skip("pdftoppm")


def _chromium(html_file: Path, *extra: str, timeout: float = 120) -> subprocess.CompletedProcess:
    browser = chromium_or_skip()
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        return subprocess.run(
            [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *extra, html_file.as_uri()],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def measure_overflow(html_file: Path, width: int = 1280) -> dict:
    """Load a copy of the page (beside the original, so its pictures resolve) at `width` px and
    return what the probe measured."""
    probe = html_file.with_name(f".probe-{html_file.name}")
    probe.write_text(html_file.read_text().replace("</body>", _OVERFLOW_PROBE + "</body>"))
    try:
        result = _chromium(
            probe, f"--window-size={width},900", "--virtual-time-budget=10000", "--dump-dom"
        )
    finally:
        probe.unlink()
    match = re.search(r"<pre id=\"overflow-probe\">(.*?)</pre>", result.stdout, re.S)
    assert match, f"the probe did not run: {result.stderr[-2000:]}"
    return json.loads(match[1].replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))


def screenshot(html_file: Path, target: Path, width: int = 1280, height: int = 2400) -> Path:
    _chromium(html_file, f"--window-size={width},{height}", f"--screenshot={target}")
    return target


def pdf_pages(pdf: Path, folder: Path, dpi: int = 50) -> list[Path]:
    """The PDF's pages as PNG files, in order."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [pdftoppm_or_skip(), "-r", str(dpi), "-png", str(pdf), str(folder / "page")],
        check=True,
        timeout=120,
    )
    return sorted(folder.glob("page-*.png"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
