"""What a model saw: the sessions and subjects it was trained and validated on, and the role of any
evaluated session with respect to it (training, validation or unseen).

The train step records the split in the bundle (`training.split` of `configs/metadata.json`);
the project evaluation reads it back and reports unseen sessions first. A session is `training`
when the model fitted its weights on it or on another session of the same subject (anatomy
leaks across sessions), `validation` when it only chose the best epoch, `unseen` otherwise.
Sessions are matched by XNAT ID, by label and by subject: a session the model may have seen is
never counted as unseen. Without a recorded split no session can be called unseen (`unknown`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

TRAINING, VALIDATION, UNSEEN, UNKNOWN = "training", "validation", "unseen", "unknown"
# The order reports show them in: what says how good the model is first.
ROLE_ORDER = (UNSEEN, VALIDATION, TRAINING, UNKNOWN)
ROLE_TITLES = {
    UNSEEN: "unseen sessions (never used in training or validation)",
    VALIDATION: "validation sessions (used to choose the best epoch)",
    TRAINING: "training sessions (the model was fitted on them or their subjects)",
    UNKNOWN: "sessions of a model whose training data is not recorded",
}


def _session_id(uri: str) -> str:
    """`XNAT_E00001` from `/experiments/XNAT_E00001` (or '' for a label-based URI)."""
    parts = [p for p in uri.split("/") if p]
    if len(parts) >= 2 and parts[-2] == "experiments" and "projects" not in parts:
        return parts[-1]
    return ""


def _group(rows: Iterable[Mapping[str, str]]) -> dict[str, list[str]]:
    rows = list(rows)
    return {
        "sessions": sorted({r["session"] for r in rows if r.get("session")}),
        "session_ids": sorted({i for r in rows if (i := _session_id(r.get("uri", "")))}),
        "subjects": sorted({r["subject"] for r in rows if r.get("subject")}),
    }


def record_split(
    data: Sequence[Mapping[str, str]], folds: Iterable[tuple[Sequence[int], Sequence[int]]]
) -> dict[str, Any]:
    """The bundle's `training.split`: `data` rows (session, uri, subject) and each fold's
    (train indices, validation indices). A session trained on in any fold is `training`."""
    trained: set[int] = set()
    validated: set[int] = set()
    for train, validation in folds:
        trained.update(train)
        validated.update(validation)
    return {
        TRAINING: _group(data[i] for i in sorted(trained)),
        VALIDATION: _group(data[i] for i in sorted(validated - trained)),
    }


@dataclass(frozen=True)
class SeenData:
    """The split a bundle recorded; `role()` places an evaluated session against it."""

    groups: Mapping[str, Mapping[str, Sequence[str]]] | None

    @classmethod
    def from_training(cls, training: Mapping[str, Any] | None) -> SeenData:
        split = (training or {}).get("split")
        return cls(split if isinstance(split, Mapping) and TRAINING in split else None)

    @property
    def recorded(self) -> bool:
        return self.groups is not None

    def role(self, session_id: str, session_label: str, subject: str) -> str:
        if self.groups is None:
            return UNKNOWN
        for role in (TRAINING, VALIDATION):
            group = self.groups.get(role, {})
            if (
                session_id in group.get("session_ids", ())
                or session_label in group.get("sessions", ())
                or (subject and subject in group.get("subjects", ()))
            ):
                return role
        return UNSEEN
