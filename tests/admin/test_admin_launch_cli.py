"""`xnat-monai launch --wait`, `launch --all-sessions`, `status` and `automate` against a
sandbox, as an admin types them."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.container_service.sandbox_data import (
    TINY_WRAPPER,
    add_ct_session,
    make_project,
    wait_until,
    write_commands_dir,
)
from xnat_plugin.admin import Xapi, install_commands, list_containers
from xnat_plugin.cli import main


@pytest.fixture
def project_with_sessions(sandbox, tmp_path: Path) -> list[str]:
    make_project(sandbox, "LIVER")
    ids = [add_ct_session(sandbox, "LIVER", i) for i in (1, 2, 3)]
    with Xapi(sandbox.url, "admin", "admin") as xapi:
        install_commands(xapi, write_commands_dir(tmp_path / "commands"), ["LIVER"])
    return ids


def _common(sandbox) -> list[str]:
    return ["--xnat", sandbox.url, "--user", "admin", "--password", "admin"]


def test_launch_wait_follows_to_complete_and_prints_the_table(
    sandbox, project_with_sessions, capsys
):
    target = f"/experiments/{project_with_sessions[0]}"
    code = main(
        [
            "launch",
            *_common(sandbox),
            "--project",
            "LIVER",
            "--wrapper",
            TINY_WRAPPER,
            "--target",
            target,
            "--wait",
            "--timeout",
            "120",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "Complete" in out
    assert TINY_WRAPPER in out


def test_a_failed_job_under_wait_exits_2_and_shows_its_log_tail(
    sandbox, project_with_sessions, capsys, caplog
):
    target = f"/experiments/{project_with_sessions[0]}"
    with caplog.at_level(logging.ERROR):
        code = main(
            [
                "launch",
                *_common(sandbox),
                "--project",
                "LIVER",
                "--wrapper",
                TINY_WRAPPER,
                "--target",
                target,
                "--input",
                "exit-code=4",
                "--wait",
            ]
        )
    out = capsys.readouterr().out
    assert code == 2
    assert "Failed" in out
    assert "tiny step asked to fail" in out
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == [
        "1 of 1 launch(es) did not complete"
    ]


def test_all_sessions_bulk_launches_every_session_of_the_project(
    sandbox, project_with_sessions, capsys
):
    code = main(
        [
            "launch",
            *_common(sandbox),
            "--project",
            "LIVER",
            "--wrapper",
            TINY_WRAPPER,
            "--all-sessions",
            "--wait",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "3 launched, 0 refused" in out
    with Xapi(sandbox.url, "admin", "admin") as xapi:
        containers = list_containers(xapi, "LIVER")
    assert sorted(c.target.rsplit("/", 1)[-1] for c in containers) == sorted(project_with_sessions)
    assert {c.status for c in containers} == {"Complete"}


def test_status_lists_containers_of_a_project(sandbox, project_with_sessions, capsys):
    target = f"/experiments/{project_with_sessions[1]}"
    assert (
        main(
            [
                "launch",
                *_common(sandbox),
                "--project",
                "LIVER",
                "--wrapper",
                TINY_WRAPPER,
                "--target",
                target,
                "--wait",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["status", *_common(sandbox), "--project", "LIVER"]) == 0
    out = capsys.readouterr().out
    assert project_with_sessions[1] in out
    assert "Complete" in out


def test_automate_makes_one_subscription_and_new_sessions_run_by_themselves(
    sandbox, project_with_sessions, capsys
):
    args = ["automate", *_common(sandbox), "--project", "LIVER", "--wrapper", TINY_WRAPPER]
    assert main(args) == 0
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "subscription created" in out and "already exists" in out
    new_session = add_ct_session(sandbox, "LIVER", 9)
    with Xapi(sandbox.url, "admin", "admin") as xapi:
        [container] = wait_until(lambda: list_containers(xapi, "LIVER"), timeout=30)
    assert container.target.endswith(f"/experiments/{new_session}")
