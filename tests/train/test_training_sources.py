"""Train finds each session's pair through XNAT: the reference assessor by label, its SEG where
the catalog puts it, and the scan the scan rule picks (infer's rule).

Container Service writes an assessor's files in `ASSESSORS/<label>/`, a REST upload in
`ASSESSORS/<assessor ID>/`; the catalog's `projectPath` (`CatalogUtils.getEntryDetails`) says
which, and the mounted project archive is read there. The scan is chosen as Container Service
resolves infer's `scan` input (`CommandResolutionServiceImpl.matchChildFromParent`), so a
session where several scans match is skipped, as infer would be refused there.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from containers.train.archive_source import candidates_from_archive
from containers.train.xnat_source import candidates_from_xnat
from tests.archive_layout import LAYOUTS, place_assessor_files
from xnat_plugin.client import browse, connect
from xnat_plugin.commands.scan_rule import ScanRule
from xnat_plugin.sandbox.archive import archive_directory
from xnat_plugin.sandbox.seed.clinical_series import AXIAL_DESCRIPTION_PATTERN
from xnat_plugin.sandbox.seed.seeding import seed_project

MANUAL = re.compile(".*manual.*")
AXIAL_RULE = ScanRule(description=AXIAL_DESCRIPTION_PATTERN)


@pytest.fixture
def project(sandbox: Any) -> list[Any]:
    """Four sessions, the 2nd and 4th with a localizer and a thin and a thick reconstruction."""
    with connect(sandbox.url, sandbox.user, sandbox.password) as client:
        return seed_project(
            client, "SRC", 4, sites=2, seed=5, show_progress=False, matrix=32, slices=10
        )


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_mounted_archive_is_read_where_the_catalog_puts_the_files(
    sandbox: Any, project: list[Any], tmp_path: Path, layout: str, monkeypatch: Any
) -> None:
    with connect(sandbox.url, sandbox.user, sandbox.password) as client:
        for seeded in project:
            place_assessor_files(sandbox.data_dir, seeded.reference_id, layout)  # type: ignore[arg-type]
        # What Container Service mounts for a project: its current archive folder `arc001`.
        mount = archive_directory(sandbox.data_dir, "/projects/SRC") / "arc001"

        def no_download(*args: object, **kwargs: object) -> None:
            raise AssertionError(f"downloaded {args[1:3]} although the mount holds it")

        monkeypatch.setattr("containers.common.resource_files.download_resource", no_download)
        found, skipped = candidates_from_xnat(
            client, "SRC", MANUAL, tmp_path / "scratch", AXIAL_RULE, mount
        )
    assert skipped == []
    for candidate, seeded in zip(found, project, strict=True):
        assessor_folder = seeded.reference_label if layout == "label" else seeded.reference_id
        assert candidate.reference_label == seeded.reference_label
        assert candidate.seg_dir.is_relative_to(mount.resolve())
        assert candidate.seg_dir.as_posix().endswith(f"/ASSESSORS/{assessor_folder}/SEG")
        assert candidate.dicom_dir.as_posix().endswith(f"/SCANS/{seeded.scan_id}/DICOM")


def test_without_a_mount_the_same_pairs_are_downloaded(
    sandbox: Any, project: list[Any], tmp_path: Path
) -> None:
    with connect(sandbox.url, sandbox.user, sandbox.password) as client:
        found, skipped = candidates_from_xnat(client, "SRC", MANUAL, tmp_path, AXIAL_RULE)
    assert skipped == []
    assert [c.dicom_dir for c in found] == [
        tmp_path / s.session_id / "scans" / s.scan_id for s in project
    ]
    assert all(len(list(c.dicom_dir.glob("*.dcm"))) == 10 for c in found)


def test_sessions_where_the_rule_picks_no_single_scan_are_skipped_with_the_reason(
    sandbox: Any, project: list[Any], tmp_path: Path
) -> None:
    with connect(sandbox.url, sandbox.user, sandbox.password) as client:
        found, skipped = candidates_from_xnat(client, "SRC", MANUAL, tmp_path, ScanRule())
        labels = [s.label for s in browse.list_sessions(client, "SRC")]
    assert [c.session_label for c in found] == [labels[0], labels[2]]
    assert [s.session_label for s in skipped] == [labels[1], labels[3]]
    assert all("scans 2, 3, 4 all match the scan rule" in s.reason for s in skipped)


def test_a_rule_that_picks_another_series_than_the_references_skips_the_session(
    sandbox: Any, project: list[Any], tmp_path: Path
) -> None:
    thin = ScanRule(description=".*THIN")
    with connect(sandbox.url, sandbox.user, sandbox.password) as client:
        found, skipped = candidates_from_xnat(client, "SRC", MANUAL, tmp_path, thin)
    assert found == []
    reasons = {s.reason.split(":")[0] for s in skipped}
    assert any("not scan 3 (ABDOMEN 1mm THIN) that the scan rule picks" in r for r in reasons)
    assert any("no scan matches the scan rule" in r for r in reasons)


def test_an_archive_read_without_xnat_picks_the_same_scans(
    sandbox: Any, project: list[Any], tmp_path: Path
) -> None:
    # Read without XNAT, a folder name is taken as the label: Container Service's layout (the
    # seeded references came over REST, into their ID folders).
    for seeded in project:
        place_assessor_files(sandbox.data_dir, seeded.reference_id, "label")
    mount = archive_directory(sandbox.data_dir, "/projects/SRC")
    found, skipped = candidates_from_archive(mount, "SRC", MANUAL, AXIAL_RULE)
    assert skipped == []
    assert [c.dicom_dir.parent.name for c in found] == [s.scan_id for s in project]
