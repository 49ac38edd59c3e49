"""The admin CLI against a sandbox: install is idempotent, and each error a real admin meets
ends with one clear line and exit code 2."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.container_service.sandbox_data import (
    SPARE_WRAPPER,
    TINY_WRAPPER,
    add_ct_session,
    make_project,
    rest,
    write_commands_dir,
)
from xnat_plugin.admin import Xapi, install_commands
from xnat_plugin.cli import main


def run_cli(args: list[str], caplog: pytest.LogCaptureFixture) -> tuple[int, list[str]]:
    caplog.clear()
    with caplog.at_level(logging.ERROR):
        code = main(args)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    return code, errors


def test_install_twice_changes_nothing_the_second_time(sandbox, tmp_path: Path, capsys):
    make_project(sandbox, "LIVER")
    commands = write_commands_dir(tmp_path / "commands")
    args = [
        "install",
        "--xnat",
        sandbox.url,
        "--user",
        "admin",
        "--password",
        "admin",
        "--project",
        "LIVER",
        "--commands-dir",
        str(commands),
        "--default",
        f"{TINY_WRAPPER}.exit-code=0",
    ]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert main(args) == 0
    second = capsys.readouterr().out
    assert "registered 1 command" in first
    assert second.startswith("nothing to change")
    with Xapi(sandbox.url, "admin", "admin") as xapi:
        report = install_commands(xapi, commands, ["LIVER"], {TINY_WRAPPER: {"exit-code": "0"}})
        assert not report.changed
        assert report.already_registered == ["xnat-monai-tiny-qc 1.0 (xnat-monai/tiny-qc:1.0)"]


def test_a_new_command_version_is_registered_beside_the_old_one(sandbox, tmp_path: Path):
    make_project(sandbox, "LIVER")
    with Xapi(sandbox.url, "admin", "admin") as xapi:
        install_commands(xapi, write_commands_dir(tmp_path / "v1", "1.0"), ["LIVER"])
        report = install_commands(xapi, write_commands_dir(tmp_path / "v2", "1.1"), ["LIVER"])
        versions = sorted(c["version"] for c in xapi.get_json("/xapi/commands", what="list"))
    assert report.registered == ["xnat-monai-tiny-qc 1.1 (xnat-monai/tiny-qc:1.0)"]
    assert versions == ["1.0", "1.1"]


def test_a_wrong_password_ends_with_one_line_naming_the_401(sandbox, caplog):
    code, errors = run_cli(
        ["status", "--xnat", sandbox.url, "--user", "admin", "--password", "wrong"], caplog
    )
    assert code == 2
    assert len(errors) == 1
    assert "refused the credentials for user admin (401)" in errors[0]
    assert "wrong" not in errors[0]


def test_install_without_the_admin_role_ends_with_one_line_naming_the_403(
    sandbox, tmp_path: Path, caplog
):
    with rest(sandbox) as http:
        http.post(
            f"{sandbox.url}/xapi/users",
            json={"username": "dave", "password": "dave-pw", "email": "d@example.org"},
        ).raise_for_status()
    commands = write_commands_dir(tmp_path / "commands")
    code, errors = run_cli(
        [
            "install",
            "--xnat",
            sandbox.url,
            "--user",
            "dave",
            "--password",
            "dave-pw",
            "--commands-dir",
            str(commands),
        ],
        caplog,
    )
    assert code == 2
    assert len(errors) == 1
    assert "(403)" in errors[0] and "Container Manager" in errors[0]


@pytest.fixture
def installed_project(sandbox, tmp_path: Path) -> str:
    make_project(sandbox, "LIVER")
    session_id = add_ct_session(sandbox, "LIVER", 1)
    with Xapi(sandbox.url, "admin", "admin") as xapi:
        install_commands(xapi, write_commands_dir(tmp_path / "commands"), ["LIVER"])
        command_id = xapi.get_json("/xapi/commands", what="list")[0]["id"]
        xapi.request(
            "PUT",
            f"/xapi/projects/LIVER/commands/{command_id}/wrappers/{SPARE_WRAPPER}/disabled",
            what="disable",
        )
    return session_id


def _launch_args(sandbox, wrapper: str, target: str) -> list[str]:
    return [
        "launch",
        "--xnat",
        sandbox.url,
        "--user",
        "admin",
        "--password",
        "admin",
        "--project",
        "LIVER",
        "--wrapper",
        wrapper,
        "--target",
        target,
    ]


def test_launching_a_wrapper_disabled_on_the_project_says_so(sandbox, installed_project, caplog):
    target = f"/experiments/{installed_project}"
    code, errors = run_cli(_launch_args(sandbox, SPARE_WRAPPER, target), caplog)
    assert code == 2
    assert errors == [
        f"wrapper '{SPARE_WRAPPER}' is not enabled on project LIVER: run `xnat-monai install "
        f"--xnat {sandbox.url} --project LIVER` or enable it in the project's Container "
        "Service settings"
    ]


def test_launching_on_a_session_that_does_not_exist_says_so(sandbox, installed_project, caplog):
    code, errors = run_cli(_launch_args(sandbox, TINY_WRAPPER, "/experiments/NOPE_E99999"), caplog)
    assert code == 2
    assert len(errors) == 1
    assert "has no object at /experiments/NOPE_E99999" in errors[0]


def test_an_unknown_wrapper_name_lists_the_known_ones(sandbox, installed_project, caplog):
    target = f"/experiments/{installed_project}"
    code, errors = run_cli(_launch_args(sandbox, "tiny-qc-typo", target), caplog)
    assert code == 2
    assert len(errors) == 1
    assert "no wrapper named 'tiny-qc-typo'" in errors[0]
    assert TINY_WRAPPER in errors[0]
