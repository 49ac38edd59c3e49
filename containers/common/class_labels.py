"""Each session's class, as XNAT holds it, for the classification steps.

Two places a project keeps its classes:

- a custom field on each session (`xnat:fields`, e.g. `diagnosis=lesion`): `--label-field
  diagnosis`. XNAT keeps custom field names in lower case, so the name matches in any case;
- a CSV file in a project resource (`session_label,class` header, one row a session):
  `--label-csv LABELS/classes.csv` (resource `LABELS`, file `classes.csv`).

A session without a usable class (no field, an empty one, a class name that is not allowed, no
row or two rows that disagree) is left out and listed with its reason; a CSV row naming a
session the project does not have is listed too. Class names become bundle class names and
assessor field values: letters, digits, '_', '-', '.' and inner spaces, at most 64 characters,
checked here and nowhere else.

`ClassLabels.check_folds(folds)` refuses, with one line, a class with too few subjects for a
subject-level split: each fold must hold every class out at least once.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from xnat_plugin.assessors.assessor_id import XNAT_ID_PATTERN
from xnat_plugin.client import paths
from xnat_plugin.client.browse import SessionInfo, list_sessions
from xnat_plugin.client.connection import XnatClient, XnatNotFoundError
from xnat_plugin.errors import UserError

FIELD_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
CLASS_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_.\- ]{0,62}[A-Za-z0-9_.\-])?")
FILE_PART = re.compile(r"[A-Za-z0-9_\-][A-Za-z0-9_.\-]*")  # no '..', no hidden files
CSV_COLUMNS = ("session_label", "class")
CSV_MAX_BYTES = 10 * 1024 * 1024
# A class needs at least this many subjects even without folds: one to learn from, one to judge.
MIN_SUBJECTS_PER_CLASS = 2
# How many unlabelled sessions one log line names before it says "and N more".
NAMED_IN_A_LINE = 5


@dataclass(frozen=True)
class LabelSource:
    """Where the classes are: a session field, or a CSV file in a project resource."""

    field: str | None = None
    resource: str | None = None
    file: str | None = None

    def describe(self) -> str:
        if self.field is not None:
            return f"session field {self.field!r}"
        return f"project resource {self.resource}/{self.file}"


def label_source(label_field: str | None, label_csv: str | None) -> LabelSource:
    """The source the options name: exactly one of `--label-field NAME` and `--label-csv
    RESOURCE/FILE.csv`, each checked before it reaches a request."""
    if (label_field is None) == (label_csv is None):
        raise UserError(
            "give the classes with exactly one of --label-field NAME (a session field) and "
            "--label-csv RESOURCE/FILE.csv (a CSV in a project resource)"
        )
    if label_field is not None:
        if not FIELD_NAME.fullmatch(label_field):
            raise UserError(
                f"--label-field {label_field!r} is not a field name: a letter, then letters, "
                "digits or '_' (at most 64)"
            )
        return LabelSource(field=label_field.lower())
    resource, slash, file = (label_csv or "").partition("/")
    if (
        not slash
        or not XNAT_ID_PATTERN.fullmatch(resource)
        or not file.lower().endswith(".csv")
        or any(not FILE_PART.fullmatch(part) for part in file.split("/"))
    ):
        raise UserError(
            f"--label-csv {label_csv!r} must be RESOURCE/FILE.csv (a project resource and a "
            "file in it; letters, digits, '_', '-' and '.')"
        )
    return LabelSource(resource=resource, file=file)


@dataclass(frozen=True)
class LabelledSession:
    session: SessionInfo
    label: str


@dataclass(frozen=True)
class Unlabelled:
    """A session left out (or a CSV row that names no session), and why."""

    session_label: str
    reason: str


@dataclass
class ClassLabels:
    source: str
    labelled: list[LabelledSession] = field(default_factory=list)
    unlabelled: list[Unlabelled] = field(default_factory=list)

    @property
    def classes(self) -> list[str]:
        """The class names, sorted: their order is the model's output order."""
        return sorted({entry.label for entry in self.labelled})

    def sessions_per_class(self) -> dict[str, int]:
        counts = Counter(entry.label for entry in self.labelled)
        return {name: counts[name] for name in self.classes}

    def subjects_per_class(self) -> dict[str, int]:
        subjects: dict[str, set[str]] = {name: set() for name in self.classes}
        for entry in self.labelled:
            subjects[entry.label].add(entry.session.subject_label or entry.session.subject_id)
        return {name: len(found) for name, found in subjects.items()}

    def check_folds(self, folds: int) -> None:
        """Refuse (one line) fewer than two classes, a subject in two classes, or a class with
        fewer subjects than a subject-level split over `folds` folds needs."""
        if len(self.classes) < 2:
            found = f"only {self.classes[0]!r}" if self.classes else "no labelled session"
            raise UserError(
                f"classification needs sessions of at least 2 classes in {self.source}, found "
                f"{found} ({self.summary()}): label sessions of another class"
            )
        by_subject: dict[str, set[str]] = {}
        for entry in self.labelled:
            subject = entry.session.subject_label or entry.session.subject_id
            by_subject.setdefault(subject, set()).add(entry.label)
        mixed = sorted(s for s, labels in by_subject.items() if len(labels) > 1)
        if mixed:
            raise UserError(
                f"subject {mixed[0]} has sessions of classes {', '.join(sorted(by_subject[mixed[0]]))} "
                f"in {self.source}: folds split by subject, so a subject's sessions must share a "
                "class; correct the labels"
            )
        needed = max(MIN_SUBJECTS_PER_CLASS, folds)
        short = {n: c for n, c in self.subjects_per_class().items() if c < needed}
        if short:
            name, count = sorted(short.items(), key=lambda item: (item[1], item[0]))[0]
            raise UserError(
                f"class {name!r} has {count} subject(s) in {self.source} and --folds {folds} "
                f"needs at least {needed} per class: label more sessions of {name!r} or lower "
                "--folds"
            )

    def summary(self) -> str:
        """`absent 12, present 11; 2 left out` — for logs and refusals."""
        counts = ", ".join(f"{n} {c}" for n, c in self.sessions_per_class().items()) or "none"
        left = f"; {len(self.unlabelled)} left out" if self.unlabelled else ""
        return f"{counts}{left}"

    def unlabelled_lines(self) -> list[str]:
        """One line per reason, naming the sessions it applies to."""
        by_reason: dict[str, list[str]] = {}
        for entry in self.unlabelled:
            by_reason.setdefault(entry.reason, []).append(entry.session_label)
        lines = []
        for reason, labels in by_reason.items():
            named = ", ".join(labels[:NAMED_IN_A_LINE])
            more = (
                f" and {len(labels) - NAMED_IN_A_LINE} more"
                if len(labels) > NAMED_IN_A_LINE
                else ""
            )
            lines.append(f"left out ({reason}): {named}{more}")
        return lines


def _class_or_reason(value: str) -> tuple[str | None, str | None]:
    value = value.strip()
    if not value:
        return None, "empty class"
    if not CLASS_NAME.fullmatch(value):
        return None, (
            "class name not allowed: letters, digits, '_', '-', '.' and inner spaces, at most 64"
        )
    return value, None


def labels_from_fields(sessions: Iterable[SessionInfo], field_name: str) -> ClassLabels:
    """Each session's class from its custom field `field_name` (any case)."""
    wanted = field_name.lower()
    result = ClassLabels(source=LabelSource(field=wanted).describe())
    for session in sessions:
        values = {k.lower(): v for k, v in session.fields.items()}
        if wanted not in values:
            result.unlabelled.append(Unlabelled(session.label, f"no field {wanted!r}"))
            continue
        label, reason = _class_or_reason(values[wanted])
        if label is None:
            result.unlabelled.append(Unlabelled(session.label, f"field {wanted!r}: {reason}"))
        else:
            result.labelled.append(LabelledSession(session, label))
    return result


def labels_from_csv(sessions: Iterable[SessionInfo], text: str, where: str) -> ClassLabels:
    """Each session's class from a `session_label,class` CSV (`where` names it in messages)."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    columns = {(name or "").strip().lower(): name for name in reader.fieldnames or []}
    missing = [c for c in CSV_COLUMNS if c not in columns]
    if missing:
        raise UserError(
            f"{where} has no column {', '.join(missing)} in its first row: the first row must "
            f"name the columns, at least {','.join(CSV_COLUMNS)}"
        )
    rows: dict[str, set[str]] = {}
    for row in reader:
        session_label = (row.get(columns["session_label"]) or "").strip()
        if session_label:
            rows.setdefault(session_label, set()).add((row.get(columns["class"]) or "").strip())
    result = ClassLabels(source=where)
    known = set()
    for session in sessions:
        known.add(session.label)
        given = rows.get(session.label)
        if given is None:
            result.unlabelled.append(Unlabelled(session.label, f"no row in {where}"))
            continue
        if len(given) > 1:
            disagree = f"rows in {where} disagree: {', '.join(sorted(given))}"
            result.unlabelled.append(Unlabelled(session.label, disagree))
            continue
        label, why = _class_or_reason(next(iter(given)))
        if label is None:
            result.unlabelled.append(Unlabelled(session.label, f"{where}: {why}"))
        else:
            result.labelled.append(LabelledSession(session, label))
    for session_label in sorted(set(rows) - known):
        result.unlabelled.append(
            Unlabelled(session_label, "a row for a session not in the project")
        )
    return result


def read_class_labels(client: XnatClient, project: str, source: LabelSource) -> ClassLabels:
    """The project's sessions with their classes, from `source`."""
    if source.field is not None:
        return labels_from_fields(list_sessions(client, project, with_fields=True), source.field)
    assert source.resource is not None and source.file is not None
    where = source.describe()
    uri = paths.resource_file(paths.project(project), source.resource, source.file)
    try:
        response = client.get(uri)
    except XnatNotFoundError:
        raise UserError(
            f"project {project} has no {where}: upload the CSV (session_label,class) there or "
            "name another with --label-csv"
        ) from None
    if len(response.content) > CSV_MAX_BYTES:
        raise UserError(
            f"{where} is larger than {CSV_MAX_BYTES // (1024 * 1024)} MB: not a label list"
        )
    try:
        text = response.content.decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{where} is not UTF-8 text: save it as UTF-8 CSV") from None
    return labels_from_csv(list_sessions(client, project), text, where)
