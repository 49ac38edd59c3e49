"""Reconstructions of an image session (`xnat:reconstructedImageData`, the session's
`reconstructions/reconstructedImage`): `ReconList` lists them with its default fields
(`xnat_reconstructedimagedata_id`, ID, type, baseScanType), `ReconResource` creates, reads and
deletes one. The sandbox keeps their values; it stores no files for them (a path below a
reconstruction is 404)."""

from __future__ import annotations

import json

from fastapi import HTTPException, Response

from xnat_plugin.sandbox import catalog, listing_columns, object_xml, xsi_types
from xnat_plugin.sandbox.call import Call
from xnat_plugin.sandbox.listing import put_answer, result_set
from xnat_plugin.sandbox.listing_columns import Row
from xnat_plugin.sandbox.object_views import RECON_DEFAULTS, stored
from xnat_plugin.sandbox.resolve import Resolved
from xnat_plugin.sandbox.safe_paths import check_xnat_id

RECON_TYPE = "xnat:reconstructedImageData"


def _values(row: object) -> dict[str, str]:
    values = stored(row)  # type: ignore[arg-type]
    values["ID"] = row["id"]  # type: ignore[index]
    return values


def _row(row: object) -> Row:
    values = _values(row)
    experiment, recon = row["experiment_id"], row["id"]  # type: ignore[index]
    columns = {
        "xnat_reconstructedimagedata_id": f"{experiment}:{recon}",
        "ID": recon,
        "type": values.get("type", ""),
        "baseScanType": values.get("baseScanType", ""),
        "xsiType": row["xsi_type"],  # type: ignore[index]
        "URI": f"/data/experiments/{experiment}/reconstructions/{recon}",
    }
    return Row(row["xsi_type"], columns, values)  # type: ignore[index]


def list_reconstructions(call: Call, found: Resolved) -> Response:
    assert found.experiment is not None
    rows = call.db.query(
        "SELECT * FROM reconstructions WHERE experiment_id = ? ORDER BY id",
        (found.experiment["id"],),
    )
    table = listing_columns.table(
        [_row(r) for r in rows], "reconstruction", RECON_DEFAULTS, call.query
    )
    return result_set(table, call.fmt, "Reconstructions")


def put_reconstruction(call: Call, found: Resolved) -> Response:
    assert found.experiment is not None
    if not xsi_types.derives_from(found.experiment["xsi_type"], "xnat:imageSessionData"):
        raise HTTPException(404, "reconstructions belong to image sessions")
    xsi_type = call.query.get("xsiType") or (
        found.reconstruction["xsi_type"] if found.reconstruction is not None else RECON_TYPE
    )
    if not xsi_types.derives_from(xsi_type, RECON_TYPE):
        raise HTTPException(400, f"xsiType {xsi_type!r} is not a reconstruction type")
    fields = call.values_for("reconstruction", xsi_type)
    fields.pop("ID", None)
    key = {"experiment_id": found.experiment["id"]}
    if found.reconstruction is not None:
        with call.db.write() as conn:
            catalog.update_fields(
                conn, "reconstructions", {**key, "id": found.reconstruction["id"]}, fields
            )
            catalog.touch(conn, "experiments", found.experiment["id"])
        return put_answer(found.reconstruction["id"], False)
    recon_id = check_xnat_id("scan", call.path.reconstruction or "")
    with call.db.write() as conn:
        conn.execute(
            "INSERT INTO reconstructions (experiment_id, id, xsi_type, fields) VALUES (?, ?, ?, ?)",
            (found.experiment["id"], recon_id, xsi_type, json.dumps(fields)),
        )
        catalog.touch(conn, "experiments", found.experiment["id"])
    return put_answer(recon_id, True)


def get_reconstruction(call: Call, found: Resolved) -> Response:
    assert found.reconstruction is not None
    return object_xml.object_response(
        call.query, found.reconstruction["xsi_type"], _values(found.reconstruction)
    )


def delete_reconstruction(call: Call, found: Resolved) -> Response:
    assert found.reconstruction is not None and found.experiment is not None
    with call.db.write() as conn:
        conn.execute(
            "DELETE FROM reconstructions WHERE experiment_id = ? AND id = ?",
            (found.experiment["id"], found.reconstruction["id"]),
        )
        catalog.touch(conn, "experiments", found.experiment["id"])
    return Response(status_code=200)
