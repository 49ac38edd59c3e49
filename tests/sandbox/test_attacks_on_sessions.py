"""Web sessions (JSESSIONID) end when XNAT ends them: with the alias token they were opened
with, after 15 idle minutes, and no user holds more than 1000.

XNAT: `SiteConfigPreferences.sessionTimeout` ("15 minutes"), applied per session by
`XnatSessionEventPublisher` (`setMaxInactiveInterval`); `SiteConfigPreferences
.concurrentMaxSessions` (1000) with `maxSessionsPreventsLogin` in `SecurityConfig`: the login
past the limit is refused. A cookie-less basic-auth request opens a new session in XNAT too
(`sessionCreationPolicy(IF_REQUIRED)`); those sessions are bounded by the same two rules.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

import pytest
import requests

from xnat_plugin.sandbox import auth
from xnat_plugin.sandbox.server import SandboxServer


def _token(sandbox: SandboxServer) -> tuple[str, str]:
    answer = requests.get(
        f"{sandbox.url}/data/services/tokens/issue", auth=(sandbox.user, sandbox.password)
    ).json()
    return answer["alias"], answer["secret"]


def _via_home(sandbox: SandboxServer, alias: str, secret: str) -> str:
    """What xnatpy does to log in with an alias token: GET / with basic auth."""
    return requests.get(f"{sandbox.url}/", auth=(alias, secret)).cookies["JSESSIONID"]


def _via_services_auth(sandbox: SandboxServer, alias: str, secret: str) -> str:
    return requests.post(
        f"{sandbox.url}/data/services/auth", data={"username": alias, "password": secret}
    ).text


def _via_jsession(sandbox: SandboxServer, alias: str, secret: str) -> str:
    return requests.get(f"{sandbox.url}/data/JSESSION", auth=(alias, secret)).text


OPENERS: dict[str, Callable[[SandboxServer, str, str], str]] = {
    "GET /": _via_home,
    "/data/services/auth": _via_services_auth,
    "/data/JSESSION": _via_jsession,
}


def _works(sandbox: SandboxServer, jsession: str) -> bool:
    answer = requests.get(f"{sandbox.url}/data/projects", cookies={"JSESSIONID": jsession})
    assert answer.status_code in (200, 401), answer.text
    return answer.status_code == 200


def _sql(sandbox: SandboxServer, sql: str, params: tuple[object, ...] = ()) -> None:
    with sqlite3.connect(sandbox.data_dir / "sandbox.db") as conn:
        conn.execute(sql, params)


@pytest.mark.parametrize("opener", sorted(OPENERS))
def test_a_session_opened_with_an_alias_token_dies_with_the_token(
    sandbox: SandboxServer, opener: str
) -> None:
    alias, secret = _token(sandbox)
    jsession = OPENERS[opener](sandbox, alias, secret)
    assert _works(sandbox, jsession)
    gone = requests.get(
        f"{sandbox.url}/data/services/tokens/invalidate/{alias}/{secret}",
        auth=(sandbox.user, sandbox.password),
    )
    assert gone.status_code == 200
    assert not _works(sandbox, jsession)


def test_a_session_opened_with_an_alias_token_dies_when_the_token_expires(
    sandbox: SandboxServer,
) -> None:
    alias, secret = _token(sandbox)
    jsession = _via_home(sandbox, alias, secret)
    assert _works(sandbox, jsession)
    _sql(
        sandbox,
        "UPDATE alias_tokens SET created = ? WHERE alias = ?",
        (time.time() - auth.TOKEN_LIFETIME_S - 1, alias),
    )
    assert not _works(sandbox, jsession)


def test_a_password_session_is_not_touched_by_revoking_a_token(sandbox: SandboxServer) -> None:
    jsession = _via_services_auth(sandbox, sandbox.user, sandbox.password)
    alias, secret = _token(sandbox)
    requests.get(
        f"{sandbox.url}/data/services/tokens/invalidate/{alias}/{secret}",
        auth=(sandbox.user, sandbox.password),
    )
    assert _works(sandbox, jsession)


def test_a_session_idle_for_fifteen_minutes_has_ended(sandbox: SandboxServer) -> None:
    idle = _via_services_auth(sandbox, sandbox.user, sandbox.password)
    busy = _via_services_auth(sandbox, sandbox.user, sandbox.password)
    _sql(sandbox, "UPDATE web_sessions SET last_used = ?", (time.time() - 14 * 60,))
    assert _works(sandbox, busy)  # used within the 15 minutes: its clock starts again
    _sql(
        sandbox,
        "UPDATE web_sessions SET last_used = last_used - 60 WHERE jsession = ?",
        (idle,),
    )
    assert not _works(sandbox, idle)
    assert _works(sandbox, busy)


def test_basic_auth_logins_cannot_pile_up_sessions_without_bound(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(auth, "CONCURRENT_MAX_SESSIONS", 5)
    credentials = (sandbox.user, sandbox.password)
    opened = [requests.get(f"{sandbox.url}/", auth=credentials) for _ in range(5)]
    assert all(r.status_code == 200 and r.cookies.get("JSESSIONID") for r in opened)
    refused = requests.get(f"{sandbox.url}/", auth=credentials)
    assert refused.status_code == 401
    assert refused.text.startswith("Maximum sessions of 5 for this principal exceeded")
    # the sessions already open still work; basic auth without a session too
    assert _works(sandbox, opened[0].cookies["JSESSIONID"])
    assert requests.get(f"{sandbox.url}/data/projects", auth=credentials).status_code == 200
    # logging out of one makes room, and idle ones are cleared when a new one is asked for
    requests.delete(
        f"{sandbox.url}/data/JSESSION", cookies={"JSESSIONID": opened[0].cookies["JSESSIONID"]}
    )
    assert requests.get(f"{sandbox.url}/", auth=credentials).status_code == 200
    _sql(sandbox, "UPDATE web_sessions SET last_used = 0")
    assert requests.get(f"{sandbox.url}/", auth=credentials).status_code == 200
    with sqlite3.connect(sandbox.data_dir / "sandbox.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM web_sessions").fetchone()[0] == 1
