"""Reconstructions of an image session (`xnat:reconstructedImageData`): `ReconResource` creates,
reads and deletes one, `ReconList` lists them with its default fields; pyxnat's resources_test
test_05 (`reconstruction(...).create()`)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pyxnat
import requests

from xnat_plugin.sandbox.server import SandboxServer

XNAT = "{http://nrg.wustl.edu/xnat}"


def test_a_reconstruction_is_created_listed_read_and_deleted(sandbox: SandboxServer) -> None:
    admin = requests.Session()
    admin.auth = (sandbox.user, sandbox.password)
    url = sandbox.url
    assert admin.put(f"{url}/data/projects/P").ok
    session = admin.put(
        f"{url}/data/projects/P/subjects/s1/experiments/s1_MR",
        params={"xsiType": "xnat:mrSessionData"},
    ).text
    recons = f"{url}/data/experiments/{session}/reconstructions"
    made = admin.put(f"{recons}/r1", params={"type": "T1", "baseScanType": "MPRAGE"})
    assert (made.status_code, made.text) == (201, "r1")
    listed = admin.get(recons, params={"format": "json"}).json()["ResultSet"]["Result"]
    assert [(r["ID"], r["type"], r["baseScanType"]) for r in listed] == [("r1", "T1", "MPRAGE")]
    document = ET.fromstring(admin.get(f"{recons}/r1", params={"format": "xml"}).content)
    assert document.tag == f"{XNAT}ReconstructedImage"
    assert (document.get("ID"), document.get("type")) == ("r1", "T1")
    assert admin.put(f"{recons}/r1", params={"type": "T2"}).status_code == 200
    assert (
        admin.get(recons, params={"format": "json"}).json()["ResultSet"]["Result"][0]["type"]
        == "T2"
    )
    assert admin.put(f"{recons}/r2", params={"xsiType": "xnat:mrScanData"}).status_code == 400
    assert admin.delete(f"{recons}/r1").ok
    assert admin.get(f"{recons}/r1").status_code == 404


def test_pyxnat_creates_a_reconstruction(sandbox: SandboxServer) -> None:
    interface = pyxnat.Interface(server=sandbox.url, user=sandbox.user, password=sandbox.password)
    experiment = interface.select.project("P").subject("s1").experiment("s1_MR")
    interface.select.project("P").create()
    experiment.create(experiments="xnat:mrSessionData")
    recon = experiment.reconstruction("r1")
    assert not recon.exists()
    recon.create()
    assert recon.exists()
    assert recon.datatype() == "xnat:reconstructedImageData"
    assert experiment.reconstructions().get() == ["r1"]
