"""Image sessions (subject assessors): list, create or edit (PUT), read, delete
(`SubjAssessmentResource`, `ExperimentResource`, `ExperimentListResource`).

An experiment keeps the ID a client gives it and gets a generated one only when none is given.
Its subject is the one the URL names, else `subject_ID` (an ID, or a label in the project); a
subject that does not exist yet is created with that label (`createNewSubject`).
"""

from __future__ import annotations

import copy
import json
import logging
import xml.etree.ElementTree as ET
from typing import Any

from fastapi import HTTPException, Response

from xnat_plugin.sandbox import (
    archive,
    archive_changes,
    catalog,
    events,
    identifiers,
    listing_columns,
    object_views,
    object_xml,
    xsi_types,
)
from xnat_plugin.sandbox.call import Call
from xnat_plugin.sandbox.listing import put_answer, result_set
from xnat_plugin.sandbox.object_document import XNAT_NS, document_values, write_document
from xnat_plugin.sandbox.resolve import Resolved
from xnat_plugin.sandbox.routes_subjects import create_subject, wanted_id
from xnat_plugin.sandbox.safe_paths import check_xnat_id
from xnat_plugin.sandbox.xml_validation import (
    XSI,
    InvalidXml,
    UnknownElement,
    parse_document,
    schema_order,
    validate,
)

log = logging.getLogger(__name__)


def experiment_uri(row: Any) -> str:
    return f"/data/experiments/{row['id']}"


def list_experiments(call: Call, found: Resolved) -> Response:
    """`/data/experiments` (`ExperimentListResource`, every experiment) and a project's or
    subject's experiments (`ProjSubExptList`, subject assessors), filtered to the root type."""
    listing_root = (
        "xnat:experimentData" if found.project is None else xsi_types.SUBJECT_ASSESSOR_BASE
    )
    root = listing_columns.root_type(call.query, listing_root)
    sql = "SELECT * FROM experiments"
    params: tuple[str, ...] = ()
    if found.subject is not None and call.path.project is not None:
        # a subject's experiments in the project of the path: its own there and those shared
        # into it (`ProjSubExptList`), not the subject's experiments in other projects
        project_id = found.project["id"] if found.project is not None else call.path.project
        sql = (
            "SELECT * FROM experiments WHERE subject_id = ? AND session_id IS NULL "
            "AND project = ? UNION ALL "
            "SELECT e.id, ?, e.subject_id, sh.label, e.xsi_type, e.session_id, e.fields, e.xml, "
            "e.insert_date, e.insert_user, e.last_modified FROM experiments e JOIN shares sh "
            "ON sh.kind = 'experiment' AND sh.id = e.id WHERE e.subject_id = ? AND sh.project = ?"
        )
        params = (found.subject["id"], project_id, project_id, found.subject["id"], project_id)
    elif found.subject is not None:
        sql, params = (
            sql + " WHERE subject_id = ? AND session_id IS NULL",
            (found.subject["id"],),
        )
    elif found.project is not None:
        # the project's experiments and those shared into it (under their label there)
        sql = (
            "SELECT * FROM experiments WHERE project = ? UNION ALL "
            "SELECT e.id, ?, e.subject_id, sh.label, e.xsi_type, e.session_id, e.fields, e.xml, "
            "e.insert_date, e.insert_user, e.last_modified FROM experiments e JOIN shares sh "
            "ON sh.kind = 'experiment' AND sh.id = e.id WHERE sh.project = ?"
        )
        params = (found.project["id"],) * 3
    subjects: dict[str, Any] = {}
    sessions: dict[str, Any] = {}
    rows = []
    for row in call.db.query(sql + " ORDER BY id", params):
        if not xsi_types.derives_from(row["xsi_type"], root) or not call.user.can_read(
            row["project"]
        ):
            continue
        if row["subject_id"] not in subjects:
            subjects[row["subject_id"]] = catalog.get_subject(call.db, None, row["subject_id"])
        session = None
        if row["session_id"]:
            session = sessions.get(row["session_id"]) or catalog.get_experiment(
                call.db, None, row["session_id"]
            )
            sessions[row["session_id"]] = session
        rows.append(object_views.experiment_row(row, subjects[row["subject_id"]], session))
    defaults = object_views.experiment_defaults(root, found.project is None)
    rows = _with_children(call, rows)
    table = listing_columns.table(rows, "experiment", defaults, call.query)
    return result_set(table, call.fmt, "Experiments")


# A session's children a listing may join (`xnat:mrSessionData/scans/scan/type`).
_CHILD_PATHS = ("scans/scan/", "assessors/assessor/", "reconstructions/reconstructedImage/")


def _with_children(call: Call, rows: list[listing_columns.Row]) -> list[listing_columns.Row]:
    """`QueryOrganizer` joins the child items a column or filter names: one row per session
    and child (a session without any: one row, the child's columns empty)."""
    keys = [*call.query, *call.query.get("columns", "").split(",")]
    wanted = {
        prefix for key in keys for prefix in _CHILD_PATHS if f"/{prefix.lower()}" in key.lower()
    }
    for prefix in sorted(wanted):
        expanded = []
        for row in rows:
            children = _children(call, row, prefix) if "ID" in row.columns else []
            for child in children or [{}]:
                values = {**row.values, **{f"{prefix}{k}": v for k, v in child.items()}}
                expanded.append(listing_columns.Row(row.xsi_type, row.columns, values, row.joined))
        rows = expanded
    return rows


def _children(call: Call, row: listing_columns.Row, prefix: str) -> list[dict[str, str]]:
    session_id = row.columns["ID"]
    if prefix == "scans/scan/":
        scans = call.db.query("SELECT * FROM scans WHERE experiment_id = ?", (session_id,))
        return [object_views.scan_values(r) for r in scans]
    if prefix == "assessors/assessor/":
        assessors = call.db.query(
            "SELECT * FROM experiments WHERE session_id = ? ORDER BY id", (session_id,)
        )
        return [object_views.experiment_values(r) for r in assessors]
    recons = call.db.query(
        "SELECT * FROM reconstructions WHERE experiment_id = ? ORDER BY id", (session_id,)
    )
    return [{**object_views.stored(r), "ID": r["id"]} for r in recons]


def requested_type(call: Call) -> str | None:
    """The data type a PUT names: `xsiType`, else the type of the first `type/path` field
    (`SecureResource.loadItem`)."""
    if call.query.get("xsiType"):
        return call.query["xsiType"]
    for key in call.query:
        if ":" in key and "/" in key:
            return key.split("/", 1)[0]
    return None


def put_experiment(call: Call, found: Resolved) -> Response:
    if found.project is None:
        raise HTTPException(422, "Submitted experiment record must include the project attribute.")
    project_id = found.project["id"]
    from_document = _document_fields(call, project_id)
    xsi_type: str | None
    if from_document is not None:
        xsi_type, fields = from_document
    else:
        xsi_type = requested_type(call) or (
            found.experiment["xsi_type"] if found.experiment else None
        )
        fields = call.values_for("experiment", xsi_type) if xsi_type else {}
    fields.pop("project", None)
    # shares are made through `…/projects/P2`, not stored as values (routes_shares.py)
    fields = {k: v for k, v in fields.items() if not k.startswith("sharing/")}
    chosen = wanted_id(fields)
    existing = found.experiment
    if existing is None and chosen:
        existing = catalog.get_experiment(call.db, None, chosen)
    if existing is not None:
        if existing["project"] != project_id:
            raise HTTPException(409, "Project must be modified through separate URI.")
        return _update_experiment(call, existing, chosen, fields)
    if xsi_type is None:
        raise HTTPException(417, "Need PUT Contents")
    if not xsi_types.is_session_type(xsi_type):
        raise HTTPException(
            422,
            f"{xsi_type} is not an image session type this XNAT knows: "
            f"{', '.join(xsi_types.session_types())}",
        )
    subject_ref = fields.pop("subject_ID", None) or call.path.subject
    label = check_xnat_id("experiment", fields.pop("label", "") or call.path.experiment or "")
    with call.db.write() as conn:
        subject = found.subject or (
            catalog.get_subject(call.db, None, subject_ref)
            or catalog.get_subject(call.db, project_id, subject_ref)
            if subject_ref
            else None
        )
        if subject is None and subject_ref:
            subject_id = create_subject(conn, project_id, subject_ref, None, {}, call.user.login)
            log.info("created subject %s (%s) for %s", subject_ref, subject_id, label)
        elif subject is None:
            raise HTTPException(422, "Submitted experiment record must include the subject.")
        else:
            subject_id = subject["id"]
        if chosen:
            check_xnat_id("experiment", chosen)
            identifiers.claim(conn, "experiment", chosen)
            experiment_id = chosen
        else:
            experiment_id = identifiers.generate(conn, "experiment")
        conn.execute(
            "INSERT INTO experiments (id, project, subject_id, label, xsi_type, fields, "
            "insert_date, insert_user) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                experiment_id,
                project_id,
                subject_id,
                label,
                xsi_type,
                json.dumps(fields),
                catalog.now_text(),
                call.user.login,
            ),
        )
    log.info("created %s %s (%s) in %s", xsi_type, label, experiment_id, project_id)
    events.publish(events.session_created(project_id, experiment_id, xsi_type, call.user.login))
    return put_answer(experiment_id, True)


# The document's own identity: the row's columns, not its values.
_DOCUMENT_IDENTITY = ("project",)


def _document_fields(call: Call, project_id: str) -> tuple[str, dict[str, str]] | None:
    """The type and values of a session document sent as the body (`SubjAssessmentResource.
    handlePut` reads the body as the item when there is one): label and project come from the
    URL when the document has none, so is the subject; a document of another project is 409;
    the document is then validated as XNAT would store it. None when the body is empty."""
    data = call.body_bytes()
    if not data.strip():
        return None
    try:
        document = parse_document(data)
    except InvalidXml as exc:
        raise HTTPException(422, f"An error occurred parsing the XML: {exc}") from exc
    root, xsi_type = document.root, document.xsi_type
    if not xsi_type or not xsi_types.is_session_type(xsi_type):
        raise HTTPException(
            422,
            f"{xsi_type or root.tag} is not an image session type this XNAT knows: "
            f"{', '.join(xsi_types.session_types())}",
        )
    if root.get("project") and root.get("project") != project_id:
        raise HTTPException(409, "Project must be modified through separate URI.")
    root.set("project", project_id)
    if not root.get("label") and call.path.experiment:
        root.set("label", call.path.experiment)
    subject_tag = f"{{{XNAT_NS}}}subject_ID"
    if root.find(subject_tag) is None and call.path.subject:
        # the subject the URL names (created when missing, as `createNewSubject`)
        ET.SubElement(root, subject_tag).text = call.path.subject
    schema_order(root)
    checked = copy.deepcopy(root)
    if not checked.get("ID"):
        # XNAT generates a missing ID before it validates; any generated ID gets the same
        # verdict (an xs:string attribute), the real one is drawn when the row is written
        checked.set("ID", f"{identifiers.SITE_ID}_E00000")
    try:
        validate(checked, document.namespaces)
    except UnknownElement as exc:
        raise HTTPException(422, str(exc)) from exc
    except InvalidXml as exc:
        raise HTTPException(400, str(exc)) from exc
    values = document_values(xsi_type, root)
    return xsi_type, {k: v for k, v in values.items() if k not in _DOCUMENT_IDENTITY}


def _update_experiment(
    call: Call, existing: Any, chosen: str | None, fields: dict[str, str]
) -> Response:
    if chosen and chosen != existing["id"]:
        raise HTTPException(400, "ID cannot be modified")
    label = fields.pop("label", None)
    if label:
        check_xnat_id("experiment", label)
    subject_ref = fields.pop("subject_ID", None)
    with call.db.write() as conn:
        if label and label != existing["label"]:
            clash = conn.execute(
                "SELECT 1 FROM experiments WHERE project = ? AND label = ?",
                (existing["project"], label),
            ).fetchone()
            if clash is not None:
                raise HTTPException(409, "Specified label is already in use.")
            archive.move_object_folder(call.db, conn, call.data_dir, _placed(call, existing), label)
            conn.execute("UPDATE experiments SET label = ? WHERE id = ?", (label, existing["id"]))
        if subject_ref and subject_ref != existing["subject_id"]:
            subject = catalog.get_subject(call.db, existing["project"], subject_ref)
            subject_id = (
                subject["id"]
                if subject is not None
                else create_subject(
                    conn, existing["project"], subject_ref, None, {}, call.user.login
                )
            )
            conn.execute(
                "UPDATE experiments SET subject_id = ? WHERE id = ?",
                (subject_id, existing["id"]),
            )
        catalog.update_fields(conn, "experiments", {"id": existing["id"]}, fields)
    return put_answer(existing["id"], False)


def _placed(call: Call, row: Any) -> Resolved:
    """Where the session (or an assessor, reached by its ID) `row` sits, for its folder."""
    project = catalog.get_project(call.db, row["project"])
    if row["session_id"]:
        session = catalog.get_experiment(call.db, None, row["session_id"])
        return Resolved(path=call.path, project=project, experiment=session, assessor=row)
    return Resolved(path=call.path, project=project, experiment=row)


def get_experiment(call: Call, found: Resolved) -> Response:
    assert found.experiment is not None
    row = found.experiment
    extra = {}
    if (call.fmt or "").lower() == "xml":
        extra["scans"] = [_scan_element(scan) for scan in _scans_of(call, row["id"])]
    return object_xml.object_response(
        call.query,
        row["xsi_type"],
        {
            **object_views.experiment_values(row),
            **catalog.share_values(call.db, "experiment", row["id"]),
        },
        start_date=row["insert_date"],
        extra=extra,
    )


def _scans_of(call: Call, session_id: str) -> list[Any]:
    rows = call.db.query("SELECT * FROM scans WHERE experiment_id = ?", (session_id,))
    return sorted(rows, key=lambda r: (len(r["id"]), r["id"]))


def _scan_element(scan: Any) -> ET.Element:
    """A scan inside its session's document: `<xnat:scan xsi:type="…">`."""
    element = write_document(scan["xsi_type"], object_views.scan_values(scan))
    element.tag = f"{{{XNAT_NS}}}scan"
    element.set(f"{{{XSI}}}type", scan["xsi_type"])
    return element


def delete_experiment(call: Call, found: Resolved) -> Response:
    assert found.experiment is not None and found.project is not None
    session_id = found.experiment["id"]
    folder = archive.object_directory(
        call.data_dir,
        Resolved(path=found.path, project=found.project, experiment=found.experiment),
    )
    with call.db.write() as conn:
        conn.execute(
            "DELETE FROM experiments WHERE id = ? OR session_id = ?",
            (session_id, session_id),
        )
        catalog.purge_orphans(conn)
        archive_changes.discard_from_archive(call.db, call.data_dir, folder)
    return Response(status_code=200)
