"""End to end on a running sandbox: resolve → stage → run (process backend) → finalize."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import xnat

from xnat_plugin.commands.model import Command
from xnat_plugin.runner.backends import LaunchEnvironment
from xnat_plugin.runner.engine import ContainerRecord, execute, new_record
from xnat_plugin.runner.status import ContainerStatus
from xnat_plugin.runner.xnat_rest import XnatRest

STEP = (
    "python -m tests.runner.assessor_step --input /input --output /output "
    "#SESSION_ID# #PROJECT# #LABEL# #FAIL# #NO_XML#"
)


def step_command(command_line: str = STEP) -> Command:
    return Command.model_validate(
        {
            "name": "runner-test",
            "image": "runner-test:1",
            "version": "1",
            "command-line": command_line,
            "override-entrypoint": True,
            "mounts": [
                {"name": "in", "path": "/input"},
                {"name": "out", "path": "/output", "writable": True},
            ],
            "environment-variables": {"STEP_OUTPUT": "/output"},
            "inputs": [
                {"name": "SESSION_ID", "command-line-flag": "--session-id", "required": True},
                {"name": "PROJECT", "command-line-flag": "--project", "required": True},
                {"name": "LABEL", "command-line-flag": "--label", "required": True},
                {"name": "FAIL", "type": "boolean", "true-value": "--fail", "false-value": ""},
                {"name": "NO_XML", "type": "boolean", "true-value": "--no-xml", "false-value": ""},
            ],
            "outputs": [
                {"name": "assessor", "mount": "out", "path": "assessor.xml", "required": True},
                {"name": "report", "mount": "out", "path": "REPORT", "required": True},
            ],
            "xnat": [
                {
                    "name": "runner-test-session",
                    "contexts": ["xnat:imageSessionData"],
                    "external-inputs": [
                        {
                            "name": "session",
                            "type": "Session",
                            "required": True,
                            "provides-files-for-command-mount": "in",
                            "load-children": True,
                        }
                    ],
                    "derived-inputs": [
                        {
                            "name": "session-id",
                            "type": "string",
                            "derived-from-wrapper-input": "session",
                            "derived-from-xnat-object-property": "id",
                            "provides-value-for-command-input": "SESSION_ID",
                        },
                        {
                            "name": "project",
                            "type": "string",
                            "derived-from-wrapper-input": "session",
                            "derived-from-xnat-object-property": "project-id",
                            "provides-value-for-command-input": "PROJECT",
                        },
                        {
                            "name": "session-label",
                            "type": "string",
                            "derived-from-wrapper-input": "session",
                            "derived-from-xnat-object-property": "label",
                            "provides-value-for-command-input": "LABEL",
                        },
                    ],
                    "output-handlers": [
                        {
                            "name": "assessor-handler",
                            "accepts-command-output": "assessor",
                            "as-a-child-of": "session",
                            "type": "Assessor",
                            "xsi-type": "xnat:qcAssessmentData",
                        },
                        {
                            "name": "report-handler",
                            "accepts-command-output": "report",
                            "as-a-child-of": "assessor-handler",
                            "type": "Resource",
                            "label": "REPORT",
                        },
                    ],
                }
            ],
        }
    )


def seed_session(rest: XnatRest, tmp_path: Path) -> str:
    rest.put("/data/projects/P1")
    rest.put("/data/projects/P1/subjects/S1")
    session_id = rest.put(
        "/data/projects/P1/subjects/S1/experiments/CT_001", {"xsiType": "xnat:ctSessionData"}
    ).text.strip()
    rest.put(
        "/data/projects/P1/subjects/S1/experiments/CT_001/scans/1",
        # The frame count XNAT's import records: infer's scan rule passes over scans with
        # fewer than 10 (localizers); the two files below stand in for the series.
        {"xsiType": "xnat:ctScanData", "type": "ABD CT", "modality": "CT", "frames": "40"},
    )
    scan_uri = f"/archive/experiments/{session_id}/scans/1"
    rest.create_resource(scan_uri, "DICOM", {})
    for name in ("1.dcm", "2.dcm"):
        local = tmp_path / name
        local.write_bytes(b"DICM" + name.encode())
        rest.upload_file(scan_uri, "DICOM", f"series/{name}", local)
    return session_id


@pytest.fixture
def rest(sandbox: Any) -> XnatRest:
    return XnatRest(sandbox.url, sandbox.user, sandbox.password)


def run_step(
    rest: XnatRest, session_id: str, tmp_path: Path, inputs: dict[str, str] | None = None, **kw: Any
) -> ContainerRecord:
    seen: list[str] = []
    record = execute(
        kw.pop("command", step_command()),
        "runner-test-session",
        f"/experiments/{session_id}",
        inputs or {},
        xnat=rest,
        launch=LaunchEnvironment(rest.url, "alias-user", "alias-secret", "42", "7"),
        workdir=tmp_path / "runs",
        on_status=lambda r: seen.append(str(r.status)),
        **kw,
    )
    record.seen_statuses = seen  # type: ignore[attr-defined]
    return record


def session_through_xnatpy(sandbox: Any, session_id: str) -> Any:
    connection = xnat.connect(sandbox.url, user=sandbox.user, password=sandbox.password)
    return connection, connection.experiments[session_id]


def test_a_step_ends_complete_with_its_assessor_and_report_visible_through_xnatpy(
    sandbox: Any, rest: XnatRest, tmp_path: Path
) -> None:
    session_id = seed_session(rest, tmp_path)
    record = run_step(rest, session_id, tmp_path)
    assert record.status is ContainerStatus.COMPLETE, record.history.to_json()
    assert record.seen_statuses == [  # type: ignore[attr-defined]
        "_Queued",
        "Staging",
        "Created",
        "Running",
        "Finalizing",
        "Complete",
    ]
    assert record.exit_code == 0
    connection, session = session_through_xnatpy(sandbox, session_id)
    try:
        assessor = session.assessors["CT_001_runner_test"]
        assert assessor.__xsi_type__ == "xnat:qcAssessmentData"
        assert "report.json" in assessor.resources["REPORT"].files
        created = record.outputs_created["assessor-handler"]
        assert created == f"/archive/experiments/{session_id}/assessors/{assessor.id}"
    finally:
        connection.disconnect()
    report = json.loads((record.workdir / "staging/mounts/out/REPORT/report.json").read_text())
    assert report["input-files"] == ["SCANS/1/DICOM/series/1.dcm", "SCANS/1/DICOM/series/2.dcm"]
    assert report["xnat-host"] == rest.url
    assert not report["xnat-user-is-admin"]
    assert record.resolved is not None
    assert "--session-id " + session_id in record.resolved["command-line"]


def test_a_non_zero_exit_ends_failed_with_nothing_uploaded(
    sandbox: Any, rest: XnatRest, tmp_path: Path
) -> None:
    session_id = seed_session(rest, tmp_path)
    record = run_step(rest, session_id, tmp_path, {"FAIL": "true"})
    assert record.status is ContainerStatus.FAILED
    assert record.exit_code == 3
    assert "Finalizing" not in record.seen_statuses  # type: ignore[attr-defined]
    assert "asked to fail" in record.stderr_path.read_text()
    assert record.outputs_created == {}
    connection, session = session_through_xnatpy(sandbox, session_id)
    try:
        assert len(session.assessors) == 0
    finally:
        connection.disconnect()


def test_a_missing_assessor_xml_ends_failed_upload(
    sandbox: Any, rest: XnatRest, tmp_path: Path
) -> None:
    session_id = seed_session(rest, tmp_path)
    record = run_step(rest, session_id, tmp_path, {"NO_XML": "true"})
    assert record.status is ContainerStatus.FAILED_UPLOAD
    assert any("assessor" in failure for failure in record.upload_failures)
    assert "Failed to upload required outputs" in record.history.events[-1].message
    connection, session = session_through_xnatpy(sandbox, session_id)
    try:
        assert len(session.assessors) == 0
    finally:
        connection.disconnect()


def test_an_input_with_a_parenthesis_fails_in_command_resolution(
    rest: XnatRest, tmp_path: Path
) -> None:
    session_id = seed_session(rest, tmp_path)
    bad = step_command()
    bad.inputs[2].default_value = "shape(96,96,96)"
    bad.xnat[0].derived_inputs[2].provides_value_for_command_input = None
    record = run_step(rest, session_id, tmp_path, command=bad)
    assert record.status is ContainerStatus.FAILED_RESOLUTION
    assert record.history.events[-1].message == (
        'Input "LABEL" has a value containing illegal string "(".'
    )


def test_a_running_step_can_be_killed(rest: XnatRest, tmp_path: Path) -> None:
    session_id = seed_session(rest, tmp_path)
    command = step_command("sleep 60; true #SESSION_ID# #PROJECT# #LABEL# #FAIL# #NO_XML#")
    record = new_record(
        command, "runner-test-session", f"/experiments/{session_id}", {}, tmp_path / "runs"
    )

    def kill_when_running() -> None:
        for _ in range(200):
            if record.status is ContainerStatus.RUNNING:
                record.request_kill()
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_when_running)
    killer.start()
    started = time.monotonic()
    run_step(rest, session_id, tmp_path, command=command, record=record)
    killer.join()
    assert record.status is ContainerStatus.KILLED
    assert time.monotonic() - started < 30


def test_a_local_sandbox_archive_is_mounted_in_place(
    sandbox: Any, rest: XnatRest, tmp_path: Path
) -> None:
    from xnat_plugin.sandbox.archive import archive_directory

    session_id = seed_session(rest, tmp_path)
    record = run_step(
        rest,
        session_id,
        tmp_path,
        archive_locator=lambda uri: archive_directory(sandbox.data_dir, uri),
    )
    assert record.status is ContainerStatus.COMPLETE, record.history.to_json()
    assert record.resolved is not None
    host_path = record.resolved["mounts"][0]["xnat-host-path"]
    assert Path(host_path).is_relative_to(sandbox.data_dir)
    assert not (record.workdir / "staging/mounts/in").exists()


def test_the_run_verb_runs_a_command_file_against_the_sandbox(
    sandbox: Any, rest: XnatRest, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from xnat_plugin.cli import main

    session_id = seed_session(rest, tmp_path)
    command_file = tmp_path / "command.json"
    command_file.write_text(step_command().to_json())
    code = main(
        [
            "run",
            "--xnat",
            sandbox.url,
            "--user",
            sandbox.user,
            "--password",
            sandbox.password,
            "--wrapper",
            "runner-test-session",
            "--target",
            f"/experiments/{session_id}",
            "--command-file",
            str(command_file),
            "--workdir",
            str(tmp_path / "cli-runs"),
        ]
    )
    summary = json.loads(capsys.readouterr().out)
    assert code == 0
    assert summary["status"] == "Complete"
    assert set(summary["outputs"]) == {"assessor-handler", "report-handler"}
    report = json.loads(
        (Path(summary["workdir"]) / "staging/mounts/out/REPORT/report.json").read_text()
    )
    # The container acted with an alias token, not with the launching user's password.
    assert not report["xnat-user-is-admin"]
    assert sandbox.password not in (Path(summary["workdir"]) / "container.json").read_text()


def test_the_run_verb_fails_with_one_line_for_a_wrong_wrapper(sandbox: Any, tmp_path: Path) -> None:
    from xnat_plugin.cli import main

    command_file = tmp_path / "command.json"
    command_file.write_text(step_command().to_json())
    code = main(
        [
            "run",
            "--xnat",
            sandbox.url,
            "--user",
            "admin",
            "--password",
            "admin",
            "--wrapper",
            "nope",
            "--target",
            "/experiments/X",
            "--command-file",
            str(command_file),
        ]
    )
    assert code == 2


def test_the_run_verb_uses_a_registered_command_and_its_project_defaults(
    sandbox: Any, rest: XnatRest, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from xnat_plugin.cli import main

    session_id = seed_session(rest, tmp_path)
    command_id = rest.post(
        "/xapi/commands",
        body=step_command().to_json(),
        headers={"Content-Type": "application/json"},
    ).text.strip()
    rest.post(
        f"/xapi/projects/P1/commands/{command_id}/wrappers/runner-test-session/config",
        body=json.dumps({"inputs": {"FAIL": {"default-value": "true"}}}),
        headers={"Content-Type": "application/json"},
    )
    arguments = [
        "run", "--xnat", sandbox.url, "--user", "admin", "--password", "admin",
        "--wrapper", "runner-test-session", "--target", f"/experiments/{session_id}",
        "--command-id", command_id, "--workdir", str(tmp_path / "cli-runs"),
    ]  # fmt: skip
    assert main(arguments) == 1
    assert json.loads(capsys.readouterr().out)["status"] == "Failed"
    # A value given at launch still wins over the project's default.
    assert main([*arguments, "--input", "FAIL=false"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "Complete"
