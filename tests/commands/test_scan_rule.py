"""The scan rule: which scan of a session infer segments and train learns from.

Container Service resolves infer's derived `scan` input by filtering the session's scans with
the input's matcher (`CommandResolutionServiceImpl.resolveDerivedWrapperInput` →
`matchChildFromParent`), the project's configuration may replace that matcher
(`CommandConfiguration.CommandInputConfiguration.matcher`), and a required input left with
several values refuses the launch (`CommandResolutionServiceImpl.findResolvedValues`:
`Input "scan"  does not have a unique, resolved value and multiple = true is not set in
command.json.`).
"""

from __future__ import annotations

import pytest

from containers.train.scan_choice import choose_scan
from tests.commands.test_catalogue_resolves import XnatWithModels
from tests.runner.fake_xnat import FakeScan, FakeSession
from xnat_plugin.commands.catalogue import step_commands
from xnat_plugin.commands.catalogue.infer import SCAN_MATCHER
from xnat_plugin.commands.scan_rule import ScanRule
from xnat_plugin.errors import UserError
from xnat_plugin.runner.errors import CommandResolutionError
from xnat_plugin.runner.resolve import resolve_wrapper

DICOM = {"DICOM": ["a.dcm"]}
LOCALIZER = FakeScan("1", "Topogram", DICOM, frames=2, description="Topogram 0.6 T20f")
AXIAL = FakeScan("2", "ABDOMEN", DICOM, frames=40, description="ABDOMEN 5mm")
THIN = FakeScan("3", "ABDOMEN", DICOM, frames=200, description="ABDOMEN 1mm THIN")
THICK = FakeScan("4", "ABDOMEN", DICOM, frames=20, description="ABDOMEN 10mm THICK")
DEMO_RULE = ScanRule(description="ABDOMEN [0-9.]+mm")
UNIQUE_REFUSAL = (
    'Input "scan"  does not have a unique, resolved value and multiple = true is not set in '
    "command.json."
)


def session(*scans: FakeScan) -> FakeSession:
    return FakeSession("XNAT_E00001", "CT_001", scans=list(scans))


def resolve_infer(fake: FakeSession, rule: ScanRule | None = None) -> str:
    """The scan ID infer's command line gets (the project's rule as its configured matcher)."""
    infer, _classifier, _detector = step_commands("infer")
    config = {"inputs": {"scan": {"matcher": rule.matcher()}}} if rule else None
    resolved = resolve_wrapper(
        infer,
        "monai-segment-session",
        "/experiments/XNAT_E00001",
        {"model-name": "organs"},
        XnatWithModels(fake),
        config,
    )
    words = resolved.command_line.split()
    return words[words.index("--scan-id") + 1]


def test_the_default_rule_passes_over_a_localizer() -> None:
    assert ScanRule().matcher() == SCAN_MATCHER
    assert resolve_infer(session(LOCALIZER, AXIAL)) == "2"


def test_several_reconstructions_refuse_the_launch_with_container_services_message() -> None:
    with pytest.raises(CommandResolutionError) as refused:
        resolve_infer(session(LOCALIZER, AXIAL, THIN, THICK))
    assert str(refused.value) == UNIQUE_REFUSAL


def test_a_project_rule_picks_one_of_several_reconstructions() -> None:
    assert resolve_infer(session(LOCALIZER, AXIAL, THIN, THICK), DEMO_RULE) == "2"
    thin_rule = ScanRule(description=".*THIN", min_frames=100)
    assert resolve_infer(session(LOCALIZER, AXIAL, THIN, THICK), thin_rule) == "3"
    by_frames = ScanRule(min_frames=30, max_frames=100)
    assert resolve_infer(session(LOCALIZER, AXIAL, THIN, THICK), by_frames) == "2"


def test_a_rule_no_scan_meets_says_it_could_not_resolve() -> None:
    with pytest.raises(CommandResolutionError, match='Input "scan" could not be resolved'):
        resolve_infer(session(LOCALIZER), DEMO_RULE)


def test_train_picks_the_scan_infer_picks_or_says_why_not() -> None:
    scans = [
        {
            "id": s.id,
            "series-description": s.description,
            "scan-type": s.type,
            "modality": s.modality,
            "frames": s.frames,
            "resources": [{"label": "DICOM"}],
        }
        for s in (LOCALIZER, AXIAL, THIN, THICK)
    ]
    chosen = choose_scan(scans, DEMO_RULE)
    assert chosen.scan is not None and chosen.scan["id"] == "2"
    several = choose_scan(scans, ScanRule())
    assert several.scan is None and "scans 2, 3, 4 all match" in several.reason
    none = choose_scan(scans[:1], ScanRule())
    assert none.scan is None and "no scan matches" in none.reason


def test_the_rule_round_trips_through_the_train_inputs_and_the_cli_syntax() -> None:
    rule = ScanRule(description="AX.*|ABD.*", scan_type="CT", min_frames=20, max_frames=400)
    assert ScanRule.from_input_values(rule.input_values()) == rule
    assert ScanRule.parse(["scan-description=AX.*|ABD.*", "scan-type=CT", "min-frames=20",
                           "max-frames=400"]) == rule  # fmt: skip
    assert ScanRule.parse([]) == ScanRule()


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (["scan-description=(AX|ABD).*"], "XNAT refuses input values"),
        (["scan-description=AX;rm"], "XNAT refuses input values"),
        (["scan-description=it's"], "XNAT refuses input values"),
        (["scan-type=[unclosed"], "not a regular expression"),
        (["min-frames=ten"], "not a whole number"),
        (["min-frames=2.5"], "not a whole number"),
        (["min-frames=50", "max-frames=10"], "no scan could match"),
        (["frames=10"], "unknown scan rule setting"),
        (["description"], "not KEY=VALUE"),
    ],
)
def test_a_rule_xnat_would_refuse_or_that_matches_nothing_is_a_user_error(
    items: list[str], message: str
) -> None:
    with pytest.raises(UserError, match=message):
        ScanRule.parse(items)


def test_a_slash_in_a_pattern_is_escaped_inside_the_jsonpath_regex() -> None:
    from xnat_plugin.runner.matchers import matches

    rule = ScanRule(description="T1/T2 AX", min_frames=0)
    assert r"/T1\/T2 AX/i" in rule.matcher()
    scan = {"modality": "MR", "series-description": "t1/t2 ax", "resources": [{"label": "DICOM"}]}
    assert matches(rule.matcher(), scan)
