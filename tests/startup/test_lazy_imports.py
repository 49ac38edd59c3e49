"""What each step imports before it does anything: torch takes about a second and any MONAI
import several (MONAI's `__init__` loads most of MONAI), so neither may come with an entry
module; they load in the background while the step reads its input (`containers/common/
background.py`). `xnat_plugin` (the admin tool and the sandbox) never imports either."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "monai")


def modules_after(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running `code`."""
    done = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    )
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def top_level(modules: set[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


@pytest.mark.parametrize("step", ["infer", "evaluate", "train", "classify"])
def test_importing_a_steps_entry_module_imports_neither_torch_nor_monai(step: str) -> None:
    loaded = top_level(modules_after(f"import containers.{step}.__main__"))
    assert not loaded & set(HEAVY)


def test_the_infer_entry_module_leaves_the_writers_libraries_for_later() -> None:
    # highdicom, nibabel and cc3d are only needed to clean up and write the outputs (Pillow
    # comes with pydicom's pixel decoders, which reading the series needs).
    loaded = top_level(modules_after("import containers.infer.__main__"))
    assert not loaded & {"highdicom", "nibabel", "cc3d", "scipy", "matplotlib"}


def test_writing_an_assessor_needs_neither_the_schema_validator_nor_other_assessors() -> None:
    # xmlschema builds and checks XNAT's XSDs (the sandbox, the tests); a step only writes XML.
    loaded = modules_after("from xnat_plugin.assessors.roi_collection import RoiCollection")
    assert "xmlschema" not in top_level(loaded)
    assert "xnat_plugin.assessors.qc_assessment" not in loaded


def test_reading_a_bundles_spec_needs_no_torch(tmp_path: Path) -> None:
    """Infer reads the spec (grid, normalisation) before its series, while torch loads."""
    from tests.bundles import tiny_bundle

    folder = tiny_bundle(tmp_path)
    loaded = top_level(
        modules_after(
            "from containers.common.bundle import read_bundle_spec\n"
            f"spec = read_bundle_spec({str(folder)!r})\n"
            "assert spec.labels"
        )
    )
    assert not loaded & set(HEAVY)


def test_no_module_of_xnat_plugin_imports_torch_or_monai() -> None:
    code = (
        "import pkgutil, importlib, xnat_plugin\n"
        "for m in pkgutil.walk_packages(xnat_plugin.__path__, 'xnat_plugin.'):\n"
        "    importlib.import_module(m.name)\n"
    )
    loaded = modules_after(code)
    assert "xnat_plugin.sandbox.server" in loaded  # the walk did import the package
    assert not top_level(loaded) & set(HEAVY)
