"""A project in a sandbox whose sessions two models segmented and session mode evaluated (the
evaluation assessors and their REPORT files stored as the Container Service stores them), with
model alpha's bundle record in MONAI_MODELS."""

from __future__ import annotations

import json

import pytest

from containers.common.data_split import record_split
from containers.evaluate.session_mode import SessionRequest, run_session
from tests.evaluate.sandbox_project import seed_session
from xnat_plugin.assessors.qc_assessment import QcAssessment
from xnat_plugin.client import connect, paths
from xnat_plugin.client.assessor_store import create_assessor, upload_assessor_files
from xnat_plugin.client.transfer import upload_folder

PROJECT = "LIVER"
MODELS = ("alpha", "beta")


def alpha_bundle_metadata(sessions) -> dict:
    """What `xnat-monai train` records for model alpha: fitted on sessions 0 and 1, validated
    on 2; session 3 it never saw. The training data is matched by ID, label and subject."""
    data = [
        {"session": s.label, "uri": f"/experiments/{s.id}", "subject": s.label.split("_")[0]}
        for s in sessions[:3]
    ]
    split = record_split(data, [((0, 1), (2,))])
    energy = {"joules": 7200.0, "kwh": 0.002, "source": "estimate", "estimated": True, "parts": []}
    return {
        "name": "alpha",
        "version": "0.3.0",
        "task": "CT segmentation of liver, spleen",
        "xnat_monai": {
            "model_name": "alpha",
            "labels": {"liver": 1, "spleen": 2},
            "network": {"name": "UNet"},
            "training": {
                "project": PROJECT,
                "data": data,
                "split": split,
                "provenance": {"wall_seconds": 90.0, "device": "cpu", "energy": energy},
            },
        },
    }


@pytest.fixture(scope="session")
def evaluated_project(tmp_path_factory):
    """Four sessions on two sites, each with two models' SEGs evaluated and stored."""
    from xnat_plugin.sandbox.server import running_sandbox

    root = tmp_path_factory.mktemp("project")
    with (
        running_sandbox(root / "xnat") as server,
        connect(server.url, server.user, server.password) as client,
    ):
        sessions = [
            seed_session(client, PROJECT, i, root / "seed", models=MODELS) for i in range(4)
        ]
        bundle = root / "models" / "alpha" / "configs"
        bundle.mkdir(parents=True)
        (bundle / "metadata.json").write_text(json.dumps(alpha_bundle_metadata(sessions)))
        upload_folder(
            client, paths.project(PROJECT), "MONAI_MODELS", root / "models", show_progress=False
        )
        stored: list[QcAssessment] = []
        for model in MODELS:
            for session in sessions:
                out = root / "eval" / model / session.label
                run_session(
                    SessionRequest(session.id, PROJECT, out, ai_pattern=f".*_monai_{model}_.*"),
                    client=client,
                )
                xml = (out / "assessor.xml").read_text()
                create_assessor(client, session.id, xml)
                stored.append(QcAssessment.from_xml(xml))
                upload_assessor_files(
                    client,
                    session.id,
                    stored[-1].label,
                    "REPORT",
                    out / "REPORT",
                    show_progress=False,
                )
        yield client, root, sessions, stored
