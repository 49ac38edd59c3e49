"""Credentials come from flags, then the environment, then ~/.netrc, and never reach a log."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from xnat_plugin.client.credentials import resolve_credentials
from xnat_plugin.errors import UserError

URL = "http://xnat.example.org:8080"


@pytest.fixture
def netrc_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "netrc"
    path.write_text("machine xnat.example.org login netrc-user password netrc-secret\n")
    path.chmod(0o600)
    monkeypatch.setenv("NETRC", str(path))
    monkeypatch.delenv("XNAT_USER", raising=False)
    monkeypatch.delenv("XNAT_PASS", raising=False)
    return path


def test_flags_win_over_environment_and_netrc(
    netrc_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XNAT_USER", "env-user")
    monkeypatch.setenv("XNAT_PASS", "env-secret")
    found = resolve_credentials(URL, "flag-user", "flag-secret")
    assert (found.user, found.password, found.source) == ("flag-user", "flag-secret", "flags")


def test_environment_wins_over_netrc(netrc_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XNAT_USER", "env-user")
    monkeypatch.setenv("XNAT_PASS", "env-secret")
    found = resolve_credentials(URL)
    assert (found.user, found.password, found.source) == ("env-user", "env-secret", "environment")


def test_netrc_is_used_for_the_host_when_nothing_else_is_given(netrc_file: Path) -> None:
    found = resolve_credentials(URL)
    assert (found.user, found.password, found.source) == ("netrc-user", "netrc-secret", "netrc")


def test_a_user_flag_alone_does_not_take_someone_elses_password(netrc_file: Path) -> None:
    with pytest.raises(UserError, match="for user alice"):
        resolve_credentials(URL, user="alice")


def test_a_user_flag_alone_matches_the_netrc_entry_of_that_user(netrc_file: Path) -> None:
    assert resolve_credentials(URL, user="netrc-user").password == "netrc-secret"


def test_no_source_says_all_three_ways_to_give_credentials(netrc_file: Path) -> None:
    with pytest.raises(UserError) as caught:
        resolve_credentials("http://other.host")
    message = str(caught.value)
    assert "--user" in message and "XNAT_USER" in message and "machine other.host" in message


def test_password_is_never_in_repr_str_or_logs(
    netrc_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    found = resolve_credentials(URL, "flag-user", "flag-secret")
    assert "flag-secret" not in repr(found)
    assert "flag-secret" not in str(found)
    assert "flag-user" in caplog.text
    assert "flag-secret" not in caplog.text
