"""EventBridge Scheduler's schedules and schedule groups: the ``SchedulerStore``
protocol and its SQLite implementation. Each is one JSON document (what the API
returns, with epoch-second timestamps), written in one transaction."""

from __future__ import annotations

from typing import Any, Protocol

import orjson

from lambdalite.store.sqlite import SqliteDatabase

_SCHEMA = """
CREATE TABLE IF NOT EXISTS scheduler_documents (
    kind      TEXT NOT NULL,
    key       TEXT NOT NULL,
    document  BLOB NOT NULL,
    PRIMARY KEY (kind, key)
);
"""


class SchedulerStore(Protocol):
    def documents(self, kind: str) -> list[dict[str, Any]]:
        """Every document of ``kind`` (``group``, ``schedule``), by key."""
        ...

    def put(self, kind: str, key: str, document: dict[str, Any]) -> None: ...

    def delete(self, kind: str, key: str) -> None: ...


class SqliteSchedulerStore:
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db
        db.ensure_schema(_SCHEMA)

    def documents(self, kind: str) -> list[dict[str, Any]]:
        rows = self._db.read("SELECT document FROM scheduler_documents WHERE kind = ? ORDER BY key", (kind,))
        return [orjson.loads(document) for (document,) in rows]

    def put(self, kind: str, key: str, document: dict[str, Any]) -> None:
        with self._db.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO scheduler_documents VALUES (?, ?, ?)",
                (kind, key, orjson.dumps(document)),
            )

    def delete(self, kind: str, key: str) -> None:
        with self._db.transaction() as db:
            db.execute("DELETE FROM scheduler_documents WHERE kind = ? AND key = ?", (kind, key))
