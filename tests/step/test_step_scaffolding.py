"""The scaffolding every step shares (`containers/common/step.py`): outputs all together or not
at all, XNAT from the Container Service's environment, provenance, one line per failure."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from containers.common import step
from containers.common.step import (
    StepRecord,
    report_run_name,
    required_xnat,
    run_step,
    staged_output,
    xnat_from_environment,
)
from xnat_plugin.errors import UserError


def test_staged_outputs_appear_in_the_output_folder_only_when_the_step_succeeds(tmp_path: Path):
    output = tmp_path / "out"
    with staged_output(output) as staging:
        (staging / "REPORT").mkdir()
        (staging / "REPORT" / "report.json").write_text("{}")
        (staging / "assessor.xml").write_text("<x/>")
        assert list(output.iterdir()) == [staging]  # nothing visible yet but the staging folder
    assert sorted(p.name for p in output.iterdir()) == ["REPORT", "assessor.xml"]
    assert (output / "REPORT" / "report.json").read_text() == "{}"


def test_a_failing_step_leaves_its_output_folder_empty(tmp_path: Path):
    output = tmp_path / "out"
    with pytest.raises(UserError, match="disk full"), staged_output(output) as staging:
        (staging / "assessor.xml").write_text("<x/>")
        raise UserError("disk full")
    assert list(output.iterdir()) == []


def test_a_failure_half_way_through_the_moves_takes_back_what_was_moved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    output = tmp_path / "out"
    real_replace = os.replace
    calls = []

    def second_move_fails(source, target):
        calls.append(target)
        if len(calls) == 2:
            raise OSError("device gone")
        real_replace(source, target)

    monkeypatch.setattr(step.os, "replace", second_move_fails)
    with pytest.raises(OSError), staged_output(output) as staging:
        for name in ("a.txt", "b.txt", "c.txt"):
            (staging / name).write_text(name)
    assert list(output.iterdir()) == []


def test_an_output_folder_with_files_is_refused_before_any_work(tmp_path: Path):
    output = tmp_path / "out"
    output.mkdir()
    (output / "old.txt").write_text("x")
    refusal = r"is not empty \(old.txt\); give an empty folder"
    with pytest.raises(UserError, match=refusal), staged_output(output):
        pytest.fail("the step must not start")
    assert sorted(p.name for p in output.iterdir()) == ["old.txt"]


def test_a_named_output_replaces_the_older_one_only_once_complete(tmp_path: Path):
    output = tmp_path / "models"
    (output / "liver" / "configs").mkdir(parents=True)
    (output / "liver" / "configs" / "metadata.json").write_text("old")
    (output / "other").mkdir()
    with pytest.raises(RuntimeError), staged_output(output, into="liver") as staging:
        (staging / "half.pt").write_text("x")
        raise RuntimeError("killed")
    assert (output / "liver" / "configs" / "metadata.json").read_text() == "old"
    with staged_output(output, into="liver") as staging:
        (staging / "new.pt").write_text("y")
    assert sorted(p.name for p in (output / "liver").iterdir()) == ["new.pt"]
    assert sorted(p.name for p in output.iterdir()) == ["liver", "other"]


def test_without_xnat_host_a_step_that_needs_xnat_says_how_to_give_it(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.delenv("XNAT_HOST", raising=False)
    with xnat_from_environment() as client:
        assert client is None
    with pytest.raises(UserError) as refused, required_xnat(None, needed_by="the project mode"):
        pytest.fail("no client without XNAT_HOST")
    message = str(refused.value)
    assert "XNAT_HOST is not set: the project mode reads XNAT" in message
    assert "\n" not in message


def test_a_given_client_is_used_and_left_open_for_its_owner():
    class Client:
        closed = False

        def close(self) -> None:
            self.closed = True

    given = Client()
    with required_xnat(given, needed_by="x") as client:  # type: ignore[arg-type]
        assert client is given
    assert not given.closed


def test_the_step_record_checksums_its_inputs_and_names_the_step(tmp_path: Path):
    scan = tmp_path / "scan"
    scan.mkdir()
    (scan / "1.dcm").write_bytes(b"one")
    (scan / "2.dcm").write_bytes(b"two")
    record = StepRecord("classify")
    record.add_input("scan", scan, uri="/experiments/E1/scans/2")
    record.add_input("missing", tmp_path / "nowhere")
    record.device = "cpu"
    provenance = record.provenance()
    assert provenance.step == "classify" and provenance.device == "cpu"
    assert provenance.inputs["/experiments/E1/scans/2"] == hashlib.sha256(b"onetwo").hexdigest()
    assert provenance.inputs[str(tmp_path / "nowhere")] == ""
    assert provenance.wall_seconds >= 0 and provenance.energy is not None


def test_an_expected_failure_ends_the_step_with_one_line_and_its_exit_code(capsys):
    def fails() -> None:
        raise UserError("scan 3 has no DICOM files: choose another scan", exit_code=3)

    assert run_step("classify", fails) == 3
    assert capsys.readouterr().err == "classify: scan 3 has no DICOM files: choose another scan\n"
    assert run_step("classify", lambda: None) == 0


@pytest.mark.parametrize("hostile", ["..", ".", "a/b", "../up", "", "x" * 129, "a b"])
def test_a_report_run_name_is_one_plain_path_segment(hostile: str):
    """`--run` becomes a folder inside the output mount: `..` or a slash would put the report
    outside it (`/output/..` is the container's root)."""
    if hostile == "":
        assert report_run_name(hostile, "eval").startswith("eval_")  # blank: a timestamp
        return
    with pytest.raises(UserError, match="--run .* may contain only"):
        report_run_name(hostile, "eval")
    assert report_run_name("first.try-2", "eval") == "first.try-2"


def test_the_detection_report_refuses_a_run_outside_its_output(tmp_path: Path, capsys):
    from containers.detection.__main__ import main

    out = tmp_path / "out"
    code = main(["evaluate-project", "--project", "P", "--output", str(out), "--run", ".."])
    assert code == 2
    assert "--run '..' may contain only" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())
