"""Pick the AI and the reference segmentation assessors of a session by label pattern.

Default: the newest `icr:roiCollectionData` whose label matches the pattern (the whole label,
`re.fullmatch`). "Newest" is by the `YYYYmmddHHMMSS` timestamp AI labels end with (contracts),
else by the assessor's XNAT date; the label breaks remaining ties.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from xnat_plugin.client.browse import AssessorInfo, SessionInfo, get_session, list_assessors
from xnat_plugin.errors import UserError

if TYPE_CHECKING:
    from xnat_plugin.client.connection import XnatClient

log = logging.getLogger(__name__)

ROI_COLLECTION = "icr:roiCollectionData"
_TRAILING_TIMESTAMP = re.compile(r"_(\d{14})$")


def compile_pattern(pattern: str, option: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise UserError(f"{option} {pattern!r} is not a regular expression ({exc})") from exc


def newest_matching(
    assessors: Sequence[AssessorInfo], pattern: str, *, option: str, session: str
) -> AssessorInfo:
    regex = compile_pattern(pattern, option)
    matching = [a for a in assessors if a.xsi_type == ROI_COLLECTION and regex.fullmatch(a.label)]
    if not matching:
        found = ", ".join(a.label for a in assessors if a.xsi_type == ROI_COLLECTION) or "none"
        raise UserError(
            f"session {session} has no segmentation assessor whose label matches {option} "
            f"{pattern!r} (segmentation assessors: {found})"
        )
    return max(matching, key=_age_key)


def label_time(label: str) -> str | None:
    """The `YYYYmmddHHMMSS` an assessor label written by a step ends with (`_<time>`)."""
    stamp = _TRAILING_TIMESTAMP.search(label)
    return stamp[1] if stamp else None


def newest_first_key(label: str) -> str:
    """Orders a session's evaluations of one model: by the time their labels end with (a label
    without one by itself)."""
    return label_time(label) or label


def _age_key(assessor: AssessorInfo) -> tuple[str, str]:
    when = label_time(assessor.label) or re.sub(r"\D", "", assessor.date).ljust(14, "0")
    return when, assessor.label


def choose_pair(
    assessors: Sequence[AssessorInfo],
    ai_pattern: str,
    reference_pattern: str,
    session: str,
    *,
    ai_id: str | None = None,
) -> tuple[AssessorInfo, AssessorInfo]:
    """(AI assessor, reference assessor): the AI one named by `ai_id`, else the newest match of
    `ai_pattern`; refuses when both picks are the same assessor."""
    if ai_id:
        named = [a for a in assessors if a.id == ai_id]
        if not named:
            raise UserError(f"session {session} has no assessor {ai_id} (--ai-assessor-id)")
        ai = named[0]
    else:
        ai = newest_matching(assessors, ai_pattern, option="--ai-pattern", session=session)
    reference = newest_matching(
        assessors, reference_pattern, option="--reference-pattern", session=session
    )
    if ai.id == reference.id:
        raise UserError(
            f"--ai-pattern and --reference-pattern both pick assessor {ai.label} on session "
            f"{session}: make the patterns tell AI and reference apart"
        )
    return ai, reference


@dataclass(frozen=True)
class SessionPair:
    """A session and the AI and reference assessors one evaluation compares."""

    session: SessionInfo
    ai: AssessorInfo
    reference: AssessorInfo
    taken_labels: frozenset[str]  # every assessor label the session has

    def unused_time(self, label_for: Callable[[str, dt.datetime], str]) -> dt.datetime:
        """Now, or the next second whose evaluation label (`label_for(session label, time)`)
        the session does not have yet: two evaluations within one second would otherwise get
        the same label."""
        when = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
        while label_for(self.session.label, when) in self.taken_labels:
            when += dt.timedelta(seconds=1)
        return when

    def require_one_series(self, ai_series: str, reference_series: str) -> str:
        """The series both are drawn on; refuses a pair drawn on different scans."""
        if ai_series != reference_series:
            raise UserError(
                f"{self.ai.label} is on series {ai_series} but {self.reference.label} on "
                f"{reference_series}: they are not of the same scan and cannot be compared"
            )
        return reference_series


def session_pair(
    client: XnatClient,
    session_id: str,
    ai_pattern: str,
    reference_pattern: str,
    *,
    ai_id: str | None = None,
) -> SessionPair:
    """The session read over REST and its pair of assessors (`choose_pair`)."""
    session = get_session(client, session_id)
    assessors = list_assessors(client, session_id)
    ai, reference = choose_pair(
        assessors,
        ai_pattern,
        reference_pattern,
        session.label or session_id,
        ai_id=ai_id,
    )
    log.info("AI %s vs reference %s", ai.label, reference.label)
    return SessionPair(
        session=session,
        ai=ai,
        reference=reference,
        taken_labels=frozenset(a.label for a in assessors),
    )


def model_name_from_label(label: str, session_label: str) -> str:
    """`<session>_monai_<model>_<YYYYmmddHHMMSS>` → `<model>` ('' when not in that form)."""
    match = re.fullmatch(re.escape(session_label) + r"_monai_(?P<model>.+)_\d{14}", label)
    return match["model"] if match else ""
