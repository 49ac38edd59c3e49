"""Each session's class from XNAT (`containers/common/class_labels.py`): a custom session field
or a `session_label,class` CSV in a project resource; sessions without a usable class listed
with the reason; too few subjects per class for the folds refused with one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from containers.common.class_labels import (
    ClassLabels,
    LabelSource,
    label_source,
    labels_from_csv,
    labels_from_fields,
    read_class_labels,
)
from xnat_plugin.client import paths
from xnat_plugin.client.browse import SessionInfo
from xnat_plugin.client.connection import connect
from xnat_plugin.client.objects import create_session, ensure_project, ensure_subject
from xnat_plugin.client.transfer import ensure_resource, upload_file
from xnat_plugin.errors import UserError


def session(n: int, subject: int | None = None, **fields: str) -> SessionInfo:
    subject_label = f"SUBJ{subject or n:03d}"
    return SessionInfo(
        id=f"E{n}",
        label=f"SUBJ{n:03d}_CT1",
        project="P",
        xsi_type="xnat:ctSessionData",
        subject_label=subject_label,
        fields=fields,
    )


def test_classes_come_from_a_session_field_in_any_case_and_unusable_ones_are_listed():
    sessions = [
        session(1, diagnosis="lesion"),
        session(2, Diagnosis="none"),  # XNAT keeps field names in lower case; match any
        session(3),
        session(4, diagnosis="  "),
        session(5, diagnosis="../../etc"),
        session(6, diagnosis="lesion", site="A"),
    ]
    labels = labels_from_fields(sessions, "diagnosis")
    assert [(e.session.label, e.label) for e in labels.labelled] == [
        ("SUBJ001_CT1", "lesion"),
        ("SUBJ002_CT1", "none"),
        ("SUBJ006_CT1", "lesion"),
    ]
    assert labels.classes == ["lesion", "none"]
    assert labels.sessions_per_class() == {"lesion": 2, "none": 1}
    reasons = {e.session_label: e.reason for e in labels.unlabelled}
    assert reasons["SUBJ003_CT1"] == "no field 'diagnosis'"
    assert reasons["SUBJ004_CT1"] == "field 'diagnosis': empty class"
    assert reasons["SUBJ005_CT1"].startswith("field 'diagnosis': class name not allowed")
    assert labels.unlabelled_lines()[0] == "left out (no field 'diagnosis'): SUBJ003_CT1"
    assert labels.summary() == "lesion 2, none 1; 3 left out"


def test_classes_come_from_a_csv_with_rows_that_disagree_or_name_no_session_listed():
    sessions = [session(n) for n in range(1, 6)]
    text = (
        "\ufeffSession_Label , Class,reader\n"  # a BOM, other case, spaces, an extra column
        "SUBJ001_CT1,present,r1\n"
        "SUBJ002_CT1,absent,r1\n"
        "SUBJ003_CT1,absent,r1\n"
        "SUBJ003_CT1,present,r2\n"
        "SUBJ004_CT1,,r1\n"
        "SUBJ009_CT1,present,r1\n"
        "SUBJ002_CT1,absent,r2\n"  # the same class twice is not a disagreement
    )
    labels = labels_from_csv(sessions, text, "project resource LABELS/classes.csv")
    assert {e.session.label: e.label for e in labels.labelled} == {
        "SUBJ001_CT1": "present",
        "SUBJ002_CT1": "absent",
    }
    reasons = {e.session_label: e.reason for e in labels.unlabelled}
    assert reasons == {
        "SUBJ003_CT1": "rows in project resource LABELS/classes.csv disagree: absent, present",
        "SUBJ004_CT1": "project resource LABELS/classes.csv: empty class",
        "SUBJ005_CT1": "no row in project resource LABELS/classes.csv",
        "SUBJ009_CT1": "a row for a session not in the project",
    }


def test_a_csv_without_the_named_columns_is_refused_with_one_line():
    with pytest.raises(UserError) as refused:
        labels_from_csv([session(1)], "session,diagnosis\nSUBJ001_CT1,x\n", "LABELS/c.csv")
    message = str(refused.value)
    assert message.startswith("LABELS/c.csv has no column session_label, class in its first row")
    assert "\n" not in message


def _labelled(counts: dict[str, int]) -> ClassLabels:
    sessions, n = [], 0
    for name, count in counts.items():
        for _ in range(count):
            n += 1
            sessions.append(session(n, diagnosis=name))
    return labels_from_fields(sessions, "diagnosis")


def test_a_class_with_too_few_subjects_for_the_folds_is_refused_with_one_line():
    labels = _labelled({"absent": 6, "present": 3})
    labels.check_folds(3)
    with pytest.raises(UserError) as refused:
        labels.check_folds(5)
    assert str(refused.value) == (
        "class 'present' has 3 subject(s) in session field 'diagnosis' and --folds 5 needs at "
        "least 5 per class: label more sessions of 'present' or lower --folds"
    )
    # one held-out split still needs a subject to learn from and one to judge
    with pytest.raises(UserError, match="class 'present' has 1 subject"):
        _labelled({"absent": 4, "present": 1}).check_folds(1)


def test_sessions_of_one_subject_count_once_and_must_share_a_class():
    two_sessions_one_subject = labels_from_fields(
        [
            session(1, subject=1, diagnosis="present"),
            session(2, subject=1, diagnosis="present"),
            session(3, diagnosis="present"),
            session(4, diagnosis="absent"),
            session(5, diagnosis="absent"),
        ],
        "diagnosis",
    )
    assert two_sessions_one_subject.subjects_per_class() == {"absent": 2, "present": 2}
    two_sessions_one_subject.check_folds(2)
    mixed = labels_from_fields(
        [session(1, subject=1, diagnosis="present"), session(2, subject=1, diagnosis="absent")],
        "diagnosis",
    )
    with pytest.raises(UserError, match="subject SUBJ001 has sessions of classes absent, present"):
        mixed.check_folds(1)


@pytest.mark.parametrize(
    ("counts", "found"),
    [({}, "no labelled session"), ({"present": 9}, "only 'present'")],
)
def test_fewer_than_two_classes_is_refused(counts: dict[str, int], found: str):
    with pytest.raises(UserError, match=f"at least 2 classes .* found {found}"):
        _labelled(counts).check_folds(1)


@pytest.mark.parametrize(
    ("field", "csv_file", "refusal"),
    [
        (None, None, "exactly one of --label-field"),
        ("diagnosis", "LABELS/c.csv", "exactly one of --label-field"),
        ("diag nosis", None, "is not a field name"),
        (None, "c.csv", "must be RESOURCE/FILE.csv"),
        (None, "LABELS/../x.csv", "must be RESOURCE/FILE.csv"),
        (None, "../LABELS/x.csv", "must be RESOURCE/FILE.csv"),
        (None, "LABELS/.hidden.csv", "must be RESOURCE/FILE.csv"),
        (None, "LABELS/classes.txt", "must be RESOURCE/FILE.csv"),
    ],
)
def test_the_label_options_are_checked_before_any_request(
    field: str | None, csv_file: str | None, refusal: str
):
    with pytest.raises(UserError, match=refusal):
        label_source(field, csv_file)


def test_the_label_options_name_their_source():
    assert label_source("Diagnosis", None) == LabelSource(field="diagnosis")
    assert label_source(None, "LABELS/2026/classes.csv") == LabelSource(
        resource="LABELS", file="2026/classes.csv"
    )


def test_classes_are_read_from_xnat_by_field_and_by_project_csv(sandbox, tmp_path: Path):
    """Fields sent as XNAT's REST API takes them (`…/fields/field[name=…]/field`) and read back
    from the session's `children`; the CSV read from the project resource's file URI."""
    client = connect(sandbox.url, "admin", "admin")  # type: ignore[attr-defined]
    with client:
        ensure_project(client, "CLS")
        for n, diagnosis in enumerate(["present", "absent", "present", None], start=1):
            ensure_subject(client, "CLS", f"SUBJ{n:03d}")
            fields = {"site": "A"} | ({"diagnosis": diagnosis} if diagnosis else {})
            create_session(client, "CLS", f"SUBJ{n:03d}", f"SUBJ{n:03d}_CT1", fields=fields)
        by_field = read_class_labels(client, "CLS", label_source("diagnosis", None))
        assert sorted((e.session.label, e.label) for e in by_field.labelled) == [
            ("SUBJ001_CT1", "present"),
            ("SUBJ002_CT1", "absent"),
            ("SUBJ003_CT1", "present"),
        ]
        assert [(e.session_label, e.reason) for e in by_field.unlabelled] == [
            ("SUBJ004_CT1", "no field 'diagnosis'")
        ]

        source = label_source(None, "LABELS/classes.csv")
        with pytest.raises(UserError, match="project CLS has no project resource LABELS/classes"):
            read_class_labels(client, "CLS", source)
        table = tmp_path / "classes.csv"
        table.write_text("session_label,class\nSUBJ004_CT1,absent\nSUBJ001_CT1,present\n")
        ensure_resource(client, paths.project("CLS"), "LABELS")
        upload_file(client, paths.project("CLS"), "LABELS", "classes.csv", table)
        by_csv = read_class_labels(client, "CLS", source)
        assert sorted((e.session.label, e.label) for e in by_csv.labelled) == [
            ("SUBJ001_CT1", "present"),
            ("SUBJ004_CT1", "absent"),
        ]
        assert len(by_csv.unlabelled) == 2
