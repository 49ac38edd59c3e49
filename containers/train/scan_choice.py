"""The scan of each session that train learns from: the one infer would segment.

The rule (`ScanRule`) is the infer wrapper's `scan` matcher; here it is evaluated on each
session's scans as Container Service serialises them, with the runner's JSONPath evaluator, so
train and infer pick the same series. A session where no scan, or more than one, matches is
skipped with the reason, as Container Service refuses to launch infer there.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydicom

from containers.common.dicom_series import list_candidate_files
from xnat_plugin.commands.scan_rule import IMAGE_RESOURCE, ScanRule


@dataclass(frozen=True)
class ScanChoice:
    """The chosen scan's JSON, or why there is none."""

    scan: dict[str, Any] | None
    reason: str = ""


def add_scan_rule_arguments(parser: argparse.ArgumentParser) -> None:
    default = ScanRule()
    group = parser.add_argument_group("scan rule (which scan of a session; as infer's)")
    group.add_argument(
        "--scan-description",
        default=default.description,
        metavar="REGEX",
        help="the series description matches (whole text, any case); empty: any",
    )
    group.add_argument(
        "--scan-type", default=default.scan_type, metavar="REGEX", help="the scan type matches"
    )
    group.add_argument(
        "--min-frames",
        default=str(default.min_frames),
        metavar="N",
        help=f"at least N frames (default {default.min_frames}: no localizer)",
    )
    group.add_argument(
        "--max-frames", default=str(default.max_frames), metavar="N", help="at most N (0: any)"
    )


def scan_rule_from(args: argparse.Namespace) -> ScanRule:
    return ScanRule.from_input_values(
        {
            "scan-description": args.scan_description,
            "scan-type": args.scan_type,
            "min-frames": args.min_frames,
            "max-frames": args.max_frames,
        }
    )


def choose_scan(scans: Sequence[dict[str, Any]], rule: ScanRule) -> ScanChoice:
    """The one scan that matches `rule`, as Container Service resolves infer's `scan` input."""
    from xnat_plugin.runner.matchers import compile_matcher

    matching = compile_matcher(rule.matcher()).filter(scans)
    if len(matching) == 1:
        return ScanChoice(matching[0])
    if not matching:
        return ScanChoice(None, f"no scan matches the scan rule ({rule.describe()})")
    ids = ", ".join(str(scan.get("id")) for scan in matching)
    return ScanChoice(
        None,
        f"scans {ids} all match the scan rule ({rule.describe()}); infer could not choose "
        "either: narrow the project's scan rule",
    )


def scan_json_from_dicom(scan_id: str, dicom_dir: Path) -> dict[str, Any]:
    """A scan's JSON from its DICOM headers, for an archive read without XNAT: the fields XNAT's
    DICOM import fills in (series description, also the scan type; modality; frames: the file
    count; the series UID)."""
    files = [f for f in list_candidate_files(dicom_dir) if f.suffix.lower() != ".xml"]
    header = None
    for path in files:
        try:
            header = pydicom.dcmread(path, stop_before_pixels=True)
            break
        except Exception:  # not DICOM (e.g. a catalog XML): try the next file
            continue
    description = str(header.get("SeriesDescription", "")) if header is not None else ""
    return {
        "id": scan_id,
        "scan-type": description,
        "series-description": description,
        "modality": str(header.get("Modality", "")) if header is not None else "",
        "frames": len(files),
        "uid": str(header.get("SeriesInstanceUID", "")) if header is not None else "",
        "resources": [{"label": IMAGE_RESOURCE}],
    }


def reference_on_other_series(
    reference_label: str, reference_series_uid: str, scan: dict[str, Any]
) -> str:
    """Why a reference cannot train with the chosen scan ('' when it can): it segments another
    series, so its voxels do not lie on the scan infer will segment."""
    scan_uid = str(scan.get("uid") or "")
    if not reference_series_uid or not scan_uid or reference_series_uid == scan_uid:
        return ""
    return (
        f"reference {reference_label} segments series {reference_series_uid}, not scan "
        f"{scan.get('id')} ({scan.get('series-description') or 'no description'}) that the "
        "scan rule picks: set the project's scan rule to the series the references were drawn on"
    )
