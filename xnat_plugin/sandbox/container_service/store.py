"""The container service's own tables in SQLite, beside the sandbox's data: commands,
enablement, project defaults, workflows, containers and event subscriptions.

Commands are kept as their JSON (with XNAT's ids filled in), so what a client posts is what it
reads back; workflows and containers as their rows (`records.py`). One connection per call
under a lock: the routes, the worker pool and the event listener all write from different
threads.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from xnat_plugin.sandbox.container_service.records import ContainerRow, WorkflowRow

SCHEMA = """
CREATE TABLE IF NOT EXISTS commands (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL, image TEXT NOT NULL, version TEXT NOT NULL,
    json TEXT NOT NULL,
    UNIQUE (name, image, version)
);
CREATE TABLE IF NOT EXISTS wrappers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    command_id INTEGER NOT NULL, name TEXT NOT NULL,
    UNIQUE (command_id, name)
);
CREATE TABLE IF NOT EXISTS enabled (
    project TEXT NOT NULL, wrapper_id INTEGER NOT NULL, enabled INTEGER NOT NULL,
    PRIMARY KEY (project, wrapper_id)
);
CREATE TABLE IF NOT EXISTS configs (
    project TEXT NOT NULL, wrapper_id INTEGER NOT NULL, json TEXT NOT NULL,
    PRIMARY KEY (project, wrapper_id)
);
CREATE TABLE IF NOT EXISTS workflows (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    json TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS containers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    json TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS subscriptions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    json TEXT NOT NULL
);
"""

# The site-wide row of `enabled` and `configs` uses this project key.
SITE = ""


class DuplicateCommandError(ValueError):
    """Container Service's refusal of a second command with the same name, image and version."""

    def __init__(self) -> None:
        super().__init__("This command duplicates a command already in the database.")


class ContainerServiceStore:
    """Commands, wrapper enablement, project defaults, containers and subscriptions."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        with self._connect() as db:
            db.executescript(SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            db = sqlite3.connect(self.path, timeout=30)
            db.row_factory = sqlite3.Row
            try:
                with db:
                    yield db
            finally:
                db.close()

    # ---- commands -------------------------------------------------------------------------

    def add_command(self, command: dict[str, Any]) -> dict[str, Any]:
        """Store a new command, giving it and each wrapper an id; refuse a duplicate."""
        name, image = command["name"], command["image"]
        version = str(command.get("version") or "")
        with self._connect() as db:
            exists = db.execute(
                "SELECT 1 FROM commands WHERE name=? AND image=? AND version=?",
                (name, image, version),
            ).fetchone()
            if exists:
                raise DuplicateCommandError()
            cur = db.execute(
                "INSERT INTO commands (name, image, version, json) VALUES (?,?,?,?)",
                (name, image, version, "{}"),
            )
            command_id = int(cur.lastrowid or 0)
            stored = self._with_ids(db, command_id, command)
            db.execute("UPDATE commands SET json=? WHERE id=?", (json.dumps(stored), command_id))
        return stored

    def replace_command(self, command_id: int, command: dict[str, Any]) -> dict[str, Any]:
        """XNAT's `POST /commands/{id}`: same id, wrappers keep their ids by name."""
        with self._connect() as db:
            stored = self._with_ids(db, command_id, command)
            db.execute(
                "UPDATE commands SET name=?, image=?, version=?, json=? WHERE id=?",
                (
                    stored["name"],
                    stored["image"],
                    str(stored.get("version") or ""),
                    json.dumps(stored),
                    command_id,
                ),
            )
        return stored

    @staticmethod
    def _with_ids(
        db: sqlite3.Connection, command_id: int, command: dict[str, Any]
    ) -> dict[str, Any]:
        stored = {k: v for k, v in command.items() if k != "id"}
        stored = {"id": command_id, **stored}
        wrappers = []
        for wrapper in command.get("xnat") or []:
            row = db.execute(
                "SELECT id FROM wrappers WHERE command_id=? AND name=?",
                (command_id, wrapper["name"]),
            ).fetchone()
            if row is None:
                cur = db.execute(
                    "INSERT INTO wrappers (command_id, name) VALUES (?,?)",
                    (command_id, wrapper["name"]),
                )
                wrapper_id = int(cur.lastrowid or 0)
            else:
                wrapper_id = int(row["id"])
            wrappers.append({"id": wrapper_id, **{k: v for k, v in wrapper.items() if k != "id"}})
        stored["xnat"] = wrappers
        return stored

    def commands(self) -> list[dict[str, Any]]:
        with self._connect() as db:
            rows = db.execute("SELECT json FROM commands ORDER BY id").fetchall()
        return [json.loads(r["json"]) for r in rows]

    def command(self, command_id: int) -> dict[str, Any] | None:
        with self._connect() as db:
            row = db.execute("SELECT json FROM commands WHERE id=?", (command_id,)).fetchone()
        return json.loads(row["json"]) if row else None

    def delete_command(self, command_id: int) -> bool:
        with self._connect() as db:
            ids = [
                r["id"]
                for r in db.execute("SELECT id FROM wrappers WHERE command_id=?", (command_id,))
            ]
            for wrapper_id in ids:
                db.execute("DELETE FROM enabled WHERE wrapper_id=?", (wrapper_id,))
                db.execute("DELETE FROM configs WHERE wrapper_id=?", (wrapper_id,))
            db.execute("DELETE FROM wrappers WHERE command_id=?", (command_id,))
            cur = db.execute("DELETE FROM commands WHERE id=?", (command_id,))
        return cur.rowcount > 0

    # ---- enablement and project defaults --------------------------------------------------

    def set_enabled(self, project: str, wrapper_id: int, enabled: bool) -> None:
        with self._connect() as db:
            db.execute(
                "INSERT INTO enabled (project, wrapper_id, enabled) VALUES (?,?,?) "
                "ON CONFLICT (project, wrapper_id) DO UPDATE SET enabled=excluded.enabled",
                (project, wrapper_id, int(enabled)),
            )

    def is_enabled(self, project: str, wrapper_id: int) -> bool:
        with self._connect() as db:
            row = db.execute(
                "SELECT enabled FROM enabled WHERE project=? AND wrapper_id=?",
                (project, wrapper_id),
            ).fetchone()
        return bool(row and row["enabled"])

    def set_config(self, project: str, wrapper_id: int, config: dict[str, Any]) -> None:
        with self._connect() as db:
            db.execute(
                "INSERT INTO configs (project, wrapper_id, json) VALUES (?,?,?) "
                "ON CONFLICT (project, wrapper_id) DO UPDATE SET json=excluded.json",
                (project, wrapper_id, json.dumps(config)),
            )

    def config(self, project: str, wrapper_id: int) -> dict[str, Any] | None:
        with self._connect() as db:
            row = db.execute(
                "SELECT json FROM configs WHERE project=? AND wrapper_id=?", (project, wrapper_id)
            ).fetchone()
        return json.loads(row["json"]) if row else None

    def delete_config(self, project: str, wrapper_id: int) -> None:
        with self._connect() as db:
            db.execute(
                "DELETE FROM configs WHERE project=? AND wrapper_id=?", (project, wrapper_id)
            )

    # ---- workflows and containers --------------------------------------------------------

    def add_workflow(self, **fields: Any) -> WorkflowRow:
        with self._connect() as db:
            cur = db.execute("INSERT INTO workflows (json) VALUES ('{}')")
            row = WorkflowRow(id=int(cur.lastrowid or 0), **fields)
            db.execute(
                "UPDATE workflows SET json=? WHERE id=?", (json.dumps(row.to_record()), row.id)
            )
        return row

    def save_workflow(self, row: WorkflowRow) -> None:
        with self._connect() as db:
            db.execute(
                "UPDATE workflows SET json=? WHERE id=?", (json.dumps(row.to_record()), row.id)
            )

    def workflow(self, workflow_id: int) -> WorkflowRow | None:
        with self._connect() as db:
            got = db.execute("SELECT json FROM workflows WHERE id=?", (workflow_id,)).fetchone()
        return WorkflowRow(id=workflow_id, **json.loads(got["json"])) if got else None

    def workflows(self) -> list[WorkflowRow]:
        with self._connect() as db:
            rows = db.execute("SELECT id, json FROM workflows ORDER BY id").fetchall()
        return [WorkflowRow(id=int(r["id"]), **json.loads(r["json"])) for r in rows]

    def add_container(self, **fields: Any) -> ContainerRow:
        with self._connect() as db:
            cur = db.execute("INSERT INTO containers (json) VALUES ('{}')")
            row = ContainerRow(id=int(cur.lastrowid or 0), **fields)
            db.execute(
                "UPDATE containers SET json=? WHERE id=?", (json.dumps(row.to_record()), row.id)
            )
        return row

    def save_container(self, row: ContainerRow) -> None:
        with self._connect() as db:
            db.execute(
                "UPDATE containers SET json=? WHERE id=?", (json.dumps(row.to_record()), row.id)
            )

    def container(self, container_id: int) -> ContainerRow | None:
        with self._connect() as db:
            got = db.execute("SELECT json FROM containers WHERE id=?", (container_id,)).fetchone()
        return ContainerRow(id=container_id, **json.loads(got["json"])) if got else None

    def containers(self, project: str | None = None) -> list[ContainerRow]:
        with self._connect() as db:
            rows = db.execute("SELECT id, json FROM containers ORDER BY id").fetchall()
        found = [ContainerRow(id=int(r["id"]), **json.loads(r["json"])) for r in rows]
        return [c for c in found if project is None or c.project == project]

    # ---- event subscriptions --------------------------------------------------------------

    def add_subscription(self, name: str, subscription: dict[str, Any]) -> dict[str, Any]:
        with self._connect() as db:
            if db.execute("SELECT 1 FROM subscriptions WHERE name=?", (name,)).fetchone():
                raise ValueError(f"Subscription with name '{name}' already exists.")
            cur = db.execute("INSERT INTO subscriptions (name, json) VALUES (?, '{}')", (name,))
            stored = {"id": int(cur.lastrowid or 0), **subscription}
            db.execute(
                "UPDATE subscriptions SET json=? WHERE id=?", (json.dumps(stored), stored["id"])
            )
        return stored

    def subscriptions(self) -> list[dict[str, Any]]:
        with self._connect() as db:
            rows = db.execute("SELECT json FROM subscriptions ORDER BY id").fetchall()
        return [json.loads(r["json"]) for r in rows]

    def subscription(self, subscription_id: int) -> dict[str, Any] | None:
        with self._connect() as db:
            row = db.execute(
                "SELECT json FROM subscriptions WHERE id=?", (subscription_id,)
            ).fetchone()
        return json.loads(row["json"]) if row else None

    def delete_subscription(self, subscription_id: int) -> bool:
        with self._connect() as db:
            cur = db.execute("DELETE FROM subscriptions WHERE id=?", (subscription_id,))
        return cur.rowcount > 0
