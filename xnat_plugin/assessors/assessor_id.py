"""The `ID` of the assessors this project writes: unique on the site, legal in XNAT, stable.

XNAT validates an assessor document as sent, and `ID` is a required attribute of every
experiment (`xnat:experimentData/@ID` in xnat.xsd), so the document must carry one. XNAT then
creates the assessor, or updates the one that already has that ID: a document that is sent
again (a retried upload, a re-finalized container) must carry the same ID, or a second assessor
appears beside the first.

The rule, from XNAT's source:
- characters: `XftStringUtils.isValidId` accepts `^[A-z0-9_-]+$`, which the experiment PUT
  routes check before saving ("Invalid character in experiment label."); `A-z` also spans
  ``[\\]^` ``, which nothing else in XNAT expects, so we stay within letters, digits, `_`, `-`;
- length: the column is `VARCHAR(255)` (`GenericWrapperField.getType`, `DEFAULT_STRING_SIZE`
  for an `xs:string` without `maxLength`).

The scheme: `<session ID>_<12 hex digits of SHA-256 over session ID, project and label>`. XNAT
keeps labels unique within a project and a session ID unique on the site, so (session ID,
project, label) names one assessor site-wide, a session shared into a second project included;
the fixed-width suffix after the last `_` keeps the mapping one-to-one whatever the session ID
holds; the label may hold `.` (which an ID may not) without two labels meeting on one ID. The
same session, project and label always give the same ID.
"""

from __future__ import annotations

import hashlib
import re

XNAT_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]+$")
XNAT_ID_MAX_LENGTH = 255
# 48 bits: two labels of one session share an ID with odds of about n²/2⁴⁹ (1e-10 for 250).
DIGEST_LENGTH = 12


def is_xnat_id(value: str) -> bool:
    """Whether XNAT stores `value` as an experiment ID unchanged (characters and length)."""
    return bool(XNAT_ID_PATTERN.match(value)) and len(value) <= XNAT_ID_MAX_LENGTH


def check_xnat_id(value: str, what: str = "ID") -> str:
    """`value` when it is a legal XNAT experiment ID, else ValueError saying why."""
    if not XNAT_ID_PATTERN.match(value):
        raise ValueError(
            f"{what} {value!r} may contain only letters, digits, '_' and '-' "
            "(XNAT refuses other characters in an experiment ID)"
        )
    if len(value) > XNAT_ID_MAX_LENGTH:
        raise ValueError(
            f"{what} is {len(value)} characters long; XNAT stores at most {XNAT_ID_MAX_LENGTH}"
        )
    return value


def assessor_id(session_id: str, project: str, label: str) -> str:
    """The ID of the assessor labelled `label` in `project` on the session `session_id`."""
    check_xnat_id(session_id, "session ID")
    if not label or not project:
        raise ValueError("an assessor needs a project and a label to derive its ID from")
    text = f"{session_id}\n{project}\n{label}"
    digest = hashlib.sha256(text.encode()).hexdigest()[:DIGEST_LENGTH]
    derived = f"{session_id}_{digest}"
    return check_xnat_id(derived, f"the ID derived from session ID {session_id!r}")
