"""Hostile names, checked once: XNAT's rule for labels and IDs, and "inside the root or refused".

Every label and ID that becomes a folder name (project, subject, session, assessor, scan,
resource) goes through `check_xnat_id`; every path the sandbox writes, reads or removes in its
archive goes through `inside` (via `archive.archive_path`). Nothing here imports the web
framework, so any part of the product can use it.

XNAT's rule is `XftStringUtils.isValidId` (xdat): not blank and `^[A-Za-z0-9-_]+$`
(`REGEX_VALID_ID`, built from `Patterns.ALPHANUMERIC_AND_DASHES`). Its REST resources answer a
failed check with 417 Expectation Failed and one fixed sentence per kind
(`ProjectResource`/`ProjectListResource`: "Invalid character in project ID.",
`SecureResource.validateSubject`: "Invalid character in subject label.",
`ExperimentResource`/`ExptAssessmentResource`: "Invalid character in experiment label.").
XNAT has no sentence of its own for scan IDs and resource labels; the sandbox refuses those in
the same shape, since it names folders after them too.
"""

from __future__ import annotations

import os
from pathlib import Path

# XftStringUtils.REGEX_VALID_ID: one pattern for the product's IDs and the sandbox's checks.
from xnat_plugin.assessors.assessor_id import XNAT_ID_PATTERN

# XNAT's answer to an invalid ID or label (Restlet's CLIENT_ERROR_EXPECTATION_FAILED).
INVALID_ID_STATUS = 417
_INVALID_ID_MESSAGES = {
    "project": "Invalid character in project ID.",
    "subject": "Invalid character in subject label.",
    "experiment": "Invalid character in experiment label.",
    # ExptAssessmentResource and ProjSubExptAsstList answer assessors with the experiment sentence
    "assessor": "Invalid character in experiment label.",
    "scan": "Invalid character in scan ID.",
    "resource": "Invalid character in resource label.",
}
NAME_KINDS = tuple(_INVALID_ID_MESSAGES)
# A path that would leave its root, or pass through a symbolic link, is refused with this.
OUTSIDE_STATUS = 400


class Refused(Exception):
    """A request refused before anything changed; `status` is the HTTP answer, the message
    its one line."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def check_xnat_id(kind: str, value: str) -> str:
    """`value` if XNAT accepts it as the ID or label of a `kind` (one of NAME_KINDS), else
    `Refused` with XNAT's status (417) and sentence, then what was wrong and what to do."""
    if XNAT_ID_PATTERN.fullmatch(value or ""):
        return value
    raise Refused(
        f"{_INVALID_ID_MESSAGES[kind]} {value!r} is not a valid {kind} "
        f"{'ID' if kind in ('project', 'scan') else 'label'}: use only letters, digits, "
        "'_' and '-'.",
        INVALID_ID_STATUS,
    )


def inside(
    root: Path | str, *parts: str | Path, allow_root: bool = False, where: str = "the archive"
) -> Path:
    """`root` joined with the relative `parts`, or `Refused` when a part is absolute or holds a
    `..` (even one that would come back: `P/../Q` is another project's folder), a NUL byte, or
    the result is `root` itself (unless `allow_root`) or passes through a symbolic link. The
    archive holds no links, so a link found there was planted: following it could write or
    delete elsewhere."""
    base = os.path.realpath(root)
    texts = [os.fspath(p) for p in parts]
    pieces = [piece for text in texts for piece in text.replace(os.sep, "/").split("/")]
    safe = not any(os.path.isabs(text) or "\x00" in text for text in texts) and ".." not in pieces
    if safe:
        joined = os.path.normpath(os.path.join(base, *texts))
        within = joined.startswith(base + os.sep) or (allow_root and joined == base)
        if within and os.path.realpath(joined) == joined:
            return Path(joined)
    shown = "/".join(texts)
    raise Refused(
        f"refused: {shown!r} is not a path inside {where}; nothing was changed",
        OUTSIDE_STATUS,
    )
