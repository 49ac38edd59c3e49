"""The real pyxnat client, unmodified, against a running sandbox."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
import pyxnat

from tests.sandbox.xml_documents import roi_collection_xml
from xnat_plugin.sandbox.server import SandboxServer


@pytest.fixture
def interface(sandbox: SandboxServer) -> pyxnat.Interface:
    return pyxnat.Interface(server=sandbox.url, user=sandbox.user, password=sandbox.password)


def test_pyxnat_creates_and_lists_the_hierarchy(interface: pyxnat.Interface) -> None:
    project = interface.select.project("SPLEEN")
    project.create()
    assert project.exists()
    assert "SPLEEN" in interface.select.projects().get()
    session = project.subject("p01").experiment("p01_CT")
    session.create(experiments="xnat:ctSessionData")
    assert session.exists()
    assert session.id() == "XNAT_E00001"
    assert session.attrs.get("xsiType") in ("xnat:ctSessionData", "")
    scan = session.scan("3")
    scan.create(scans="xnat:ctScanData")
    assert session.scans().get() == ["3"]
    assert project.subject("p01").exists()
    assert project.subjects().get() == ["XNAT_S00001"]


def test_pyxnat_uploads_and_downloads_a_file(interface: pyxnat.Interface, tmp_path: Path) -> None:
    interface.select.project("SPLEEN").create()
    scan = interface.select.project("SPLEEN").subject("p01").experiment("p01_CT").scan("1")
    scan.create(experiments="xnat:ctSessionData", scans="xnat:ctScanData")
    source = tmp_path / "slice.dcm"
    source.write_bytes(b"DICM" * 1000)
    scan.resource("DICOM").file("slice.dcm").insert(str(source))
    assert scan.resource("DICOM").files().get() == ["slice.dcm"]
    downloaded = scan.resource("DICOM").file("slice.dcm").get(str(tmp_path / "back.dcm"))
    assert Path(downloaded).read_bytes() == source.read_bytes()

    (tmp_path / "zip").mkdir()
    zipped = scan.resource("DICOM").get(str(tmp_path / "zip"), extract=False)
    with zipfile.ZipFile(zipped) as zf:
        assert [n.rsplit("/", 1)[-1] for n in zf.namelist()] == ["slice.dcm"]
    (tmp_path / "unzipped").mkdir()
    extracted = scan.resource("DICOM").get(str(tmp_path / "unzipped"), extract=True)
    assert [Path(p).read_bytes() for p in extracted] == [source.read_bytes()]


def test_pyxnat_creates_an_assessor_from_xml_and_deletes_it(
    interface: pyxnat.Interface, tmp_path: Path
) -> None:
    interface.select.project("SPLEEN").create()
    session = interface.select.project("SPLEEN").subject("p01").experiment("p01_CT")
    session.create(experiments="xnat:ctSessionData")
    document = tmp_path / "roi.xml"
    xml = roi_collection_xml(session.id(), "XNAT_S00001", "ignored")
    # pyxnat 1.6.4 only sends documents without an encoding declaration (it decodes lxml output)
    document.write_text(xml.split("?>", 1)[1].strip())
    assessor = session.assessor("p01_CT_manual_SEG")
    assessor.create(xml=str(document))  # pyxnat sends it as a multipart upload
    assert assessor.exists()
    assert assessor.datatype() == "icr:roiCollectionData"
    assert assessor.label() == "p01_CT_manual_SEG"

    out = assessor.out_resource("SEG")
    source = tmp_path / "seg.dcm"
    source.write_bytes(b"seg")
    out.file("seg.dcm").insert(str(source))
    assert out.files().get() == ["seg.dcm"]

    assessor.delete()
    assert not assessor.exists()
