"""An assessor's files sit where XNAT writes them, whichever way they arrived.

Read in the sources:
- a resource made over REST (`…/assessors/A/resources/R/files/…`) goes to
  `ASSESSORS/<assessor ID>/R/`: xnat-web `DirectAssessResourceImpl.buildDestinationPath`
  (`ASSESSORS/" + expt.getId()`);
- Container Service uploads an output in-process: `ContainerFinalizeServiceImpl` (finalizing a
  `Resource` output handler) calls `CatalogService.insertResources`, and
  `DefaultCatalogService.insertExperimentResourceCatalog` writes an image assessor's resource
  under `ASSESSORS/<experiment.getArchiveDirectoryName()>/R/`, the assessor's label; CS's
  `Assessor` model mounts that same folder;
- `org.nrg.xnat.archive.Rename` moves the label folder with a new label; the ID folder keeps
  its name.
The catalogue lists every file where it is, so `archive_disagreements` stays empty through
upload, rename and delete.
"""

from __future__ import annotations

from pathlib import Path

import requests

from tests.container_service.sandbox_data import (
    TINY_WRAPPER,
    add_ct_session,
    installed_admin,
    make_project,
    rest,
)
from tests.sandbox.served import archive_disagreements
from xnat_plugin.admin import launch, wait_for_launches
from xnat_plugin.sandbox import archive
from xnat_plugin.sandbox.container_service import uploads


def _assessor(http: requests.Session, url: str, session_id: str) -> tuple[str, str]:
    rows = http.get(
        f"{url}/data/experiments/{session_id}/assessors", params={"format": "json"}, timeout=30
    ).json()["ResultSet"]["Result"]
    [row] = rows
    return row["ID"], row["label"]


def _files_on_disk(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_rest_uploads_go_to_the_id_folder_container_service_outputs_to_the_label_folder(
    sandbox, tmp_path: Path
) -> None:
    make_project(sandbox, "LIVER")
    session_id = add_ct_session(sandbox, "LIVER", 1)
    xapi = installed_admin(sandbox, tmp_path, ["LIVER"])
    launched = launch(xapi, "LIVER", TINY_WRAPPER, f"/experiments/{session_id}")
    [done] = wait_for_launches(xapi, [launched], timeout=120, show_progress=False)
    xapi.close()
    assert done.status == "Complete"
    assessors = (
        Path(sandbox.data_dir) / "archive" / "LIVER" / "arc001" / "SUBJ001_CT1" / "ASSESSORS"
    )
    with rest(sandbox) as http:
        assessor_id, label = _assessor(http, sandbox.url, session_id)
        assert assessor_id != label
        # Container Service's upload (ContainerFinalizeServiceImpl → insertResources): label folder
        assert _files_on_disk(assessors) == [f"{label}/QC/result.txt"]
        # a client's REST upload (DirectAssessResourceImpl): ID folder
        notes = f"{sandbox.url}/data/experiments/{session_id}/assessors/{assessor_id}/resources"
        put = http.put(f"{notes}/NOTES/files/note.txt", data=b"by hand", timeout=30)
        assert put.status_code in (200, 201), put.text
        assert _files_on_disk(assessors) == sorted(
            [f"{assessor_id}/NOTES/note.txt", f"{label}/QC/result.txt"]
        )
        assert archive_disagreements(Path(sandbox.data_dir)) == []
        # the catalog says where each one is (what train/evaluate read)
        listed = http.get(
            f"{sandbox.url}/data/experiments/{assessor_id}/files",
            params={"format": "json", "locator": "projectPath"},
            timeout=30,
        ).json()["ResultSet"]["Result"]
        assert sorted(row["projectPath"] for row in listed) == sorted(
            [
                f"arc001/SUBJ001_CT1/ASSESSORS/{assessor_id}/NOTES/note.txt",
                f"arc001/SUBJ001_CT1/ASSESSORS/{label}/QC/result.txt",
            ]
        )

        # Rename moves the label folder; the ID folder keeps its name
        renamed = http.put(
            f"{sandbox.url}/data/projects/LIVER/experiments/renamed_qc",
            params={"xsiType": "xnat:qcAssessmentData", "ID": assessor_id, "label": "renamed_qc"},
            timeout=30,
        )
        assert renamed.status_code == 200, renamed.text
        assert _files_on_disk(assessors) == sorted(
            [f"{assessor_id}/NOTES/note.txt", "renamed_qc/QC/result.txt"]
        )
        assert archive_disagreements(Path(sandbox.data_dir)) == []
        for resource, name, body in (("QC", "result.txt", None), ("NOTES", "note.txt", b"by hand")):
            got = http.get(f"{notes}/{resource}/files/{name}", timeout=30)
            assert got.status_code == 200
            assert body is None or got.content == body

        # delete removes both folders with their rows
        gone = http.delete(
            f"{sandbox.url}/data/experiments/{session_id}/assessors/{assessor_id}", timeout=30
        )
        assert gone.status_code == 200, gone.text
        assert _files_on_disk(assessors) == []
        assert not (assessors / assessor_id).exists()
        assert not (assessors / "renamed_qc").exists()
        assert archive_disagreements(Path(sandbox.data_dir)) == []


def test_one_function_names_the_folder_and_only_the_services_own_token_picks_the_label() -> None:
    row = {"id": "XNAT_E00002", "label": "S1_tinyqc"}
    assert archive.assessor_folder(row, by_container_service=False) == "XNAT_E00002"
    assert archive.assessor_folder(row, by_container_service=True) == "S1_tinyqc"
    # getArchiveDirectoryName: the ID when there is no label
    assert archive.assessor_folder({**row, "label": ""}, by_container_service=True) == "XNAT_E00002"
    assert not uploads.is_container_service(None)
    assert not uploads.is_container_service("some-alias")
    uploads.register("some-alias")
    try:
        assert uploads.is_container_service("some-alias")
    finally:
        uploads.unregister("some-alias")
    assert not uploads.is_container_service("some-alias")
