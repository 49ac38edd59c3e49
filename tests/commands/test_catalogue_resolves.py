"""Our wrappers resolve with the runner against a CT session the way the steps expect."""

from __future__ import annotations

import shlex
from typing import Any

from tests.runner.fake_xnat import FakeScan, FakeSession, FakeXnat
from xnat_plugin.commands.catalogue import step_commands
from xnat_plugin.runner.resolve import resolve_wrapper

MODEL_FILE = "/data/projects/P1/resources/MONAI_MODELS/files/organs/models/model.pt"


class XnatWithModels(FakeXnat):
    """The fake XNAT, plus a project resource MONAI_MODELS holding one bundle."""

    def get_json(self, uri: str, query: Any = None) -> Any:
        parts = uri.removeprefix("/data/").split("/")
        if parts[0] == "projects" and parts[2:3] == ["resources"]:
            self.requests.append(uri)
            if len(parts) == 3:
                rows = [{"label": "MONAI_MODELS", "xnat_abstractresource_id": "11"}]
            else:
                rows = [{"Name": "model.pt", "URI": MODEL_FILE, "Size": "10"}]
            return {"ResultSet": {"Result": rows}}
        return super().get_json(uri, query)


def ct_and_pet_session() -> FakeSession:
    return FakeSession(
        "XNAT_E00001",
        "CT_001",
        scans=[
            FakeScan("7", "PET", {"DICOM": ["p.dcm"]}, modality="PT"),
            FakeScan("3", "CT", {"DICOM": ["a.dcm", "b.dcm"]}, frames=40),
        ],
        assessors=[("XNAT_E00002", "CT_001_manual_SEG", "icr:roiCollectionData")],
    )


def option(words: list[str], name: str) -> str:
    return words[words.index(name) + 1]


def test_infer_picks_the_ct_scan_and_mounts_its_dicom_and_the_models() -> None:
    infer, _classifier, _detector = step_commands("infer")
    resolved = resolve_wrapper(
        infer,
        "monai-segment-session",
        "/experiments/XNAT_E00001",
        {"model-name": "organs"},
        XnatWithModels(ct_and_pet_session()),
    )
    words = shlex.split(resolved.command_line)
    assert option(words, "--scan-id") == "3"
    assert (option(words, "--model"), option(words, "--model-name")) == ("/models", "organs")
    assert (option(words, "--session-id"), option(words, "--project")) == ("XNAT_E00001", "P1")
    assert option(words, "--subject") == "XNAT_S00001"
    assert option(words, "--session-label") == "CT_001"
    assert resolved.mount("input").source is not None
    assert resolved.mount("input").source.json["uri"].endswith("/scans/3/resources/DICOM")
    assert resolved.mount("models").source is not None
    assert resolved.mount("models").source.json["label"] == "MONAI_MODELS"
    assert resolved.mount("output").writable
    handlers = [(o.handler, o.type, o.parent_handler) for o in resolved.outputs]
    assert handlers[0] == ("segmentation-assessor", "Assessor", None)
    assert {h[0]: h[2] for h in handlers[1:]} == {
        "seg-resource": "segmentation-assessor",
        "nifti-resource": "segmentation-assessor",
        "report-resource": "segmentation-assessor",
    }


def test_evaluate_session_fills_ids_and_the_default_patterns() -> None:
    session_command, *_ = step_commands("evaluate")
    resolved = resolve_wrapper(
        session_command,
        "monai-evaluate-session",
        "/experiments/XNAT_E00001",
        {},
        XnatWithModels(ct_and_pet_session()),
    )
    words = shlex.split(resolved.command_line)
    assert words[:4] == ["python", "-m", "containers.evaluate", "session"]
    assert option(words, "--session-id") == "XNAT_E00001"
    assert option(words, "--ai-pattern") == ".*_monai_.*"
    assert option(words, "--reference-pattern") == ".*manual.*"
    assert option(words, "--session-dir") == "/session"
    assert not resolved.mount("session").writable
    assert "--ai-assessor-id" not in words


def test_evaluating_an_ai_segmentation_derives_its_session_and_names_it() -> None:
    """The wrapper an ImageAssessorEvent launches: its root is the segmentation's archive URI
    (`CommandActionProvider`), its session is derived (`CommandResolutionServiceImpl`:
    Session from Assessor), and the step is told which segmentation to wait for."""
    session_command, *_ = step_commands("evaluate")
    resolved = resolve_wrapper(
        session_command,
        "monai-evaluate-ai-segmentation",
        "/archive/experiments/XNAT_E00002",
        {},
        XnatWithModels(ct_and_pet_session()),
    )
    words = shlex.split(resolved.command_line)
    assert option(words, "--session-id") == "XNAT_E00001"
    assert option(words, "--project") == "P1"
    assert option(words, "--ai-assessor-id") == "XNAT_E00002"
    assert option(words, "--seg-wait-seconds") == "1800"
    assert option(words, "--session-dir") == "/session"
    assert resolved.mount("session").source is not None
    assert resolved.mount("session").source.json["id"] == "XNAT_E00001"


def test_detection_evaluation_quotes_the_hit_rule_and_fills_the_session() -> None:
    """`python -m containers.detection evaluate-session` from the session's wrapper: the IDs
    from the session (`CommandResolutionServiceImpl`), the read-only session mount, and a hit
    rule such as `iou>=0.1` reaching the step as one word (the Container Service runs the
    command line with `/bin/sh -c`, where an unquoted `>` would redirect)."""
    (detection,) = [
        c for c in step_commands("evaluate") if c.name == "xnat-monai-detect-evaluate-session"
    ]
    resolved = resolve_wrapper(
        detection,
        "monai-detect-evaluate-session",
        "/experiments/XNAT_E00001",
        {"hit-rule": "iou>=0.1"},
        XnatWithModels(ct_and_pet_session()),
    )
    words = shlex.split(resolved.command_line)
    assert words[:4] == ["python", "-m", "containers.detection", "evaluate-session"]
    assert option(words, "--session-id") == "XNAT_E00001"
    assert option(words, "--hit-rule") == "iou>=0.1"
    assert option(words, "--threshold") == "0.5"
    assert option(words, "--session-dir") == "/session"
    assert not resolved.mount("session").writable
    handlers = [(o.handler, o.type, o.parent_handler) for o in resolved.outputs]
    assert handlers == [
        ("metrics-assessor", "Assessor", None),
        ("report-resource", "Resource", "metrics-assessor"),
    ]


def test_the_classification_report_runs_on_a_project_with_its_label_source() -> None:
    (command,) = [
        c for c in step_commands("evaluate") if c.name == "xnat-monai-classify-evaluate-project"
    ]
    resolved = resolve_wrapper(
        command,
        "monai-classify-evaluate-project",
        "/projects/P1",
        {"run": "first"},
        XnatWithModels(ct_and_pet_session()),
    )
    words = shlex.split(resolved.command_line)
    assert words[:4] == ["python", "-m", "containers.classify", "evaluate-project"]
    assert option(words, "--project") == "P1"
    assert option(words, "--label-field") == "diagnosis"
    assert option(words, "--threshold") == "0.5"
    assert option(words, "--run") == "first"
    assert "--label-csv" not in words and "--positive" not in words
    assert [(o.handler, o.type) for o in resolved.outputs] == [("evaluation-resource", "Resource")]
