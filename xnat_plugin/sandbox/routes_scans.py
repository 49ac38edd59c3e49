"""Scans of an image session: list, create or edit (PUT), read, delete (`ScanResource`)."""

from __future__ import annotations

import json

from fastapi import HTTPException, Response

from xnat_plugin.sandbox import (
    archive,
    archive_changes,
    catalog,
    listing_columns,
    object_views,
    object_xml,
    xsi_types,
)
from xnat_plugin.sandbox.call import Call
from xnat_plugin.sandbox.listing import put_answer, result_set
from xnat_plugin.sandbox.resolve import Resolved
from xnat_plugin.sandbox.safe_paths import check_xnat_id


def list_scans(call: Call, found: Resolved) -> Response:
    assert found.experiment is not None
    rows = call.db.query("SELECT * FROM scans WHERE experiment_id = ?", (found.experiment["id"],))
    listed = [object_views.scan_row(r) for r in sorted(rows, key=lambda r: (len(r["id"]), r["id"]))]
    table = listing_columns.table(listed, "scan", object_views.SCAN_DEFAULTS, call.query)
    return result_set(table, call.fmt, "Scans")


def put_scan(call: Call, found: Resolved) -> Response:
    assert found.experiment is not None
    xsi_type = call.query.get("xsiType") or (
        found.scan["xsi_type"] if found.scan is not None else "xnat:imageScanData"
    )
    if not xsi_types.known(xsi_type):
        raise HTTPException(
            400,
            f"xsiType {xsi_type!r} is not a scan type this XNAT knows: "
            f"{', '.join(xsi_types.scan_types())}",
        )
    fields = call.values_for("scan", xsi_type)
    # XNAT (ScanResource.handlePut): the scan's ID is the one the document or the
    # item fields give (`xnat:ctScanData/ID=1`), else the one in the URL; an
    # existing scan is found by the URL's ID.
    given_id = fields.pop("ID", None)
    if call.query.get("type") is not None:
        fields["type"] = call.query["type"]
    if found.scan is not None:
        with call.db.write() as conn:
            catalog.update_fields(
                conn,
                "scans",
                {"experiment_id": found.experiment["id"], "id": found.scan["id"]},
                fields,
            )
        return put_answer(found.scan["id"], False)
    if not xsi_types.is_scan_type(xsi_type):
        raise HTTPException(
            400,
            f"xsiType {xsi_type!r} is not a scan type this XNAT knows: "
            f"{', '.join(xsi_types.scan_types())}",
        )
    if xsi_type == "xnat:imageScanData":
        raise HTTPException(
            400,
            "Multiple scan modalities can be associated here.  Please retry with the "
            "specification of a particular modality (i.e. ?xsiType=xnat:mrScanData).",
        )
    scan_id = check_xnat_id("scan", str(given_id or call.path.scan or ""))
    if call.db.query(
        "SELECT 1 FROM scans WHERE experiment_id = ? AND id = ?",
        (found.experiment["id"], scan_id),
    ):
        # the document named a scan the session already holds: XNAT edits that one
        with call.db.write() as conn:
            catalog.update_fields(
                conn, "scans", {"experiment_id": found.experiment["id"], "id": scan_id}, fields
            )
        return put_answer(scan_id, False)
    with call.db.write() as conn:
        conn.execute(
            "INSERT INTO scans (experiment_id, id, xsi_type, fields) VALUES (?, ?, ?, ?)",
            (found.experiment["id"], scan_id, xsi_type, json.dumps(fields)),
        )
    return put_answer(scan_id, True)


def get_scan(call: Call, found: Resolved) -> Response:
    assert found.scan is not None
    return object_xml.object_response(
        call.query, found.scan["xsi_type"], object_views.scan_values(found.scan)
    )


def delete_scan(call: Call, found: Resolved) -> Response:
    assert found.scan is not None and found.experiment is not None
    folder = archive.object_directory(call.data_dir, found)
    with call.db.write() as conn:
        conn.execute(
            "DELETE FROM scans WHERE experiment_id = ? AND id = ?",
            (found.experiment["id"], found.scan["id"]),
        )
        catalog.purge_orphans(conn)
        archive_changes.discard_from_archive(call.db, call.data_dir, folder)
    return Response(status_code=200)
