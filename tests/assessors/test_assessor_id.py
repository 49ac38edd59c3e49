"""The assessor ID scheme: every builder writes an ID that XNAT accepts, the same one each time.

XNAT's rule for an experiment ID: `XftStringUtils.isValidId` (`^[A-z0-9_-]+$`, checked by the
experiment PUT routes, "Invalid character in experiment label.") and a `VARCHAR(255)` column
(`GenericWrapperField.getType`, `DEFAULT_STRING_SIZE`). XNAT creates or updates by ID, so a
document sent twice must carry the same one.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from xnat_plugin.assessors.assessor_id import (
    XNAT_ID_MAX_LENGTH,
    assessor_id,
    check_xnat_id,
    is_xnat_id,
)
from xnat_plugin.assessors.qc_assessment import QcAssessment, ScanStatistics
from xnat_plugin.assessors.roi_collection import RoiCollection


def roi(**overrides: object) -> RoiCollection:
    values: dict[str, object] = {
        "label": "SUBJ001_CT1_monai_spleen_20260101120000",
        "project": "LIVER",
        "session_id": "XNAT_E00001",
        "subject_id": "XNAT_S00001",
        "uid": "1.2.826.0.1.3680043.8.498.11",
    }
    values.update(overrides)
    return RoiCollection.model_validate(values)


def test_the_same_session_and_label_always_give_the_same_id() -> None:
    first, again = roi(), roi(uid="1.2.826.0.1.3680043.8.498.99")
    assert first.id == again.id == assessor_id("XNAT_E00001", "LIVER", first.label)
    assert f' ID="{first.id}"' in first.to_xml()


def test_the_id_names_its_session_and_is_legal_in_xnat() -> None:
    derived = roi().id
    assert derived.startswith("XNAT_E00001_")
    assert is_xnat_id(derived)


def test_a_session_shared_into_another_project_keeps_each_projects_assessors_apart() -> None:
    # A shared session may carry the same assessor label in each project it belongs to.
    label = "SUBJ001_CT1_monai_spleen_20260101120000"
    assert assessor_id("XNAT_E00001", "LIVER", label) != assessor_id("XNAT_E00001", "TEAM", label)


def test_other_labels_and_other_sessions_give_other_ids() -> None:
    labels = [f"SUBJ001_CT1_monai_spleen_2026010112{m:02d}00" for m in range(60)]
    ids = {assessor_id("XNAT_E00001", "LIVER", label) for label in labels}
    ids |= {assessor_id("XNAT_E00002", "LIVER", label) for label in labels}
    assert len(ids) == 120


def test_labels_that_differ_only_where_an_id_may_not_go_keep_their_own_ids() -> None:
    # `.` is legal in a label and not in an ID: no replacement may merge two labels.
    a, b = (
        assessor_id("XNAT_E00001", "LIVER", "S1_v1.2_SEG"),
        assessor_id("XNAT_E00001", "LIVER", "S1_v1_2_SEG"),
    )
    assert a != b and is_xnat_id(a) and is_xnat_id(b)


def test_session_ids_with_underscores_cannot_meet_on_one_id() -> None:
    # The digest has a fixed width after the last '_': the session part is always recoverable.
    first = assessor_id("SITE_E1", "LIVER", "x")
    assert first[: -len(first.rsplit("_", 1)[1]) - 1] == "SITE_E1"
    assert assessor_id("SITE", "LIVER", "E1_x") != first


def test_an_id_given_explicitly_is_kept() -> None:
    assert roi(id="XNAT_E00042").id == "XNAT_E00042"


@pytest.mark.parametrize("bad", ["XNAT.E1", "E 1", "E1;rm", "E[1]", "E`1", "x" * 256])
def test_an_id_xnat_would_refuse_is_refused_at_construction(bad: str) -> None:
    with pytest.raises(ValidationError, match="assessor ID"):
        roi(id=bad)


def test_a_session_id_xnat_would_refuse_is_refused() -> None:
    with pytest.raises(ValidationError, match="session"):
        roi(session_id="XNAT E00001")


def test_the_longest_legal_id_passes_and_one_more_character_does_not() -> None:
    assert check_xnat_id("x" * XNAT_ID_MAX_LENGTH) == "x" * XNAT_ID_MAX_LENGTH
    with pytest.raises(ValueError, match="at most 255"):
        check_xnat_id("x" * (XNAT_ID_MAX_LENGTH + 1))


def test_every_assessor_type_derives_its_id_the_same_way() -> None:
    qc = QcAssessment(
        label="SUBJ001_CT1_monai_eval_20260101120000",
        project="LIVER",
        session_id="XNAT_E00001",
        scans=[ScanStatistics(scan_id="1", statistics={"liver_dice": 0.9})],
    )
    assert qc.id == assessor_id("XNAT_E00001", "LIVER", qc.label)
    assert QcAssessment.from_xml(qc.to_xml()).id == qc.id
