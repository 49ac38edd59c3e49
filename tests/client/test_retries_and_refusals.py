"""Transient server failures are retried; refusals end in one clear line; secrets stay out."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.client.failing_server import Script, failing_server
from xnat_plugin.client import RetryPolicy, connect
from xnat_plugin.client.transfer import upload_file
from xnat_plugin.errors import UserError

QUICK = RetryPolicy(attempts=4, first_delay_s=0.01)


def test_listing_succeeds_after_two_injected_503s() -> None:
    script = Script(fail_first=2, answer={"ResultSet": {"Result": [{"ID": "P1"}]}})
    with failing_server(script) as url:
        client = connect(url, "admin", "s3cret", retry=QUICK, check=False)
        rows = client.result_rows("/data/projects")
    assert rows == [{"ID": "P1"}]
    assert len(script.requests) == 3


def test_file_upload_is_resent_whole_after_a_502(tmp_path: Path) -> None:
    payload = bytes(range(256)) * 100
    source = tmp_path / "slice.dcm"
    source.write_bytes(payload)
    script = Script(fail_first=1, fail_status=502, answer="")
    with failing_server(script) as url:
        client = connect(url, "admin", "s3cret", retry=QUICK, check=False)
        upload_file(client, "/data/experiments/E1/scans/1", "DICOM", "a/slice.dcm", source)
    assert [method for method, *_ in script.requests] == ["PUT", "PUT"]
    assert script.requests[-1][2] == payload
    assert script.requests[-1][1].startswith(
        "/data/experiments/E1/scans/1/resources/DICOM/files/a/slice.dcm?"
    )


def test_persistent_5xx_gives_up_with_one_line_after_all_attempts() -> None:
    script = Script(fail_first=100, fail_status=500)
    with failing_server(script) as url:
        client = connect(url, "admin", "s3cret", retry=QUICK, check=False)
        with pytest.raises(UserError, match="gave up after 4 attempts"):
            client.get_json("/data/projects")
    assert len(script.requests) == 4


def test_client_errors_are_not_retried() -> None:
    script = Script(status=400, answer="bad field")
    with failing_server(script) as url:
        client = connect(url, "admin", "s3cret", retry=QUICK, check=False)
        with pytest.raises(UserError, match="answered 400"):
            client.get_json("/data/projects")
    assert len(script.requests) == 1


def test_wrong_password_is_a_user_error_naming_url_and_user() -> None:
    script = Script(status=401)
    with failing_server(script) as url, pytest.raises(UserError) as caught:
        connect(url, "alice", "wrong", retry=QUICK)
    assert str(caught.value) == (
        f"XNAT at {url} refused the credentials for user alice (401): "
        "check --user/--password or ~/.netrc"
    )


def test_unreachable_server_is_a_user_error() -> None:
    with failing_server(Script()) as url:
        pass  # closed again: nothing listens on that port now
    with pytest.raises(UserError, match="cannot reach XNAT"):
        connect(url, "admin", "s3cret", retry=RetryPolicy(attempts=2, first_delay_s=0.01))


def test_password_reaches_the_server_but_no_log_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    script = Script(fail_first=1)
    with failing_server(script) as url:
        client = connect(url, "admin", "pa55-word-xyz", retry=QUICK)
        client.result_rows("/data/projects")
        assert "pa55-word-xyz" not in repr(client)
    assert script.requests[0][3].startswith("Basic ")
    assert "pa55-word-xyz" not in caplog.text
    assert "retrying" in caplog.text


def test_a_post_is_not_repeated_after_a_500_that_may_have_done_the_work() -> None:
    script = Script(fail_first=1, fail_status=500)
    with failing_server(script) as url:
        client = connect(url, "admin", "s3cret", retry=QUICK, check=False)
        with pytest.raises(UserError, match="answered 500"):
            client.post("/xapi/projects/P/commands/1/wrappers/w/root/session/launch")
    assert len(script.requests) == 1


def test_a_post_is_repeated_after_a_503_that_refused_it() -> None:
    script = Script(fail_first=2, fail_status=503)
    with failing_server(script) as url:
        client = connect(url, "admin", "s3cret", retry=QUICK, check=False)
        client.post("/xapi/projects/P/commands/1/wrappers/w/root/session/launch")
    assert [method for method, *_ in script.requests] == ["POST"] * 3
