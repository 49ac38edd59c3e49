"""The two ways an assessor document reaches XNAT, and what each does with it.

- Over REST (`PUT …/assessors/LABEL`, `ExptAssessmentResource.handlePut`): XNAT parses the
  document, fills in the label, project and session from the URL, generates an ID when there is
  none (`XnatExperimentdata.CreateNewID`), then validates the item.
- Through the catalog service (`DefaultCatalogService.insertXmlObject`, what the Container
  Service calls, exposed as `PUT /xapi/archive/upload/xml` by `CatalogApi.uploadXml`):
  `XMLValidator` validates the document AS SENT first, so a document without `ID` is refused.
"""

from __future__ import annotations

import pytest
import requests

from tests.sandbox.xml_documents import qc_assessment_xml, roi_collection_xml
from xnat_plugin.sandbox.server import SandboxServer

SESSION = "/data/projects/P/subjects/s1/experiments/s1_CT"
UPLOAD = "/xapi/archive/upload/xml"
REFUSED = "There was an error in the request: An error occurred processing the submitted XML: "


@pytest.fixture
def admin(sandbox: SandboxServer) -> requests.Session:
    session = requests.Session()
    session.auth = (sandbox.user, sandbox.password)
    assert session.put(f"{sandbox.url}/data/projects/P", params={"name": "P"}).ok
    made = session.put(f"{sandbox.url}{SESSION}", params={"xsiType": "xnat:ctSessionData"})
    assert made.text == "XNAT_E00001"
    return session


def _with_project(xml: str) -> str:
    return xml.replace(' label="', ' project="P" label="', 1)


def test_the_catalog_service_refuses_a_document_without_id(sandbox, admin) -> None:
    xml = _with_project(roi_collection_xml("XNAT_E00001", "XNAT_S00001", "seg"))
    answer = admin.put(f"{sandbox.url}{UPLOAD}", params={"allowDataDeletion": "true"}, data=xml)
    assert answer.status_code == 500  # ClientException carries no @ResponseStatus
    assert answer.text == (
        REFUSED + "cvc-complex-type.4: Attribute 'ID' must appear on element 'icr:RoiCollection'."
    )
    listed = admin.get(f"{sandbox.url}{SESSION}/assessors", params={"format": "json"})
    assert listed.json()["ResultSet"]["Result"] == []


def test_the_catalog_service_refuses_a_document_without_its_session(sandbox, admin) -> None:
    xml = _with_project(
        roi_collection_xml("XNAT_E00001", "XNAT_S00001", "seg", with_id="XNAT_E00007")
    ).replace("<xnat:imageSession_ID>XNAT_E00001</xnat:imageSession_ID>", "")
    answer = admin.put(f"{sandbox.url}{UPLOAD}", params={"allowDataDeletion": "true"}, data=xml)
    assert answer.status_code == 500
    assert answer.text.startswith(REFUSED + "cvc-complex-type.2.4.a: Invalid content was found")
    assert "imageSession_ID" in answer.text


def test_the_catalog_service_stores_a_complete_document_as_sent(sandbox, admin) -> None:
    xml = _with_project(roi_collection_xml("XNAT_E00001", "XNAT_S00001", "seg", with_id="MY_SEG_1"))
    answer = admin.put(f"{sandbox.url}{UPLOAD}", params={"allowDataDeletion": "true"}, data=xml)
    assert (answer.status_code, answer.text) == (200, "/archive/experiments/MY_SEG_1")
    stored = admin.get(f"{sandbox.url}{SESSION}/assessors/seg", params={"format": "json"})
    assert stored.json()["items"][0]["data_fields"]["ID"] == "MY_SEG_1"
    # the same ID again updates it
    again = admin.put(
        f"{sandbox.url}{UPLOAD}",
        params={"allowDataDeletion": "true"},
        data=xml.replace("liver-spleen-kidney", "v2"),
    )
    assert again.text == "/archive/experiments/MY_SEG_1"
    assert (
        "v2" in admin.get(f"{sandbox.url}/data/experiments/MY_SEG_1", params={"format": "xml"}).text
    )


def test_the_catalog_service_refuses_a_foreign_namespace(sandbox, admin) -> None:
    xml = roi_collection_xml("XNAT_E00001", "XNAT_S00001", "seg", with_id="X1").replace(
        "http://icr.ac.uk/icr", "http://www.icr.ac.uk/icr"
    )
    answer = admin.put(f"{sandbox.url}{UPLOAD}", params={"allowDataDeletion": "true"}, data=xml)
    assert answer.status_code == 500
    assert answer.text == (
        REFUSED + "cvc-elt.1.a: Cannot find the declaration of element 'icr:RoiCollection'."
    )


def test_an_empty_upload_is_no_content(sandbox, admin) -> None:
    assert (
        admin.put(f"{sandbox.url}{UPLOAD}", params={"allowDataDeletion": "true"}).status_code == 204
    )


def test_rest_generates_the_id_of_a_document_without_one(sandbox, admin) -> None:
    xml = roi_collection_xml("XNAT_E00001", "XNAT_S00001", "seg")
    made = admin.put(f"{sandbox.url}{SESSION}/assessors/seg", data=xml)
    assert (made.status_code, made.text) == (201, "XNAT_E00002")
    stored = admin.get(f"{sandbox.url}{SESSION}/assessors/seg", params={"format": "xml"}).text
    assert 'ID="XNAT_E00002"' in stored and 'project="P"' in stored


def test_an_assessor_read_back_as_xml_can_be_put_back(sandbox, admin) -> None:
    uri = f"{sandbox.url}{SESSION}/assessors/qc"
    assert admin.put(uri, data=qc_assessment_xml("XNAT_E00001", "qc", 0.9)).status_code == 201
    document = admin.get(uri, params={"format": "xml"}).content
    back = admin.put(uri, data=document, headers={"Content-Type": "text/xml"})
    assert (back.status_code, back.text) == (200, "XNAT_E00002")
    # and through the catalog service, which takes it as sent
    again = admin.put(f"{sandbox.url}{UPLOAD}", params={"allowDataDeletion": "true"}, data=document)
    assert (again.status_code, again.text) == (200, "/archive/experiments/XNAT_E00002")


def test_rest_refuses_a_new_label_for_an_existing_id(sandbox, admin) -> None:
    uri = f"{sandbox.url}{SESSION}/assessors/seg"
    first = admin.put(uri, data=roi_collection_xml("XNAT_E00001", "XNAT_S00001", "seg")).text
    renamed = roi_collection_xml("XNAT_E00001", "XNAT_S00001", "other", with_id=first)
    answer = admin.put(f"{sandbox.url}{SESSION}/assessors/other", data=renamed)
    assert (answer.status_code, answer.text) == (
        400,
        "Label must be modified through separate URI.",
    )


def test_rest_refuses_a_new_label_given_as_a_query_field(sandbox, admin) -> None:
    """`ExptAssessmentResource.handlePut` applies the query to the stored item
    (`loadItem(null, true, existing.getItem().getCurrentDBVersion())`) and then refuses a
    changed label as it refuses one in a document; the same label is an update."""
    uri = f"{sandbox.url}{SESSION}/assessors/seg"
    first = admin.put(uri, data=roi_collection_xml("XNAT_E00001", "XNAT_S00001", "seg")).text
    by_id = f"{sandbox.url}{SESSION}/assessors/{first}"
    answer = admin.put(by_id, params={"label": "other"})
    assert (answer.status_code, answer.text) == (
        400,
        "Label must be modified through separate URI.",
    )
    assert admin.get(f"{sandbox.url}{SESSION}/assessors/other").status_code == 404
    same = admin.put(by_id, params={"label": "seg"})
    assert (same.status_code, same.text) == (200, first)


def test_rest_refuses_an_element_the_type_does_not_have(sandbox, admin) -> None:
    """SAXReader: "Invalid Element" → 422; a missing value is 400 (see test_bad_input)."""
    xml = roi_collection_xml("XNAT_E00001", "XNAT_S00001", "seg").replace(
        "<icr:name>", "<icr:colour>red</icr:colour><icr:name>"
    )
    answer = admin.put(f"{sandbox.url}{SESSION}/assessors/seg", data=xml)
    assert answer.status_code == 422
