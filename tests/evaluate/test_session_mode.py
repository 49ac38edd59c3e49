"""Session mode against a sandbox XNAT: find the assessors, compare, write a valid assessor."""

from __future__ import annotations

import json

import pytest

from containers.common.metrics import compute_label_metrics
from containers.evaluate.session_mode import SessionRequest, run_session
from tests.archive_layout import LAYOUTS, place_assessor_files
from tests.evaluate.sandbox_project import seed_session
from tests.evaluate.seg_pairs import LABELS, SHAPE, perturbed
from tests.imaging.dicom_factory import phantom_labels
from xnat_plugin.assessors.assessor_id import assessor_id
from xnat_plugin.assessors.qc_assessment import QcAssessment
from xnat_plugin.assessors.xsd import load_reference_schemas, validate
from xnat_plugin.client import connect, paths
from xnat_plugin.client.assessor_store import create_assessor
from xnat_plugin.client.browse import list_assessors, list_files
from xnat_plugin.client.transfer import upload_folder
from xnat_plugin.sandbox.archive import archive_directory


@pytest.fixture
def client(sandbox):
    with connect(sandbox.url, sandbox.user, sandbox.password) as connection:
        yield connection


def test_session_evaluation_assessor_validates_against_xnats_schemas(
    client, tmp_path, reference_dir
):
    seeded = seed_session(client, "EVAL", 1, tmp_path / "seed")
    out = tmp_path / "out"
    run_session(SessionRequest(seeded.id, "EVAL", out), client=client)
    xml = (out / "assessor.xml").read_text()
    # As written, ID included (XMLValidator in DefaultCatalogService.insertXmlObject).
    assert validate(xml, load_reference_schemas(reference_dir)) == []
    assessor = QcAssessment.from_xml(xml)
    assert assessor.id == assessor_id(seeded.id, "EVAL", assessor.label)


def test_session_evaluation_writes_an_assessor_with_every_metric(client, tmp_path):
    seeded = seed_session(client, "EVAL", 1, tmp_path / "seed")
    out = tmp_path / "out"
    run_session(SessionRequest(seeded.id, "EVAL", out), client=client)

    xml = (out / "assessor.xml").read_text()
    assessor = QcAssessment.from_xml(xml)
    assert assessor.label.startswith(f"{seeded.label}_monai_eval_")
    assert assessor.fields["ai_assessor"] == seeded.ai_label
    assert assessor.fields["reference_assessor"] == seeded.reference_label
    assert assessor.fields["model_name"] == "organs"
    statistics = assessor.scans[0].statistics
    assert assessor.scans[0].scan_id == "1"

    reference = phantom_labels(SHAPE)
    expected = compute_label_metrics(reference, perturbed(reference, 1), (1, 1, 1), LABELS)
    for name in LABELS:
        assert statistics[f"{name}_dice"] == pytest.approx(expected[name].dice)
        assert f"{name}_hausdorff95_mm" in statistics
        assert f"{name}_surface_dice" in statistics
    # Seed 1 drops the kidney from the AI SEG: a missed organ is infinitely far.
    assert statistics["kidney_dice"] == 0.0
    assert statistics["kidney_hausdorff_mm"] == float("inf")

    report = json.loads((out / "REPORT" / "metrics.json").read_text())
    assert report["labels"]["kidney"]["hausdorff_mm"] == "inf"
    assert (out / "REPORT" / "metrics.csv").read_text().count("\n") == 1 + len(LABELS)
    assert (out / "REPORT" / "disagreement.png").read_bytes().startswith(b"\x89PNG")
    # XNAT (the sandbox validates like XNAT) accepts the document as is.
    create_assessor(client, seeded.id, xml)
    assert any(a.label == assessor.label for a in list_assessors(client, seeded.id))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_mounted_session_archive_is_read_where_the_catalog_puts_the_segs(
    client, sandbox, tmp_path, layout, monkeypatch
):
    """XNAT keeps a Container-Service-uploaded assessor's files in `ASSESSORS/<label>/` and a
    REST-uploaded one's in `ASSESSORS/<ID>/`; the catalog's `projectPath`
    (`CatalogUtils.getEntryDetails`) says which, and the step reads the files in the mount."""
    seeded = seed_session(client, "EVAL", 2, tmp_path / "seed")
    for assessor in list_assessors(client, seeded.id):
        place_assessor_files(sandbox.data_dir, assessor.id, layout)
    mount = archive_directory(sandbox.data_dir, f"/experiments/{seeded.id}")
    run_session(SessionRequest(seeded.id, "EVAL", tmp_path / "b"), client=client)

    def no_download(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"downloaded {args[1:3]} although the mount holds it")

    monkeypatch.setattr("containers.common.resource_files.download_resource", no_download)
    run_session(SessionRequest(seeded.id, "EVAL", tmp_path / "a", session_dir=mount), client=client)
    mounted = json.loads((tmp_path / "a" / "REPORT" / "metrics.json").read_text())
    fetched = json.loads((tmp_path / "b" / "REPORT" / "metrics.json").read_text())
    assert mounted["labels"] == fetched["labels"]


def test_a_mount_without_the_files_falls_back_to_rest(client, tmp_path):
    seeded = seed_session(client, "EVAL", 2, tmp_path / "seed")
    empty = tmp_path / "empty-mount"
    empty.mkdir()
    run_session(SessionRequest(seeded.id, "EVAL", tmp_path / "a", session_dir=empty), client=client)
    assert (tmp_path / "a" / "assessor.xml").is_file()


def test_newest_ai_assessor_is_chosen_by_default(client, tmp_path):
    seeded = seed_session(client, "EVAL", 3, tmp_path / "seed", models=("old", "new"))
    run_session(SessionRequest(seeded.id, "EVAL", tmp_path / "out"), client=client)
    assessor = QcAssessment.from_xml((tmp_path / "out" / "assessor.xml").read_text())
    assert assessor.fields["model_name"] == "new"
    run_session(
        SessionRequest(seeded.id, "EVAL", tmp_path / "old", ai_pattern=".*_monai_old_.*"),
        client=client,
    )
    old = QcAssessment.from_xml((tmp_path / "old" / "assessor.xml").read_text())
    assert old.fields["model_name"] == "old"


def test_session_without_a_matching_reference_is_refused_and_output_stays_empty(client, tmp_path):
    from xnat_plugin.errors import UserError

    seeded = seed_session(client, "EVAL", 4, tmp_path / "seed")
    out = tmp_path / "out"
    with pytest.raises(UserError, match="reference-pattern"):
        run_session(
            SessionRequest(seeded.id, "EVAL", out, reference_pattern=".*expert.*"), client=client
        )
    assert not out.exists() or not any(out.iterdir())


def test_ai_seg_of_another_series_is_refused_with_both_series_named(client, tmp_path):
    from tests.evaluate.seg_pairs import write_seg_case
    from xnat_plugin.errors import UserError

    seeded = seed_session(client, "EVAL", 5, tmp_path / "seed")
    other = write_seg_case(tmp_path / "other", seed=5)
    ai_id = next(a.id for a in list_assessors(client, seeded.id) if a.label == seeded.ai_label)
    owner = paths.assessor(seeded.id, ai_id)
    (remote,) = list_files(client, owner, "SEG")
    client.delete(paths.resource_file(owner, "SEG", remote.path))
    upload_folder(client, owner, "SEG", other.prediction_seg.parent, show_progress=False)
    with pytest.raises(UserError, match="not of the same scan"):
        run_session(SessionRequest(seeded.id, "EVAL", tmp_path / "out"), client=client)


def test_session_cli_reads_xnat_from_the_environment_like_the_container_service(
    client, sandbox, tmp_path
):
    import os
    import subprocess
    import sys

    seeded = seed_session(client, "EVAL", 6, tmp_path / "seed")
    env = {**os.environ, "XNAT_HOST": sandbox.url, "XNAT_USER": "admin", "XNAT_PASS": "admin"}
    command = [
        sys.executable,
        "-m",
        "containers.evaluate",
        "session",
        "--session-id",
        seeded.id,
        "--project",
        "EVAL",
        "--output",
        str(tmp_path / "out"),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "assessor.xml").is_file()
    without_host = {k: v for k, v in env.items() if k != "XNAT_HOST"}
    command[-1] = str(tmp_path / "out2")
    refused = subprocess.run(command, env=without_host, capture_output=True, text=True, check=False)
    assert refused.returncode == 2
    assert len(refused.stderr.strip().splitlines()) == 1 and "XNAT_HOST" in refused.stderr


def test_second_evaluation_in_the_same_second_gets_the_next_free_label(client, tmp_path):
    seeded = seed_session(client, "EVAL", 7, tmp_path / "seed")
    labels = []
    for name in ("a", "b"):
        run_session(SessionRequest(seeded.id, "EVAL", tmp_path / name), client=client)
        xml = (tmp_path / name / "assessor.xml").read_text()
        create_assessor(client, seeded.id, xml)
        labels.append(QcAssessment.from_xml(xml).label)
    assert labels[0] != labels[1]
