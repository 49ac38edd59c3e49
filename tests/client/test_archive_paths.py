"""Where XNAT keeps a resource's files, as its catalog answers, and finding them in a mount.

`?locator=projectPath` replaces the listing's `URI` column with each file's path inside the
project's archive folder, and `?locator=absolutePath` with its path on the server
(`CatalogUtils.getEntryDetails`, and `FILE_HEADERS` with `URI` renamed after the locator).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from containers.common.resource_files import locate_in_mount, resource_folder
from xnat_plugin.client import XnatClient, connect, paths
from xnat_plugin.client.browse import list_archive_paths
from xnat_plugin.client.objects import create_scan, create_session, ensure_project, ensure_subject
from xnat_plugin.client.transfer import upload_folder
from xnat_plugin.sandbox.archive import archive_directory


@pytest.fixture
def client(sandbox: Any) -> XnatClient:
    with connect(sandbox.url, sandbox.user, sandbox.password) as connected:
        yield connected


@pytest.fixture
def scan_owner(client: XnatClient, tmp_path: Path) -> str:
    ensure_project(client, "P1")
    ensure_subject(client, "P1", "S1")
    session_id = create_session(client, "P1", "S1", "S1_CT1")
    create_scan(client, session_id, "2", scan_type="CT", modality="CT")
    folder = tmp_path / "up"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.dcm").write_bytes(b"a")
    (folder / "sub" / "b.dcm").write_bytes(b"b")
    owner = paths.scan(session_id, "2")
    upload_folder(client, owner, "DICOM", folder, show_progress=False)
    return owner


def test_project_paths_name_each_file_inside_the_projects_archive_folder(
    client: XnatClient, sandbox: Any, scan_owner: str
) -> None:
    found = list_archive_paths(client, scan_owner, "DICOM")
    assert sorted(found) == [
        "arc001/S1_CT1/SCANS/2/DICOM/a.dcm",
        "arc001/S1_CT1/SCANS/2/DICOM/sub/b.dcm",
    ]
    project_dir = archive_directory(sandbox.data_dir, "/projects/P1")
    assert all((project_dir / p).is_file() for p in found)


def test_absolute_paths_name_the_files_on_the_server(
    client: XnatClient, sandbox: Any, scan_owner: str
) -> None:
    rows = client.result_rows(
        paths.resource_files(scan_owner, "DICOM"), {"locator": "absolutePath"}
    )
    assert {"absolutePath", "Name", "Size", "digest"} <= set(rows[0]) and "URI" not in rows[0]
    assert all(Path(row["absolutePath"]).is_file() for row in rows)


def test_resource_folder_is_the_mounted_one_for_a_project_or_a_session_mount(
    client: XnatClient, sandbox: Any, scan_owner: str, tmp_path: Path
) -> None:
    project_dir = archive_directory(sandbox.data_dir, "/projects/P1")
    session_dir = archive_directory(sandbox.data_dir, scan_owner.rsplit("/scans/", 1)[0])
    expected = session_dir / "SCANS" / "2" / "DICOM"
    for mount in (project_dir, session_dir):
        folder = resource_folder(client, scan_owner, "DICOM", mount, tmp_path / "dl")
        assert folder.resolve() == expected.resolve()
    assert not (tmp_path / "dl").exists()
    # Without a mount (or with one that lacks the files) the resource is downloaded.
    empty = tmp_path / "empty"
    empty.mkdir()
    folder = resource_folder(client, scan_owner, "DICOM", empty, tmp_path / "dl")
    assert folder == tmp_path / "dl" and (folder / "sub" / "b.dcm").read_bytes() == b"b"


def test_locate_takes_the_longest_tail_that_is_a_file_in_the_mount(tmp_path: Path) -> None:
    session = tmp_path / "S1"
    target = session / "ASSESSORS" / "XNAT_E00002" / "SEG" / "seg.dcm"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"x")
    for given in (
        "arc001/S1/ASSESSORS/XNAT_E00002/SEG/seg.dcm",  # projectPath (XNAT 1.8+)
        "P1/arc001/S1/ASSESSORS/XNAT_E00002/SEG/seg.dcm",  # older XNATs include the project
        "/data/xnat/archive/P1/arc001/S1/ASSESSORS/XNAT_E00002/SEG/seg.dcm",  # absolutePath
    ):
        assert locate_in_mount(session, given) == session.resolve() / target.relative_to(session)
    assert locate_in_mount(tmp_path, "arc001/S1/ASSESSORS/XNAT_E00002/SEG/seg.dcm") is not None


def test_locate_refuses_parent_steps_links_out_and_too_short_tails(tmp_path: Path) -> None:
    mount = tmp_path / "mount"
    (mount / "SEG").mkdir(parents=True)
    (mount / "SEG" / "seg.dcm").write_bytes(b"x")
    outside = tmp_path / "outside" / "SEG"
    outside.mkdir(parents=True)
    (outside / "secret.dcm").write_bytes(b"s")
    (mount / "LINK").symlink_to(tmp_path / "outside", target_is_directory=True)
    assert locate_in_mount(mount, "x/../SEG/seg.dcm") is None
    assert locate_in_mount(mount, "arc001/S/LINK/SEG/secret.dcm") is None
    # `SEG/seg.dcm` alone names too little: a tail keeps its object folder.
    assert locate_in_mount(mount, "arc001/S/ASSESSORS/A/SEG/seg.dcm") is None
    assert locate_in_mount(mount, "") is None
