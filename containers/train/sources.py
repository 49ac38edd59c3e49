"""Where the training pairs come from: XNAT's REST API and catalog, reading the files in the
mounted project archive where the catalog puts them; without XNAT, the mounted archive alone.

Container Service mounts a project as its archive directory (one folder per session). With
XNAT reachable (XNAT_HOST), the sessions, their reference assessors and scans are listed over
REST, and each resource's files are read where XNAT's catalog says they are in the mount
(`ASSESSORS/<label>/` for Container Service uploads, `ASSESSORS/<assessor ID>/` for REST
ones), or downloaded when the mount lacks them (an XNAT whose archive the container host
cannot see). Without XNAT, the mount is read on its own, assessor folders taken by label. Every
place searched is remembered, so "no pairs" says what was looked for and where.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from containers.train.archive_source import candidates_from_archive, session_folders
from containers.train.cases import ReferenceCandidate, SkippedSession
from xnat_plugin.client.connection import XnatClient
from xnat_plugin.commands.scan_rule import ScanRule
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
    rule: ScanRule,
    *,
    project_dir: Path | None,
    client: XnatClient | None,
    scratch: Path,
) -> PairSearch:
    """Through XNAT (files from the mount where it holds them); else the mount alone."""
    search = PairSearch()
    if client is not None:
        from containers.train.xnat_source import candidates_from_xnat

        candidates, skipped = candidates_from_xnat(
            client, project, matcher, scratch, rule, project_dir
        )
        sessions = len(candidates) + len(skipped)
        mount = f", files read in the mounted archive {project_dir}" if project_dir else ""
        search.searched.append(
            f"project {project} at {client.url} over REST ({sessions} sessions{mount})"
        )
        search.candidates, search.skipped = candidates, skipped
        return search
    if project_dir is None:
        raise UserError(
            "no training data: give --project-dir (the mounted project archive) or set "
            "XNAT_HOST, XNAT_USER and XNAT_PASS"
        )
    sessions = session_folders(project_dir)
    if sessions:
        search.candidates, search.skipped = candidates_from_archive(
            project_dir, project, matcher, rule
        )
        search.searched.append(f"the mounted archive {project_dir} ({len(sessions)} sessions)")
    else:
        search.searched.append(f"the mounted archive {project_dir} (no session folders)")
    return search
