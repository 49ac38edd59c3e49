"""Where the train step finds its pairs: through XNAT, the files read in the mounted archive (as
Container Service mounts a project: its `arc001`, session folders directly inside) where the
catalog puts them, else downloaded; without XNAT, the mounted archive alone."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from containers.train.sources import find_training_pairs
from tests.train.project_archive import write_project_archive
from xnat_plugin.client import connect
from xnat_plugin.commands.scan_rule import ScanRule
from xnat_plugin.errors import UserError
from xnat_plugin.sandbox.seed.clinical_series import AXIAL_DESCRIPTION_PATTERN
from xnat_plugin.sandbox.seed.seeding import seed_project

MANUAL = re.compile(".*manual.*")
RULE = ScanRule()


@pytest.fixture(scope="module")
def project_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_project_archive(tmp_path_factory.mktemp("archive") / "P", 2)


def test_a_mount_of_the_current_archive_directory_finds_its_session_folders(
    project_folder: Path, tmp_path: Path
) -> None:
    # CS mounts `<archive>/<project>/arc001` (Project.populateProperties: getRootArchivePath()
    # + getCurrentArc()); a session whose label starts with "arc" is still a session.
    mount = project_folder / "arc001"
    shutil.copytree(mount / "SUBJ002_CT1", tmp_path / "arc_extra")
    renamed = tmp_path / "mount"
    shutil.copytree(mount, renamed)
    shutil.move(tmp_path / "arc_extra", renamed / "arcSESSION")
    search = find_training_pairs(
        "P", MANUAL, RULE, project_dir=renamed, client=None, scratch=tmp_path
    )
    assert sorted(c.session_label for c in search.candidates) == [
        "SUBJ001_CT1",
        "SUBJ002_CT1",
        "arcSESSION",
    ]
    assert search.searched == [f"the mounted archive {renamed} (3 sessions)"]


def test_the_project_folder_itself_also_works(project_folder: Path, tmp_path: Path) -> None:
    search = find_training_pairs(
        "P", MANUAL, RULE, project_dir=project_folder, client=None, scratch=tmp_path
    )
    assert len(search.candidates) == 2


def test_an_empty_mount_without_xnat_is_searched_and_named(tmp_path: Path) -> None:
    (tmp_path / "mount").mkdir()
    search = find_training_pairs(
        "P", MANUAL, RULE, project_dir=tmp_path / "mount", client=None, scratch=tmp_path
    )
    assert search.candidates == []
    assert search.searched == [f"the mounted archive {tmp_path / 'mount'} (no session folders)"]


def test_neither_a_mount_nor_xnat_is_one_line_saying_what_to_give(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="give --project-dir .* or set XNAT_HOST"):
        find_training_pairs("P", MANUAL, RULE, project_dir=None, client=None, scratch=tmp_path)


def test_a_mount_without_the_files_is_read_through_rest(sandbox: object, tmp_path: Path) -> None:
    """What `xnat-monai run` met before its project staging held the sessions: a mount with
    only project-level resources. With XNAT at hand the pairs come over REST, downloaded."""
    mount = tmp_path / "mount"
    (mount / "resources" / "MONAI_MODELS").mkdir(parents=True)
    server = sandbox
    axial = ScanRule(description=AXIAL_DESCRIPTION_PATTERN)
    with connect(server.url, server.user, server.password) as client:  # type: ignore[attr-defined]
        seed_project(client, "RESTP", 2, sites=1, seed=3, matrix=32, slices=12, show_progress=False)
        search = find_training_pairs(
            "RESTP", MANUAL, axial, project_dir=mount, client=client, scratch=tmp_path / "scratch"
        )
    assert sorted(c.session_label for c in search.candidates) == ["SUBJ001_CT1", "SUBJ002_CT1"]
    assert all(c.seg_dir.is_relative_to(tmp_path / "scratch") for c in search.candidates)
    (searched,) = search.searched
    assert searched.startswith("project RESTP at http://127.0.0.1:")
    assert searched.endswith(f"(2 sessions, files read in the mounted archive {mount})")
