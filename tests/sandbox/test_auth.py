"""Logging in: basic auth, JSESSION, alias tokens, users and project roles."""

from __future__ import annotations

import requests

from xnat_plugin.sandbox.server import SandboxServer


def test_no_credentials_and_wrong_password_get_401(sandbox: SandboxServer) -> None:
    assert requests.get(f"{sandbox.url}/data/projects").status_code == 401
    wrong = requests.get(f"{sandbox.url}/data/projects", auth=("admin", "not-it"))
    assert wrong.status_code == 401


def test_services_auth_returns_a_session_usable_as_cookie(sandbox: SandboxServer) -> None:
    login = requests.put(
        f"{sandbox.url}/data/services/auth", data={"username": "admin", "password": "admin"}
    )
    assert login.status_code == 200
    jsession = login.text.strip()
    assert login.cookies.get("JSESSIONID") == jsession
    cookies = {"JSESSIONID": jsession}
    who = requests.get(f"{sandbox.url}/data/auth", cookies=cookies)
    assert who.text == "User 'admin' is logged in"
    requests.delete(f"{sandbox.url}/data/JSESSION", cookies=cookies)
    assert requests.get(f"{sandbox.url}/data/auth", cookies=cookies).status_code == 401


def test_services_auth_refuses_a_wrong_password(sandbox: SandboxServer) -> None:
    login = requests.put(
        f"{sandbox.url}/data/services/auth", data={"username": "admin", "password": "x"}
    )
    assert login.status_code == 401


def test_alias_token_authenticates_until_invalidated(sandbox: SandboxServer) -> None:
    token = requests.get(
        f"{sandbox.url}/data/services/tokens/issue", auth=(sandbox.user, sandbox.password)
    ).json()
    alias, secret = token["alias"], token["secret"]
    who = requests.get(f"{sandbox.url}/data/auth", auth=(alias, secret))
    assert who.text == "User 'admin' is logged in"
    gone = requests.get(
        f"{sandbox.url}/data/services/tokens/invalidate/{alias}/{secret}",
        auth=(sandbox.user, sandbox.password),
    )
    assert gone.status_code == 200
    assert requests.get(f"{sandbox.url}/data/auth", auth=(alias, secret)).status_code == 401


def test_issue_alias_token_function_gives_working_credentials(sandbox: SandboxServer) -> None:
    from xnat_plugin.sandbox.auth import issue_alias_token, revoke_alias_token

    alias, secret = issue_alias_token("admin")
    assert requests.get(f"{sandbox.url}/data/projects", auth=(alias, secret)).status_code == 200
    assert revoke_alias_token(alias)
    assert requests.get(f"{sandbox.url}/data/projects", auth=(alias, secret)).status_code == 401


def _make_user(sandbox: SandboxServer, login: str) -> None:
    made = requests.post(
        f"{sandbox.url}/xapi/users",
        json={"username": login, "password": f"{login}-pw", "email": f"{login}@example.org"},
        auth=(sandbox.user, sandbox.password),
    )
    assert made.status_code == 201, made.text


def test_a_user_without_access_is_refused_and_a_member_is_let_in(sandbox: SandboxServer) -> None:
    admin = (sandbox.user, sandbox.password)
    assert requests.put(f"{sandbox.url}/data/projects/SECRET", auth=admin).status_code == 201
    _make_user(sandbox, "alice")
    alice = ("alice", "alice-pw")
    listing = requests.get(f"{sandbox.url}/data/projects?format=json", auth=alice).json()
    assert listing["ResultSet"]["Result"] == []
    assert requests.get(f"{sandbox.url}/data/projects/SECRET", auth=alice).status_code == 403
    refused = requests.put(f"{sandbox.url}/data/projects/SECRET/subjects/s1", auth=alice)
    assert refused.status_code == 403

    added = requests.put(
        f"{sandbox.url}/data/projects/SECRET/users/Collaborators/alice", auth=admin
    )
    assert added.status_code == 200
    assert requests.get(f"{sandbox.url}/data/projects/SECRET", auth=alice).status_code == 200
    # collaborators read, but do not write
    refused = requests.put(f"{sandbox.url}/data/projects/SECRET/subjects/s1", auth=alice)
    assert refused.status_code == 403

    requests.put(f"{sandbox.url}/data/projects/SECRET/users/Members/alice", auth=admin)
    allowed = requests.put(f"{sandbox.url}/data/projects/SECRET/subjects/s1", auth=alice)
    assert allowed.status_code == 201


def test_only_admins_create_users(sandbox: SandboxServer) -> None:
    _make_user(sandbox, "bob")
    refused = requests.post(
        f"{sandbox.url}/xapi/users",
        json={"username": "eve", "password": "x"},
        auth=("bob", "bob-pw"),
    )
    assert refused.status_code == 403


def test_passwords_are_stored_hashed(sandbox: SandboxServer) -> None:
    _make_user(sandbox, "carol")
    stored = b"".join(p.read_bytes() for p in sandbox.data_dir.glob("sandbox.db*"))
    assert b"carol" in stored  # the user is there (database or its write-ahead log) …
    assert b"carol-pw" not in stored  # … but not the password


def test_xnatpy_sees_users_and_project_roles(sandbox: SandboxServer) -> None:
    import xnat

    admin = (sandbox.user, sandbox.password)
    requests.put(f"{sandbox.url}/data/projects/SHARED", auth=admin)
    _make_user(sandbox, "erin")
    with xnat.connect(sandbox.url, user=sandbox.user, password=sandbox.password) as session:
        assert "erin" in session.users
        session.projects["SHARED"].set_access("erin", "Members")
        roles = {
            login: user.data["displayname"]
            for login, user in session.projects["SHARED"].users.items()
        }
        assert roles == {"admin": "Owners", "erin": "Members"}
    with xnat.connect(sandbox.url, user="erin", password="erin-pw") as session:
        assert session.access_levels == {"SHARED": "member"}


def test_alias_tokens_go_to_the_sandbox_still_running(tmp_path) -> None:
    from xnat_plugin.sandbox.auth import issue_alias_token
    from xnat_plugin.sandbox.server import running_sandbox

    with running_sandbox(tmp_path / "outer") as outer:
        with running_sandbox(tmp_path / "inner") as inner:
            alias, secret = issue_alias_token("admin")
            assert requests.get(f"{inner.url}/data/auth", auth=(alias, secret)).ok
        alias, secret = issue_alias_token("admin")
        assert requests.get(f"{outer.url}/data/auth", auth=(alias, secret)).ok


def test_xnatpy_logs_in_with_an_alias_token(sandbox: SandboxServer, caplog) -> None:
    import logging

    import xnat

    from xnat_plugin.sandbox.auth import issue_alias_token

    requests.put(f"{sandbox.url}/data/projects/TOK", auth=(sandbox.user, sandbox.password))
    alias, secret = issue_alias_token(sandbox.user)
    with (
        caplog.at_level(logging.WARNING),
        xnat.connect(sandbox.url, user=alias, password=secret) as session,
    ):
        assert list(session.projects.keys()) == ["TOK"]
    assert not [r for r in caplog.records if "falling back" in r.getMessage()]
