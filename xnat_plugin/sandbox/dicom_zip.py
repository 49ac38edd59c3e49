"""Reading an uploaded DICOM zip into what the import service archives: one session of one
study, one scan per series, its files staged on disk.

XNAT's DICOM-zip import handler reads every member's header; members that are not DICOM are
skipped (a README, a DICOMDIR), and a zip with no DICOM at all is refused. Labels follow XNAT's
default identifiers: subject from PatientName, session from PatientID (StudyID when empty),
both cleaned to XNAT's allowed characters; the request's own values win over the headers.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError

from xnat_plugin.sandbox.limits import Limits, check_zip, inflate_member

SESSION_XSI_TYPES = {"CT": "xnat:ctSessionData", "MR": "xnat:mrSessionData"}
SCAN_XSI_TYPES = {"CT": "xnat:ctScanData", "MR": "xnat:mrScanData"}
GENERIC_SCAN_TYPE = "xnat:imageScanData"


class DicomZipRefused(ValueError):
    """The upload cannot become a session; the message says why (answered as 400)."""


@dataclass
class ImportedScan:
    """One series: its scan ID (SeriesNumber) and the staged files, by archive name."""

    scan_id: str
    xsi_type: str
    series_uid: str
    series_description: str
    modality: str
    files: dict[str, Path] = field(default_factory=dict)

    def fields(self) -> dict[str, str]:
        """The scan's catalogue fields, the keys XNAT's REST writes use."""
        values = {
            "type": self.series_description or self.modality,
            "series_description": self.series_description,
            "modality": self.modality,
            "UID": self.series_uid,
            "frames": str(len(self.files)),
            "quality": "usable",
        }
        return {k: v for k, v in values.items() if v}


@dataclass
class ImportedStudy:
    """The session an upload becomes, before it has IDs."""

    subject_label: str
    session_label: str
    xsi_type: str
    modality: str
    study_uid: str
    header_fields: dict[str, str]
    scans: dict[str, ImportedScan]

    def session_fields(self) -> dict[str, str]:
        return {"modality": self.modality, "UID": self.study_uid, **self.header_fields}


def clean_label(text: str) -> str:
    """XNAT labels hold letters, digits, `_` and `-`; anything else becomes `_`."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", text.strip()).strip("_")


def _text(dataset: pydicom.Dataset, keyword: str) -> str:
    value = dataset.get(keyword, "")
    return str(value).strip() if value is not None else ""


def _iso_date(value: str) -> str:
    return f"{value[:4]}-{value[4:6]}-{value[6:8]}" if re.fullmatch(r"\d{8}", value) else ""


def _iso_time(value: str) -> str:
    digits = value.split(".", 1)[0]
    if not re.fullmatch(r"\d{6}", digits):
        return ""
    return f"{digits[:2]}:{digits[2:4]}:{digits[4:6]}"


def _header_fields(first: pydicom.Dataset) -> dict[str, str]:
    values = {
        "date": _iso_date(_text(first, "StudyDate")),
        "time": _iso_time(_text(first, "StudyTime")),
        "acquisition_site": _text(first, "InstitutionName"),
        "scanner/manufacturer": _text(first, "Manufacturer"),
        "scanner/model": _text(first, "ManufacturerModelName"),
        "dcmPatientId": _text(first, "PatientID"),
        "dcmPatientName": _text(first, "PatientName"),
    }
    return {k: v for k, v in values.items() if v}


# DicomUtils.isValidUID (XNAT's dicomtools): 1 to 64 characters, dot-separated numbers without
# leading zeros. A header value that names a file must be one, never a path.
_VALID_UID = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*")
UID_MAX_LENGTH = 64


def _archive_name(dataset: pydicom.Dataset, member: str) -> str:
    """`<SOPInstanceUID>.dcm`; refused when the header holds no UID (XNAT's GradualDicomImporter:
    "object … contains no SOP Instance UID") or something that is not a UID (`../../x`)."""
    sop_uid = _text(dataset, "SOPInstanceUID")
    if not sop_uid:
        raise DicomZipRefused(f"object {member} contains no SOP Instance UID")
    if len(sop_uid) > UID_MAX_LENGTH or not _VALID_UID.fullmatch(sop_uid):
        raise DicomZipRefused(
            f"object {member}: SOPInstanceUID {sop_uid!r} is not a DICOM UID (digits and dots, "
            f"at most {UID_MAX_LENGTH} characters); correct the file or leave it out of the zip"
        )
    return f"{sop_uid}.dcm"


def read_dicom_zip(
    zip_path: Path,
    staging: Path,
    *,
    subject: str | None,
    session: str | None,
    limits: Limits | None = None,
) -> ImportedStudy:
    """Stage every DICOM member of `zip_path` under `staging`, grouped into scans. What the
    zip declares is checked against `limits` before anything is inflated."""
    try:
        archive = zipfile.ZipFile(zip_path)
    except zipfile.BadZipFile as exc:
        raise DicomZipRefused(
            "the body is not a zip file: send the DICOM files of one study as a zip "
            "(import-handler=DICOM-zip)"
        ) from exc
    scans: dict[str, ImportedScan] = {}
    first: pydicom.Dataset | None = None
    study_uid = ""
    with archive:
        members = check_zip(archive, zip_path.stat().st_size, limits or Limits())
        for number, info in enumerate(members):
            staged = staging / f"{number}.dcm"
            with staged.open("wb") as target:
                inflate_member(archive, info, target)
            try:
                dataset = pydicom.dcmread(staged, stop_before_pixels=True)
            except (InvalidDicomError, EOFError, ValueError, OSError):
                staged.unlink()  # not DICOM: XNAT's import skips it
                continue
            if not _text(dataset, "SOPInstanceUID") and not _text(dataset, "Modality"):
                staged.unlink()
                continue
            this_study = _text(dataset, "StudyInstanceUID")
            if first is None:
                first, study_uid = dataset, this_study
            elif this_study != study_uid:
                raise DicomZipRefused(
                    f"the zip holds more than one study ({study_uid} and {this_study}): "
                    "upload one study per request"
                )
            _add_to_scan(scans, dataset, staged, info.filename)
    if first is None:
        raise DicomZipRefused(
            "the zip holds no DICOM files: send the DICOM files of one study as a zip"
        )
    return _study(first, study_uid, scans, subject=subject, session=session)


def _add_to_scan(
    scans: dict[str, ImportedScan], dataset: pydicom.Dataset, staged: Path, member: str
) -> None:
    series_number = _text(dataset, "SeriesNumber")
    series_uid = _text(dataset, "SeriesInstanceUID")
    scan_id = series_number or str(len(scans) + 1)
    modality = _text(dataset, "Modality").upper()
    scan = scans.get(scan_id)
    if scan is None:
        scan = scans[scan_id] = ImportedScan(
            scan_id=clean_label(scan_id) or str(len(scans) + 1),
            xsi_type=SCAN_XSI_TYPES.get(modality, GENERIC_SCAN_TYPE),
            series_uid=series_uid,
            series_description=_text(dataset, "SeriesDescription"),
            modality=modality,
        )
    name = _archive_name(dataset, member)
    if name in scan.files:
        name = f"{len(scan.files)}_{name}"
    scan.files[name] = staged


def _study(
    first: pydicom.Dataset,
    study_uid: str,
    scans: dict[str, ImportedScan],
    *,
    subject: str | None,
    session: str | None,
) -> ImportedStudy:
    image_modalities = [s.modality for s in scans.values() if s.modality in SESSION_XSI_TYPES]
    if not image_modalities:
        found = sorted({s.modality or "none" for s in scans.values()})
        raise DicomZipRefused(
            f"no CT or MR series in the zip (modalities: {', '.join(found)}): this XNAT "
            f"archives {' and '.join(sorted(SESSION_XSI_TYPES))} sessions"
        )
    modality = image_modalities[0]
    subject_label = clean_label(subject or _text(first, "PatientName"))
    session_label = clean_label(
        session or _text(first, "PatientID") or _text(first, "StudyID") or ""
    )
    if not subject_label:
        raise DicomZipRefused("no subject: give SUBJECT_ID, or send files with a PatientName")
    if not session_label:
        raise DicomZipRefused(
            "no session label: give EXPT_LABEL, or send files with a PatientID or StudyID"
        )
    return ImportedStudy(
        subject_label=subject_label,
        session_label=session_label,
        xsi_type=SESSION_XSI_TYPES[modality],
        modality=modality,
        study_uid=study_uid,
        header_fields=_header_fields(first),
        scans=scans,
    )
