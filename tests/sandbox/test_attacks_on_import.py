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
    VICTIM,
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


def _scan_files(stage: Stage, session: str) -> dict[str, tuple[int, bytes]]:
    """The session's scan files as the archive holds them: name → (mode, content)."""
    scans = stage.server.data_dir / "archive" / ATTACKER / "arc001" / session / "SCANS"
    return {
        p.relative_to(scans).as_posix(): (p.stat().st_mode & 0o777, p.read_bytes())
        for p in sorted(scans.rglob("*"))
        if p.is_file()
    }


def _catalogued(stage: Stage, session: str) -> list[str]:
    with sqlite3.connect(stage.server.data_dir / "sandbox.db") as conn:
        rows = conn.execute(
            "SELECT r.owner, f.path FROM files f JOIN resources r ON r.id = f.resource_id "
            "JOIN experiments e ON r.owner LIKE 'scan:' || e.id || '/%' WHERE e.label = ?",
            (session,),
        )
        return sorted(f"{owner.rsplit('/', 1)[1]}/DICOM/{path}" for owner, path in rows)


def test_a_failed_overwrite_delete_import_keeps_the_old_scans(
    stage: Stage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """overwrite=delete replaces the session's scans only when the whole import succeeds: a
    failure half way (here the disk failing on the third new file) keeps the old ones, on disk
    and in the catalogue, and leaves none of the new."""
    from xnat_plugin.sandbox import routes_import

    old = zip_of(series_files(tmp_path / "old", "PAT07", number=1))
    assert post_import(stage, old, EXPT_LABEL="S07").status_code == 200
    before = _scan_files(stage, "S07")
    assert sorted(before) == _catalogued(stage, "S07") and len(before) == 4
    assert {mode for mode, _ in before.values()} == {0o644}  # the archive's one file mode

    real_md5, calls = routes_import._md5, []

    def failing_md5(path: Path) -> str:
        calls.append(path)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real_md5(path)

    monkeypatch.setattr(routes_import, "_md5", failing_md5)
    new = zip_of(series_files(tmp_path / "new", "PAT07", number=2))
    answer = post_import(stage, new, EXPT_LABEL="S07", overwrite="delete")
    assert answer.status_code == 500
    assert _scan_files(stage, "S07") == before
    assert _catalogued(stage, "S07") == sorted(before)
    monkeypatch.undo()
    replaced = post_import(stage, new, EXPT_LABEL="S07", overwrite="delete")
    assert replaced.status_code == 200, replaced.text
    after = _scan_files(stage, "S07")
    assert sorted(after) == _catalogued(stage, "S07")
    assert {name.split("/")[0] for name in after} == {"2"}
    assert list((stage.server.data_dir / "spool").glob("**/*")) == []


@pytest.mark.filterwarnings("ignore:.*VR UI:UserWarning")
def test_a_refused_overwrite_delete_import_keeps_the_old_scans(
    stage: Stage, tmp_path: Path
) -> None:
    """A replacement refused for a hostile header (400) removes nothing of what it would have
    replaced: the old scans stay on disk and in the catalogue."""
    old = zip_of(series_files(tmp_path / "old", "PAT08", number=1))
    assert post_import(stage, old, EXPT_LABEL="S08").status_code == 200
    before = _scan_files(stage, "S08")
    hostile = zip_of(
        series_files(tmp_path / "new", "PAT08", number=2), SOPInstanceUID="../../../../VICTIM/x"
    )
    answer = post_import(stage, hostile, EXPT_LABEL="S08", overwrite="delete")
    assert answer.status_code == 400, answer.text
    assert _scan_files(stage, "S08") == before and len(before) == 4
    assert _catalogued(stage, "S08") == sorted(before)
    assert victim_files_intact(stage)


@pytest.mark.parametrize(
    "query",
    [
        {"PROJECT_ID": "../VICTIM"},
        {"PROJECT_ID": "", "dest": "/archive/projects/../../VICTIM"},
        {"PROJECT_ID": "", "dest": "/archive/projects/VICTIM/../MINE"},
        {"PROJECT_ID": "MINE", "dest": "/archive/projects/VICTIM"},
        {"PROJECT_ID": "", "dest": "/prearchive/projects/VICTIM"},
    ],
)
def test_a_hostile_destination_is_refused_and_nothing_is_stored(
    stage: Stage, tmp_path: Path, query: dict[str, str]
) -> None:
    body = zip_of(series_files(tmp_path / "series"))
    before = files_on_disk(stage.outside)
    answer = post_import(stage, body, **query)
    assert answer.status_code in (400, 403, 404), answer.text
    assert new_files_outside_archive(stage, before) == []
    assert sessions_in(stage, VICTIM) == ["v1_CT"] and sessions_in(stage, ATTACKER) == ["m1_CT"]
    assert victim_files_intact(stage)
    assert list((stage.server.data_dir / "spool").glob("**/*")) == []
