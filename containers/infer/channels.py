"""One scan per input channel, for bundles that take several (BraTS: T1c, T1, T2, FLAIR).

The session is mounted whole (`--session-dir`, XNAT's layout `SCANS/<scan>/DICOM/`). Each
channel is matched against the scans' series descriptions (read from their DICOM headers,
where XNAT also takes them from):

- `--channel-scans "T1c=*t1*post*,T1=*t1*pre*,T2=*t2*,FLAIR=*flair*"` gives a pattern per
  channel (shell-style, case-insensitive, over the whole description); a project sets it once
  as the wrapper's default in its command configuration;
- a channel without a pattern matches scans whose description contains the channel's name
  (from the bundle's `channel_def`) as a word: "T1c" matches "AX T1C POST", not "T1".

Every channel must match exactly one scan and no scan may serve two channels; otherwise the
step stops and lists the candidates. The choice is recorded in the report.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path

import pydicom

from containers.common.dicom_series import list_candidate_files
from xnat_plugin.errors import UserError

DICOM_RESOURCE = "DICOM"


@dataclass(frozen=True)
class SessionScan:
    scan_id: str
    series_description: str
    folder: Path  # the scan's DICOM resource


@dataclass(frozen=True)
class ChannelScan:
    channel: str
    scan: SessionScan
    pattern: str  # what chose it


def parse_channel_patterns(text: str | None, channels: tuple[str, ...]) -> dict[str, str]:
    """`NAME=PATTERN,NAME=PATTERN` → {channel: pattern}; names must be the bundle's channels."""
    patterns: dict[str, str] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        name, sep, pattern = part.partition("=")
        name = name.strip()
        match = [c for c in channels if c.lower() == name.lower()]
        if not sep or not pattern.strip() or not match:
            raise UserError(
                f"--channel-scans part {part.strip()!r} is not CHANNEL=PATTERN with a channel of "
                f"the model ({', '.join(channels)})"
            )
        patterns[match[0]] = pattern.strip()
    return patterns


def session_scans(session_dir: Path) -> list[SessionScan]:
    """Scans with a DICOM resource in a mounted session, with their series descriptions."""
    scans_dir = session_dir / "SCANS"
    if not scans_dir.is_dir():
        raise UserError(
            f"{session_dir} holds no SCANS folder: a model with several input channels needs the "
            "whole session mounted (the wrapper 'segment from several scans')"
        )
    found = []
    for scan in sorted(p for p in scans_dir.iterdir() if p.is_dir()):
        folder = scan / DICOM_RESOURCE
        if not folder.is_dir():
            continue
        found.append(SessionScan(scan.name, _series_description(folder), folder))
    return found


def choose_channel_scans(
    scans: list[SessionScan], channels: tuple[str, ...], patterns: dict[str, str]
) -> list[ChannelScan]:
    """The one scan of each channel, in channel order."""
    chosen: list[ChannelScan] = []
    for channel in channels:
        pattern = patterns.get(channel)
        if pattern is not None:
            hits = [
                s
                for s in scans
                if fnmatch.fnmatchcase(s.series_description.lower(), pattern.lower())
            ]
            rule = pattern
        else:
            hits = [s for s in scans if channel.lower() in _words(s.series_description)]
            rule = f"the word {channel!r}"
        if len(hits) != 1:
            listing = "; ".join(f"scan {s.scan_id} {s.series_description!r}" for s in scans)
            some = f"{len(hits)} scans match" if hits else "no scan matches"
            raise UserError(
                f"channel {channel}: {some} {rule} ({listing or 'no scans'}); set --channel-scans "
                f"(the wrapper input channel-scans), e.g. {channel}=*{channel.lower()}*"
            )
        taken = [c.channel for c in chosen if c.scan.scan_id == hits[0].scan_id]
        if taken:
            raise UserError(
                f"scan {hits[0].scan_id} matches both channel {taken[0]} and {channel}; give "
                "each channel its own pattern in --channel-scans"
            )
        chosen.append(ChannelScan(channel, hits[0], rule))
    return chosen


def _words(description: str) -> set[str]:
    return {w for w in re.split(r"[^a-z0-9]+", description.lower()) if w}


def _series_description(folder: Path) -> str:
    for path in list_candidate_files(folder):
        try:
            header = pydicom.dcmread(
                path, stop_before_pixels=True, specific_tags=["SeriesDescription"]
            )
        except Exception:  # not DICOM (e.g. a catalog file): try the next
            continue
        return str(header.get("SeriesDescription", ""))
    return ""
