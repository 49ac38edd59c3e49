"""The import service (`POST /data/services/import`) against hostile zips: a file name taken from
a DICOM header never leaves its scan folder, and a refused import leaves nothing behind.

XNAT names archived files from header values only when they are UIDs: its importer refuses an
object without one (`GradualDicomImporter`: "object … contains no SOP Instance UID") and UIDs
are checked by `DicomUtils.isValidUID` (dot-separated numbers, at most 64 characters).
Session labels from the request or the headers are cleaned, not refused
(`PrearcSessionArchiver.fixSessionLabel` → `XnatImagesessiondata.cleanValue`): they end inside
the importer's own project.
"""

from __future__ import annotations

import io
import sqlite3
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
import requests

from tests.sandbox.attack_helpers import (
    ATTACKER,
    Stage,
    build_stage,
    files_on_disk,
    new_files_outside_archive,
    victim_files_intact,
)
from xnat_plugin.sandbox.seed.ct_series import SeriesIdentity, write_ct_series
from xnat_plugin.sandbox.seed.phantom import make_phantom
from xnat_plugin.sandbox.server import running_sandbox

IMPORT = "/data/services/import"


@pytest.fixture
def stage(tmp_path: Path) -> Iterator[Stage]:
    with running_sandbox(tmp_path / "xnat") as server:
        yield build_stage(server)


def series_files(folder: Path, patient: str = "PAT01", *, number: int = 1) -> list[Path]:
    phantom = make_phantom(3, "SITE_A", matrix=32, slices=4)
    identity = SeriesIdentity.for_subject(3, patient, f"{patient}_CT")
    identity = SeriesIdentity(**{**identity.__dict__, "series_number": number})
    return write_ct_series(phantom, folder, identity)


def zip_of(files: list[Path], **header: str | None) -> bytes:
    """The files zipped; `header` replaces (or, with None, removes) values in the first one."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for index, path in enumerate(files):
            dataset = pydicom.dcmread(path)
            if index == 0:
                for keyword, value in header.items():
                    if value is None:
                        delattr(dataset, keyword)
                    else:
                        setattr(dataset, keyword, value)
            out = io.BytesIO()
            dataset.save_as(out)
            archive.writestr(f"dicom/{path.name}", out.getvalue())
    return buffer.getvalue()


def post_import(stage: Stage, body: bytes, **query: str) -> requests.Response:
    return stage.attacker.post(
        f"{stage.url}{IMPORT}",
        params={"import-handler": "DICOM-zip", "PROJECT_ID": ATTACKER, **query},
        data=body,
        headers={"Content-Type": "application/zip"},
        timeout=60,
    )


def sessions_in(stage: Stage, project: str) -> list[str]:
    with sqlite3.connect(stage.server.data_dir / "sandbox.db") as conn:
        rows = conn.execute(
            "SELECT label FROM experiments WHERE project = ? ORDER BY label", (project,)
        )
        return [r[0] for r in rows]


HEADER_ATTACKS = {
    "SOPInstanceUID ../../../../VICTIM/x": (
        {"SOPInstanceUID": "../../../../VICTIM/x"},
        "is not a DICOM UID",
    ),
    "SOPInstanceUID /abs/path": ({"SOPInstanceUID": "/tmp/abs"}, "is not a DICOM UID"),
    "SOPInstanceUID 1.2/../../x": ({"SOPInstanceUID": "1.2/../../x"}, "is not a DICOM UID"),
    "SOPInstanceUID ..": ({"SOPInstanceUID": ".."}, "is not a DICOM UID"),
    "SOPInstanceUID of 65 characters": (
        {"SOPInstanceUID": "1." + "2" * 63},
        "is not a DICOM UID",
    ),
    "no SOPInstanceUID": ({"SOPInstanceUID": None}, "contains no SOP Instance UID"),
}


@pytest.mark.filterwarnings("ignore:.*VR UI:UserWarning")
@pytest.mark.parametrize("attack", sorted(HEADER_ATTACKS))
def test_a_file_name_from_a_hostile_header_is_refused_and_nothing_is_stored(
    stage: Stage, tmp_path: Path, attack: str
) -> None:
    header, reason = HEADER_ATTACKS[attack]
    body = zip_of(series_files(tmp_path / "series"), **header)
    before = files_on_disk(stage.outside)
    answer = post_import(stage, body)
    assert answer.status_code == 400, answer.text
    assert reason in answer.text
    assert new_files_outside_archive(stage, before) == []
    assert not (stage.server.data_dir / "archive" / ATTACKER / "arc001" / "PAT01").exists()
    assert sessions_in(stage, ATTACKER) == ["m1_CT"]
    assert victim_files_intact(stage)
    assert list((stage.server.data_dir / "spool").glob("**/*")) == []


@pytest.mark.parametrize(
    "header",
    [
        {"PatientID": "../../VICTIM", "PatientName": "../../VICTIM"},
        {"PatientID": "/tmp/abs", "SeriesNumber": "0"},
    ],
)
def test_hostile_patient_values_name_a_session_inside_the_importers_project(
    stage: Stage, tmp_path: Path, header: dict[str, str]
) -> None:
    files = series_files(tmp_path / "series")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in files:
            dataset = pydicom.dcmread(path)
            for keyword, value in header.items():
                setattr(dataset, keyword, value)
            out = io.BytesIO()
            dataset.save_as(out)
            archive.writestr(path.name, out.getvalue())
    before = files_on_disk(stage.outside)
    answer = post_import(stage, buffer.getvalue())
    assert answer.status_code == 200, answer.text
    assert new_files_outside_archive(stage, before) == []
    assert victim_files_intact(stage)
    labels = sessions_in(stage, ATTACKER)
    assert len(labels) == 2 and all(label.replace("_", "").isalnum() for label in labels)


@pytest.mark.parametrize("query", [{"EXPT_LABEL": "../../VICTIM"}, {"SUBJECT_ID": "/tmp/abs"}])
def test_hostile_labels_in_the_request_stay_inside_the_importers_project(
    stage: Stage, tmp_path: Path, query: dict[str, str]
) -> None:
    body = zip_of(series_files(tmp_path / "series"))
    before = files_on_disk(stage.outside)
    answer = post_import(stage, body, **query)
    assert answer.status_code == 200, answer.text
    assert new_files_outside_archive(stage, before) == []
    assert victim_files_intact(stage)
    assert sessions_in(stage, "VICTIM") == ["v1_CT"]
