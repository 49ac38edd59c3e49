"""The event-launched evaluation names its AI segmentation and waits for its SEG: XNAT fires
`ImageAssessorEvent` when the assessor's XML is stored, before Container Service uploads the
assessor's resources (`EventServiceItemSaveAspect`), so the SEG may not be there yet."""

from __future__ import annotations

from pathlib import Path

import pytest

from containers.evaluate import session_sources
from containers.evaluate.assessor_choice import choose_pair
from containers.evaluate.session_sources import seg_file_when_uploaded
from xnat_plugin.client.browse import AssessorInfo
from xnat_plugin.errors import UserError

ROI = "icr:roiCollectionData"
AI = AssessorInfo(id="XNAT_E00009", label="S_CT1_monai_m_20260101120000", xsi_type=ROI)
OLDER_AI = AssessorInfo(id="XNAT_E00010", label="S_CT1_monai_m_20250101120000", xsi_type=ROI)
MANUAL = AssessorInfo(id="XNAT_E00003", label="S_CT1_manual_SEG", xsi_type=ROI)


class UploadedAfter:
    """A source whose SEG appears on the `n`-th look."""

    def __init__(self, n: int, path: Path) -> None:
        self.looks, self.n, self.path = 0, n, path

    def seg_file(self, assessor: AssessorInfo) -> Path:
        self.looks += 1
        if self.looks < self.n:
            raise UserError(f"{assessor.label} has no SEG resource yet")
        return self.path


def test_a_named_ai_segmentation_is_chosen_over_the_newest_match() -> None:
    ai, reference = choose_pair(
        [AI, OLDER_AI, MANUAL], ".*_monai_.*", ".*manual.*", "S_CT1", ai_id=OLDER_AI.id
    )
    assert (ai, reference) == (OLDER_AI, MANUAL)
    with pytest.raises(UserError, match="no assessor XNAT_E09999"):
        choose_pair([AI, MANUAL], ".*_monai_.*", ".*manual.*", "S_CT1", ai_id="XNAT_E09999")


def test_the_seg_is_waited_for_until_it_is_uploaded(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(session_sources, "SEG_POLL_S", 0.01)
    source = UploadedAfter(3, tmp_path / "seg.dcm")
    assert seg_file_when_uploaded(source, AI, wait_s=5) == tmp_path / "seg.dcm"
    assert source.looks == 3


def test_a_seg_that_never_comes_ends_with_one_line_once_the_wait_is_over(monkeypatch) -> None:
    monkeypatch.setattr(session_sources, "SEG_POLL_S", 0.01)
    with pytest.raises(
        UserError, match=r"the SEG of S_CT1_monai_m_\d+ was not uploaded within 0 s"
    ):
        seg_file_when_uploaded(UploadedAfter(10**9, Path("x")), AI, wait_s=0.05)


def test_without_a_wait_a_missing_seg_fails_at_once() -> None:
    source = UploadedAfter(2, Path("x"))
    with pytest.raises(UserError, match="has no SEG resource yet"):
        seg_file_when_uploaded(source, AI, wait_s=0)
    assert source.looks == 1
