"""Who is calling: users, hashed passwords, web sessions (JSESSIONID), alias tokens, project roles.

Every request authenticates with HTTP basic auth (a login and password, or an alias token and
its secret) or with the JSESSIONID cookie handed out by `/data/services/auth` and `/data/JSESSION`.
Passwords and token secrets are stored as salted scrypt hashes and never logged.

Web sessions follow XNAT's defaults: they end after 15 minutes without a request
(`SiteConfigPreferences.sessionTimeout`, applied by `XnatSessionEventPublisher` as the
session's max inactive interval), a user holds at most 1000 at once and a login past that is
refused (`concurrentMaxSessions`, `SecurityConfig`: `maxSessionsPreventsLogin`). A session
opened with an alias token ends with the token (invalidated or expired).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from xnat_plugin.sandbox.db import Database

log = logging.getLogger(__name__)

ROLES = {"Owners": "owner", "Members": "member", "Collaborators": "collaborator"}
WRITE_ROLES = {"owner", "member"}
# Alias tokens live two days in XNAT by default.
TOKEN_LIFETIME_S = 48 * 3600
# SiteConfigPreferences.sessionTimeout default "15 minutes": idle time that ends a web session.
SESSION_TIMEOUT_S = 15 * 60
# SiteConfigPreferences.concurrentMaxSessions default 1000, per user.
CONCURRENT_MAX_SESSIONS = 1000
# A session's last use is written at most this often (not on every request).
SESSION_TOUCH_S = 30

# Databases of the sandboxes running in this process, newest last.
_bound_databases: list[Database] = []


@dataclass
class User:
    """The authenticated caller and the projects they may see."""

    login: str
    is_admin: bool = False
    roles: dict[str, str] = field(default_factory=dict)
    # The alias token the caller authenticated with (directly or through its web session).
    alias: str | None = None

    def can_read(self, project: str) -> bool:
        return self.is_admin or project in self.roles

    def can_write(self, project: str) -> bool:
        return self.is_admin or self.roles.get(project) in WRITE_ROLES

    def can_manage(self, project: str) -> bool:
        return self.is_admin or self.roles.get(project) == "owner"


def hash_secret(secret: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=2**14, r=8, p=1)
    return f"scrypt${salt.hex()}${digest.hex()}"


def secret_matches(secret: str, stored: str) -> bool:
    try:
        _, salt_hex, digest_hex = stored.split("$")
    except ValueError:
        return False
    digest = hashlib.scrypt(secret.encode(), salt=bytes.fromhex(salt_hex), n=2**14, r=8, p=1)
    return hmac.compare_digest(digest.hex(), digest_hex)


def bind_database(db: Database) -> None:
    """Make `db` the one `issue_alias_token`/`revoke_alias_token` use when none is given."""
    if db not in _bound_databases:
        _bound_databases.append(db)


def unbind_database(db: Database) -> None:
    """The sandbox of `db` stopped: fall back to the one started before it, if any."""
    if db in _bound_databases:
        _bound_databases.remove(db)


def _database(db: Database | None) -> Database:
    if db is not None:
        return db
    if not _bound_databases:
        raise RuntimeError("no sandbox database: start a sandbox (create_app) first")
    return _bound_databases[-1]


def create_user(
    db: Database, login: str, password: str, *, is_admin: bool = False, **profile: str
) -> bool:
    """Add a user; returns False (and changes nothing) if the login exists."""
    with db.write() as conn:
        if conn.execute("SELECT 1 FROM users WHERE login = ?", (login,)).fetchone():
            return False
        conn.execute(
            "INSERT INTO users (login, password_hash, is_admin, firstname, lastname, email) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                login,
                hash_secret(password),
                int(is_admin),
                profile.get("firstname", ""),
                profile.get("lastname", ""),
                profile.get("email", ""),
            ),
        )
    log.info("created user %s%s", login, " (admin)" if is_admin else "")
    return True


def load_user(db: Database, login: str) -> User | None:
    row = db.query_one("SELECT login, is_admin, enabled FROM users WHERE login = ?", (login,))
    if row is None or not row["enabled"]:
        return None
    roles = {
        r["project"]: r["role"]
        for r in db.query("SELECT project, role FROM project_users WHERE login = ?", (login,))
    }
    return User(login=row["login"], is_admin=bool(row["is_admin"]), roles=roles)


def check_password(db: Database, login: str, password: str) -> User | None:
    row = db.query_one("SELECT password_hash FROM users WHERE login = ?", (login,))
    if row is None or not secret_matches(password, row["password_hash"]):
        return None
    return load_user(db, login)


def issue_alias_token(login: str, db: Database | None = None) -> tuple[str, str]:
    """A new (alias, secret) pair that authenticates as `login`, like XNAT's alias tokens."""
    database = _database(db)
    alias, secret = str(uuid.uuid4()), secrets.token_urlsafe(32)
    with database.write() as conn:
        conn.execute(
            "INSERT INTO alias_tokens (alias, secret_hash, login, created) VALUES (?, ?, ?, ?)",
            (alias, _token_digest(secret), login, time.time()),
        )
    return alias, secret


def revoke_alias_token(alias: str, db: Database | None = None) -> bool:
    """Invalidate the token, and every web session opened with it."""
    with _database(db).write() as conn:
        conn.execute("DELETE FROM web_sessions WHERE alias = ?", (alias,))
        return conn.execute("DELETE FROM alias_tokens WHERE alias = ?", (alias,)).rowcount > 0


def check_alias_token(db: Database, alias: str, secret: str) -> User | None:
    row = db.query_one(
        "SELECT secret_hash, login, created FROM alias_tokens WHERE alias = ?", (alias,)
    )
    if row is None or time.time() - row["created"] > TOKEN_LIFETIME_S:
        return None
    if not hmac.compare_digest(_token_digest(secret), row["secret_hash"]):
        return None
    user = load_user(db, row["login"])
    if user is not None:
        user.alias = alias
    return user


def _alias_alive(db: Database, alias: str) -> bool:
    row = db.query_one("SELECT created FROM alias_tokens WHERE alias = ?", (alias,))
    return row is not None and time.time() - row["created"] <= TOKEN_LIFETIME_S


def _token_digest(secret: str) -> str:
    # Token secrets are 256 random bits: a plain SHA-256 is enough and keeps each request cheap.
    return hashlib.sha256(secret.encode()).hexdigest()


def open_web_session(db: Database, user: User) -> str:
    """A new web session for `user` (tied to its alias token, if it came with one); 401 when
    the user already holds CONCURRENT_MAX_SESSIONS live ones, as XNAT refuses that login."""
    jsession = secrets.token_hex(16).upper()
    now = time.time()
    with db.write() as conn:
        conn.execute("DELETE FROM web_sessions WHERE last_used < ?", (now - SESSION_TIMEOUT_S,))
        held = conn.execute(
            "SELECT COUNT(*) FROM web_sessions WHERE login = ?", (user.login,)
        ).fetchone()[0]
        if held >= CONCURRENT_MAX_SESSIONS:
            raise HTTPException(
                status_code=401,
                detail=f"Maximum sessions of {CONCURRENT_MAX_SESSIONS} for this principal "
                "exceeded: log out of some (DELETE /data/JSESSION) or wait for them to expire",
            )
        conn.execute(
            "INSERT INTO web_sessions (jsession, login, created, last_used, alias) "
            "VALUES (?, ?, ?, ?, ?)",
            (jsession, user.login, now, now, user.alias),
        )
    return jsession


def session_user(db: Database, jsession: str) -> User | None:
    """The user of a live web session; an idle or orphaned one (its alias token gone) ends."""
    row = db.query_one(
        "SELECT login, last_used, alias FROM web_sessions WHERE jsession = ?", (jsession,)
    )
    if row is None:
        return None
    now = time.time()
    if now - row["last_used"] > SESSION_TIMEOUT_S or (
        row["alias"] is not None and not _alias_alive(db, row["alias"])
    ):
        close_web_session(db, jsession)
        return None
    if now - row["last_used"] > SESSION_TOUCH_S:
        with db.write() as conn:
            conn.execute(
                "UPDATE web_sessions SET last_used = ? WHERE jsession = ?", (now, jsession)
            )
    user = load_user(db, row["login"])
    if user is not None:
        user.alias = row["alias"]
    return user


def close_web_session(db: Database, jsession: str) -> None:
    with db.write() as conn:
        conn.execute("DELETE FROM web_sessions WHERE jsession = ?", (jsession,))


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return None
    try:
        login, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return login, password


def authenticate(request: Request) -> User | None:
    """The user behind the request's basic auth or JSESSIONID cookie, or None."""
    db: Database = request.app.state.db
    credentials = _basic_credentials(request)
    if credentials is not None:
        login, password = credentials
        cache: dict[tuple[str, str], str] = request.app.state.credential_cache
        # scrypt costs ~50 ms; remember verified pairs (by digest) so a busy client stays fast.
        key = (login, hashlib.sha256(password.encode()).hexdigest())
        if key in cache:
            return load_user(db, cache[key])
        user = check_alias_token(db, login, password)
        if user is not None:
            return user
        user = check_password(db, login, password)
        if user is not None:
            cache[key] = user.login
        return user
    jsession = request.cookies.get("JSESSIONID")
    if jsession:
        return session_user(db, jsession)
    return None


def current_user(request: Request) -> User:
    """FastAPI dependency: the authenticated user, or 401."""
    user = authenticate(request)
    if user is None:
        raise HTTPException(
            status_code=401,
            detail="Login attempt failed. Please try again.",
            headers={"WWW-Authenticate": 'Basic realm="XNAT"'},
        )
    return user


def forget_credentials(request: Request, login: str) -> None:
    """Drop cached password checks for a login (after a password change)."""
    cache: dict[tuple[str, str], str] = request.app.state.credential_cache
    for key in [k for k, v in cache.items() if v == login]:
        cache.pop(key, None)


# FastAPI parameter type for routes: `user: CurrentUser`.
CurrentUser = Annotated[User, Depends(current_user)]
