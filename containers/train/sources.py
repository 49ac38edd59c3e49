"""Where the training pairs come from: the mounted project archive, else XNAT's REST API.

Container Service mounts a project as its archive directory (one folder per session). When that
mount holds no session folder (an XNAT whose archive the container host cannot see, a staging
that brought none) or no usable pair, and XNAT is reachable (XNAT_HOST), the pairs are read
over REST instead. Every place searched is remembered, so "no pairs" says what was looked for
and where.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from containers.train.archive_source import candidates_from_archive, session_folders
from containers.train.cases import ReferenceCandidate, SkippedSession
from xnat_plugin.client.connection import XnatClient
from xnat_plugin.errors import UserError

log = logging.getLogger(__name__)


@dataclass
class PairSearch:
    """The pairs found, the sessions passed over, and each place searched (in order)."""

    candidates: list[ReferenceCandidate] = field(default_factory=list)
    skipped: list[SkippedSession] = field(default_factory=list)
    searched: list[str] = field(default_factory=list)


def find_training_pairs(
    project: str,
    matcher: re.Pattern[str],
    *,
    project_dir: Path | None,
    client: XnatClient | None,
    scratch: Path,
) -> PairSearch:
    """The mounted archive first; XNAT over REST when the archive gave no pair."""
    search = PairSearch()
    if project_dir is not None:
        sessions = session_folders(project_dir)
        if sessions:
            candidates, skipped = candidates_from_archive(project_dir, project, matcher)
            search.searched.append(f"the mounted archive {project_dir} ({len(sessions)} sessions)")
            if candidates or client is None:
                search.candidates, search.skipped = candidates, skipped
                return search
            log.warning(
                "the mounted archive %s holds no usable pair; reading project %s over REST",
                project_dir,
                project,
            )
        else:
            search.searched.append(f"the mounted archive {project_dir} (no session folders)")
            if client is not None:
                log.info(
                    "the mounted archive %s holds no session folder; reading project %s over REST",
                    project_dir,
                    project,
                )
    if client is None:
        if project_dir is None:
            raise UserError(
                "no training data: give --project-dir (the mounted project archive) or set "
                "XNAT_HOST, XNAT_USER and XNAT_PASS"
            )
        return search
    from containers.train.xnat_source import candidates_from_xnat

    candidates, skipped = candidates_from_xnat(client, project, matcher, scratch)
    sessions = len(candidates) + len(skipped)
    search.searched.append(f"project {project} at {client.url} over REST ({sessions} sessions)")
    search.candidates, search.skipped = candidates, skipped
    return search
