"""The sandbox's catalogue: one SQLite file beside the archive, opened once per thread.

SQLite allows one writer at a time; every write runs inside `Database.write()`, which takes a
process-wide lock, so concurrent requests never see "database is locked" and a failed request
rolls back as a whole (nothing half-written). Work that must follow a commit and only a commit
(moving files into the archive) is registered with `on_commit` inside the block.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    login TEXT PRIMARY KEY, password_hash TEXT NOT NULL, is_admin INTEGER NOT NULL DEFAULT 0,
    firstname TEXT DEFAULT '', lastname TEXT DEFAULT '', email TEXT DEFAULT '',
    enabled INTEGER NOT NULL DEFAULT 1);
CREATE TABLE IF NOT EXISTS project_users (
    project TEXT NOT NULL, login TEXT NOT NULL, role TEXT NOT NULL,
    PRIMARY KEY (project, login));
CREATE TABLE IF NOT EXISTS alias_tokens (
    alias TEXT PRIMARY KEY, secret_hash TEXT NOT NULL, login TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS web_sessions (
    jsession TEXT PRIMARY KEY, login TEXT NOT NULL, created REAL NOT NULL,
    last_used REAL NOT NULL DEFAULT 0, alias TEXT);
CREATE TABLE IF NOT EXISTS reconstructions (
    experiment_id TEXT NOT NULL, id TEXT NOT NULL, xsi_type TEXT NOT NULL,
    fields TEXT NOT NULL DEFAULT '{}', PRIMARY KEY (experiment_id, id));
CREATE TABLE IF NOT EXISTS shares (
    kind TEXT NOT NULL, id TEXT NOT NULL, project TEXT NOT NULL, label TEXT NOT NULL,
    PRIMARY KEY (kind, id, project));
CREATE TABLE IF NOT EXISTS saved_searches (
    id TEXT PRIMARY KEY, brief_description TEXT NOT NULL, description TEXT NOT NULL,
    root_element_name TEXT NOT NULL, secure INTEGER NOT NULL, users TEXT NOT NULL,
    xml TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS claimed_ids (kind TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (kind, id));
CREATE TABLE IF NOT EXISTS projects (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, secondary_id TEXT NOT NULL, description TEXT,
    fields TEXT NOT NULL DEFAULT '{}', insert_date TEXT NOT NULL, insert_user TEXT NOT NULL,
    accessibility TEXT NOT NULL DEFAULT 'protected');
CREATE TABLE IF NOT EXISTS arc_projects (
    project TEXT PRIMARY KEY, quarantine_code INTEGER NOT NULL DEFAULT 0,
    prearchive_code INTEGER NOT NULL DEFAULT 4, current_arc TEXT NOT NULL DEFAULT 'arc001');
CREATE TABLE IF NOT EXISTS project_aliases (
    project TEXT NOT NULL, alias TEXT NOT NULL, PRIMARY KEY (project, alias));
CREATE TABLE IF NOT EXISTS subjects (
    id TEXT PRIMARY KEY, project TEXT NOT NULL, label TEXT NOT NULL,
    fields TEXT NOT NULL DEFAULT '{}', insert_date TEXT NOT NULL, insert_user TEXT NOT NULL,
    UNIQUE (project, label));
CREATE TABLE IF NOT EXISTS experiments (
    id TEXT PRIMARY KEY, project TEXT NOT NULL, subject_id TEXT NOT NULL, label TEXT NOT NULL,
    xsi_type TEXT NOT NULL, session_id TEXT, fields TEXT NOT NULL DEFAULT '{}', xml TEXT,
    insert_date TEXT NOT NULL, insert_user TEXT NOT NULL, UNIQUE (project, label));
CREATE TABLE IF NOT EXISTS scans (
    experiment_id TEXT NOT NULL, id TEXT NOT NULL, xsi_type TEXT NOT NULL,
    fields TEXT NOT NULL DEFAULT '{}', PRIMARY KEY (experiment_id, id));
CREATE TABLE IF NOT EXISTS resources (
    id INTEGER PRIMARY KEY AUTOINCREMENT, owner TEXT NOT NULL, label TEXT NOT NULL,
    format TEXT DEFAULT '', content TEXT DEFAULT '', directory TEXT NOT NULL,
    UNIQUE (owner, label));
CREATE TABLE IF NOT EXISTS files (
    resource_id INTEGER NOT NULL, path TEXT NOT NULL, size INTEGER NOT NULL, digest TEXT NOT NULL,
    format TEXT DEFAULT '', content TEXT DEFAULT '', tags TEXT DEFAULT '',
    PRIMARY KEY (resource_id, path));
CREATE TABLE IF NOT EXISTS archive_journal (
    id INTEGER PRIMARY KEY AUTOINCREMENT, action TEXT NOT NULL, source TEXT NOT NULL,
    target TEXT NOT NULL);
"""
# Columns added to a table after its first release: a catalogue made before gets them on open.
ADDED_COLUMNS = (
    ("web_sessions", "last_used", "REAL NOT NULL DEFAULT 0"),
    ("web_sessions", "alias", "TEXT"),
    ("projects", "accessibility", "TEXT NOT NULL DEFAULT 'protected'"),
    ("subjects", "last_modified", "TEXT"),
    ("experiments", "last_modified", "TEXT"),
)


class Database:
    """Thread-local connections to `<data_dir>/sandbox.db` and a lock around writes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._write_lock = threading.RLock()
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._write_lock:
            conn = self.connection()
            conn.executescript(SCHEMA)
            for table, column, declaration in ADDED_COLUMNS:
                present = {row["name"] for row in conn.execute(f"PRAGMA table_info({table})")}
                if column not in present:
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
            # Every subject and experiment ID ever used stays claimed (XNAT keeps them in its
            # *_history tables); catalogues made before this table existed claim what they hold.
            conn.execute(
                "INSERT OR IGNORE INTO claimed_ids (kind, id) SELECT 'subject', id FROM subjects"
            )
            conn.execute(
                "INSERT OR IGNORE INTO claimed_ids (kind, id) "
                "SELECT 'experiment', id FROM experiments"
            )
            conn.execute(
                "INSERT OR IGNORE INTO claimed_ids (kind, id) SELECT 'project', id FROM projects"
            )

    def connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    def query(self, sql: str, params: tuple[object, ...] = ()) -> list[sqlite3.Row]:
        return self.connection().execute(sql, params).fetchall()

    def query_one(self, sql: str, params: tuple[object, ...] = ()) -> sqlite3.Row | None:
        return self.connection().execute(sql, params).fetchone()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One transaction: committed when the block ends, rolled back when it raises. Hooks
        given to `on_commit` inside the block run right after the commit, still holding the
        write lock (so no other write comes between); what they return runs once it is
        released."""
        afterwards: list[Callable[[], None]] = []
        with self._write_lock:
            conn = self.connection()
            if conn.in_transaction:  # nested: the outer block owns the transaction
                yield conn
                return
            self._local.on_commit = []
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                self._local.on_commit = []
                raise
            conn.execute("COMMIT")
            hooks, self._local.on_commit = self._local.on_commit, []
            for hook in hooks:
                later = hook()
                if later is not None:
                    afterwards.append(later)
        for later in afterwards:
            later()

    def on_commit(self, hook: Callable[[], Callable[[], None] | None]) -> None:
        """Run `hook` when the transaction of the enclosing `write()` block commits (never when
        it rolls back)."""
        conn = self.connection()
        if not conn.in_transaction:
            raise RuntimeError("on_commit is only meaningful inside Database.write()")
        self._local.on_commit.append(hook)
