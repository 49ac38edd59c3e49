"""Scans of an image session: list, create or edit (PUT), read, delete (`ScanResource`)."""

from __future__ import annotations

import json

from fastapi import HTTPException, Response

from xnat_plugin.sandbox import archive, archive_changes, catalog, object_xml, xsi_types
from xnat_plugin.sandbox.call import Call
from xnat_plugin.sandbox.listing import item_response, put_answer, result_set
from xnat_plugin.sandbox.resolve import Resolved
from xnat_plugin.sandbox.safe_paths import check_xnat_id


def list_scans(call: Call, found: Resolved) -> Response:
    assert found.experiment is not None
    rows = call.db.query("SELECT * FROM scans WHERE experiment_id = ?", (found.experiment["id"],))
    base = f"/data/experiments/{found.experiment['id']}/scans"
    listing = [
        {**catalog.scan_row_json(r), "URI": f"{base}/{r['id']}"}
        for r in sorted(rows, key=lambda r: (len(r["id"]), r["id"]))
    ]
    return result_set(listing, call.fmt, "Scans", call.query)


def put_scan(call: Call, found: Resolved) -> Response:
    assert found.experiment is not None
    xsi_type = call.query.get("xsiType") or (
        found.scan["xsi_type"] if found.scan is not None else "xnat:imageScanData"
    )
    fields = call.fields_for(xsi_type, "xnat:imageScanData")
    fields.pop("ID", None)
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
    scan_id = check_xnat_id("scan", call.path.scan or "")
    with call.db.write() as conn:
        conn.execute(
            "INSERT INTO scans (experiment_id, id, xsi_type, fields) VALUES (?, ?, ?, ?)",
            (found.experiment["id"], scan_id, xsi_type, json.dumps(fields)),
        )
    return put_answer(scan_id, True)


def get_scan(call: Call, found: Resolved) -> Response:
    assert found.scan is not None
    data = catalog.scan_row_json(found.scan)
    data.pop("xsiType", None)
    if call.fmt == "xml":
        return object_xml.response(found.scan["xsi_type"], data)
    return item_response(found.scan["xsi_type"], data)


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
