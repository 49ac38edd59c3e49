"""`xnat-monai install --scan-rule` sets one rule in both places that choose a scan.

The project configuration of a wrapper may replace a wrapper input's `matcher` and any input's
`default-value` (`CommandConfiguration.CommandInputConfiguration.create`: a configured matcher
or default overrides the command's): infer's derived `scan` input gets the rule as its
matcher, train's scan inputs get it as their defaults.
"""

from __future__ import annotations

from pathlib import Path

from tests.admin.test_admin_errors_and_install import run_cli
from tests.container_service.sandbox_data import make_project
from xnat_plugin.admin import Xapi, install_commands
from xnat_plugin.cli import main
from xnat_plugin.commands.scan_rule import ScanRule
from xnat_plugin.demo.flow import write_cpu_commands


def _config(xapi: Xapi, command_id: int, wrapper: str) -> dict:
    return xapi.get_json(
        f"/xapi/projects/LIVER/commands/{command_id}/wrappers/{wrapper}/config", what="read"
    )


def test_the_scan_rule_becomes_infers_matcher_and_trains_defaults(sandbox, tmp_path: Path, capsys):
    make_project(sandbox, "LIVER")
    commands = write_cpu_commands(tmp_path / "commands")
    args = ["install", "--xnat", sandbox.url, "--user", "admin", "--password", "admin",
            "--project", "LIVER", "--commands-dir", str(commands),
            "--scan-rule", "scan-description=ABDOMEN [0-9.]+mm", "--scan-rule", "min-frames=20"]  # fmt: skip
    assert main(args) == 0
    rule = ScanRule(description="ABDOMEN [0-9.]+mm", min_frames=20)
    with Xapi(sandbox.url, "admin", "admin") as xapi:
        report = install_commands(xapi, commands, ["LIVER"], scan_rule=rule)
        assert not report.changed, "the same rule again changes nothing"
        ids = report.command_ids
        infer = _config(xapi, ids["xnat-monai-infer-cpu"], "monai-segment-session-cpu")
        assert infer["inputs"]["scan"]["matcher"] == rule.matcher()
        train = _config(xapi, ids["xnat-monai-train-cpu"], "monai-train-project-cpu")
        assert {k: train["inputs"][k]["default-value"] for k in rule.input_values()} == {
            "scan-description": "ABDOMEN [0-9.]+mm",
            "scan-type": "",
            "min-frames": "20",
            "max-frames": "0",
        }
        evaluate = _config(
            xapi, ids["xnat-monai-evaluate-session-cpu"], "monai-evaluate-session-cpu"
        )
        assert "scan" not in (evaluate.get("inputs") or {}) or not evaluate["inputs"]["scan"].get(
            "matcher"
        )
    capsys.readouterr()


def test_a_scan_rule_xnat_would_refuse_stops_the_install_in_one_line(sandbox, tmp_path, caplog):
    make_project(sandbox, "LIVER")
    code, errors = run_cli(
        ["install", "--xnat", sandbox.url, "--user", "admin", "--password", "admin",
         "--project", "LIVER", "--commands-dir", str(write_cpu_commands(tmp_path / "c")),
         "--scan-rule", "scan-description=(AX|ABD).*"],
        caplog,
    )  # fmt: skip
    assert code == 2
    assert len(errors) == 1 and "XNAT refuses input values" in errors[0]
    with Xapi(sandbox.url, "admin", "admin") as xapi:
        assert xapi.get_json("/xapi/commands", what="list") == [], "nothing was registered"
