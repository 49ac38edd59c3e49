"""Catalogue rows as XNAT shows them: for each kind of object, its listing row (the columns its
list resource offers, `getDefaultFields` and the read-only shortcuts) and its stored values by
XML path, the ID, label and project among them (what `?format=json|xml` writes out)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from xnat_plugin.sandbox import xsi_types
from xnat_plugin.sandbox.listing_columns import Row

SUBJECT_TYPE = "xnat:subjectData"
PROJECT_TYPE = "xnat:projectData"

PROJECT_DEFAULTS = [
    "ID",
    "secondary_ID",
    "name",
    "description",
    "pi_firstname",
    "pi_lastname",
]
SUBJECT_DEFAULTS = ["ID", "project", "label", "insert_date", "insert_user"]
EXPERIMENT_DEFAULTS = ["ID", "project", "date", "xsiType", "label", "insert_date"]
ASSESSOR_DEFAULTS = [
    "ID",
    "project",
    "label",
    "date",
    "xsiType",
    "insert_date",
    "session_ID",
    "session_label",
]
SCAN_DEFAULTS = [
    "xnat_imagescandata_id",
    "ID",
    "type",
    "quality",
    "xsiType",
    "note",
    "series_description",
]
RECON_DEFAULTS = ["xnat_reconstructedimagedata_id", "ID", "type", "baseScanType"]


def experiment_defaults(root: str, site_wide: bool) -> list[str]:
    """`ExperimentListResource.getDefaultFields` (site-wide: the subject or session columns of
    the root type) or `SubjAssessmentAbst.getDefaultFields` (a project's experiments)."""
    if not site_wide:
        return list(EXPERIMENT_DEFAULTS)
    if xsi_types.derives_from(root, xsi_types.SUBJECT_ASSESSOR_BASE):
        return [*EXPERIMENT_DEFAULTS, "subject_ID", "subject_label"]
    if xsi_types.derives_from(root, xsi_types.ASSESSOR_BASE):
        return [*EXPERIMENT_DEFAULTS, "session_ID", "session_label"]
    return list(EXPERIMENT_DEFAULTS)


def stored(row: sqlite3.Row) -> dict[str, str]:
    return {k: "" if v is None else str(v) for k, v in json.loads(row["fields"] or "{}").items()}


def _meta(row: sqlite3.Row) -> dict[str, str]:
    keys = row.keys()
    return {
        "insert_date": row["insert_date"] if "insert_date" in keys else "",
        "insert_user": row["insert_user"] if "insert_user" in keys else "",
        "last_modified": (row["last_modified"] if "last_modified" in keys else None)
        or (row["insert_date"] if "insert_date" in keys else ""),
    }


def project_values(row: sqlite3.Row) -> dict[str, str]:
    values = stored(row)
    values.update(
        {
            "ID": row["id"],
            "secondary_ID": row["secondary_id"],
            "name": row["name"],
            "description": row["description"] or "",
        }
    )
    return {k: v for k, v in values.items() if v != ""}


def project_row(row: sqlite3.Row) -> Row:
    values = project_values(row)
    columns = {
        "ID": row["id"],
        "secondary_ID": row["secondary_id"],
        "name": row["name"],
        "description": row["description"] or "",
        "pi_firstname": values.get("PI/firstname", ""),
        "pi_lastname": values.get("PI/lastname", ""),
        "URI": f"/data/projects/{row['id']}",
        **_meta(row),
    }
    return Row(PROJECT_TYPE, columns, values)


def subject_values(row: sqlite3.Row) -> dict[str, str]:
    values = stored(row)
    values.update({"ID": row["id"], "project": row["project"], "label": row["label"]})
    return values


def subject_row(row: sqlite3.Row, project: str | None = None, label: str | None = None) -> Row:
    """A subject as listed in `project` (under its label there when shared into it)."""
    columns = {
        "ID": row["id"],
        "project": project or row["project"],
        "label": label or row["label"],
        "URI": f"/data/projects/{project or row['project']}/subjects/{row['id']}",
        **_meta(row),
    }
    return Row(SUBJECT_TYPE, columns, subject_values(row))


def experiment_values(row: sqlite3.Row) -> dict[str, str]:
    values = stored(row)
    values.update({"ID": row["id"], "project": row["project"], "label": row["label"]})
    if row["session_id"]:
        values["imageSession_ID"] = row["session_id"]
    else:
        values["subject_ID"] = row["subject_id"]
    return values


def experiment_row(
    row: sqlite3.Row,
    subject: sqlite3.Row | None,
    session: sqlite3.Row | None = None,
    project: str | None = None,
    label: str | None = None,
) -> Row:
    """An experiment as listed (in `project` under `label` when it is shared there)."""
    values = experiment_values(row)
    columns = {
        "ID": row["id"],
        "project": project or row["project"],
        "label": label or row["label"],
        "xsiType": row["xsi_type"],
        "date": values.get("date", ""),
        "URI": f"/data/experiments/{row['id']}",
        **_meta(row),
    }
    joined: dict[str, tuple[str, Any, Any]] = {}
    if subject is not None:
        columns.update(
            {
                "subject_ID": subject["id"],
                "subject_label": subject["label"],
                "subject_project": subject["project"],
            }
        )
        joined[SUBJECT_TYPE] = (SUBJECT_TYPE, {}, subject_values(subject))
    if session is not None:
        columns.update(
            {
                "session_ID": session["id"],
                "session_label": session["label"],
                "session_project": session["project"],
                "URI": f"/data/experiments/{session['id']}/assessors/{row['id']}",
            }
        )
    return Row(row["xsi_type"], columns, values, joined)


def scan_values(row: sqlite3.Row) -> dict[str, str]:
    values = stored(row)
    values.update({"ID": row["id"], "image_session_ID": row["experiment_id"]})
    return values


def scan_row(row: sqlite3.Row) -> Row:
    values = scan_values(row)
    columns = {
        "xnat_imagescandata_id": f"{row['experiment_id']}:{row['id']}",
        "ID": row["id"],
        "type": values.get("type", ""),
        "quality": values.get("quality", ""),
        "xsiType": row["xsi_type"],
        "note": values.get("note", ""),
        "series_description": values.get("series_description", ""),
        "image_session_ID": row["experiment_id"],
        "URI": f"/data/experiments/{row['experiment_id']}/scans/{row['id']}",
    }
    return Row(row["xsi_type"], columns, values)
