"""Outputs never follow links (`runner.finalize.refuse_links`): each way a job could point an
output at a file of the host, attempted on a build folder as a job leaves it. The uploads read
on the host, where a container's link would name the host's own files (Container Service's
`ContainerFinalizeServiceImpl` uploads the files the output path names)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from xnat_plugin.runner.finalize import OutputUploadError, refuse_links


@pytest.fixture
def host_secret(tmp_path: Path) -> Path:
    folder = tmp_path / "host"
    folder.mkdir()
    (folder / "secret.txt").write_text("host data\n")
    return folder


def _mount(tmp_path: Path) -> Path:
    mount = tmp_path / "mount"
    (mount / "QC").mkdir(parents=True)
    (mount / "QC" / "fine.txt").write_text("fine\n")
    return mount


def test_plain_files_and_folders_pass(tmp_path: Path) -> None:
    mount = _mount(tmp_path)
    refuse_links(mount, mount / "QC")
    refuse_links(mount, mount)


@pytest.mark.parametrize(
    ("attack", "where"),
    [
        ("the output folder itself is a link to a host folder", "QC"),
        ("a folder inside the output links to a host folder", "QC/inner"),
        ("a file inside the output links to a host file", "QC/host.txt"),
        ("a dangling link names a host path", "QC/later.txt"),
        ("a folder on the way to the output is a link", "nest"),
    ],
)
def test_every_link_is_refused_whatever_it_points_at(
    tmp_path: Path, host_secret: Path, attack: str, where: str
) -> None:
    mount = _mount(tmp_path)
    output = mount / "QC"
    if where == "QC":
        os.rename(output, mount / "QC-real")
        os.symlink(host_secret, output)
    elif where == "QC/inner":
        os.symlink(host_secret, output / "inner")
    elif where == "QC/host.txt":
        os.symlink(host_secret / "secret.txt", output / "host.txt")
    elif where == "QC/later.txt":
        os.symlink(host_secret / "not-yet.txt", output / "later.txt")
    else:
        os.symlink(host_secret, mount / "nest")
        output = mount / "nest" / "QC"
    with pytest.raises(OutputUploadError, match="is a symbolic link") as refused:
        refuse_links(mount, output)
    assert str(refused.value).startswith(where), attack


def test_a_pipe_in_the_output_is_refused(tmp_path: Path) -> None:
    mount = _mount(tmp_path)
    os.mkfifo(mount / "QC" / "pipe")
    with pytest.raises(OutputUploadError, match="not a regular file or folder"):
        refuse_links(mount, mount / "QC")
