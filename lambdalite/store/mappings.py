"""Event source mappings: the ``MappingStore`` protocol and its SQLite implementation.

A mapping is kept as one JSON document (its configuration as lambdalite models
it, ``esm.model.EventSourceMapping.to_document``) plus its tags; the store does
not interpret either. A stream mapping's checkpoint (the position its poller
goes on from) is a row of its own, written after each batch. A write is atomic:
a failed one leaves the previous row intact.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import orjson

from lambdalite.store.sqlite import SqliteDatabase

_SCHEMA = """
CREATE TABLE IF NOT EXISTS event_source_mappings (
    uuid      TEXT PRIMARY KEY,
    document  BLOB NOT NULL,
    tags      BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS event_source_checkpoints (
    uuid      TEXT PRIMARY KEY,
    position  TEXT NOT NULL
);
"""


class MappingStore(Protocol):
    """Durable event source mappings by UUID."""

    def put_mapping(self, uuid: str, document: Mapping[str, Any], tags: Mapping[str, str]) -> None:
        """Insert or replace the mapping ``uuid``."""
        ...

    def delete_mapping(self, uuid: str) -> None:
        """Forget the mapping and its checkpoint (a missing one is no error)."""
        ...

    def checkpoint(self, uuid: str) -> str | None:
        """Where a stream mapping's poller goes on from (the last record it finished)."""
        ...

    def put_checkpoint(self, uuid: str, position: str) -> None: ...

    def all_mappings(self) -> list[tuple[dict[str, Any], dict[str, str]]]:
        """Every mapping's (document, tags), in UUID order."""
        ...


class SqliteMappingStore:
    """``MappingStore`` in the table ``event_source_mappings``."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db
        db.ensure_schema(_SCHEMA)

    def put_mapping(self, uuid: str, document: Mapping[str, Any], tags: Mapping[str, str]) -> None:
        with self._db.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO event_source_mappings (uuid, document, tags) VALUES (?, ?, ?)",
                (uuid, orjson.dumps(dict(document)), orjson.dumps(dict(tags))),
            )

    def delete_mapping(self, uuid: str) -> None:
        with self._db.transaction() as db:
            db.execute("DELETE FROM event_source_mappings WHERE uuid = ?", (uuid,))
            db.execute("DELETE FROM event_source_checkpoints WHERE uuid = ?", (uuid,))

    def checkpoint(self, uuid: str) -> str | None:
        rows = self._db.read("SELECT position FROM event_source_checkpoints WHERE uuid = ?", (uuid,))
        return str(rows[0][0]) if rows else None

    def put_checkpoint(self, uuid: str, position: str) -> None:
        with self._db.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO event_source_checkpoints (uuid, position) VALUES (?, ?)",
                (uuid, position),
            )

    def all_mappings(self) -> list[tuple[dict[str, Any], dict[str, str]]]:
        return [
            (dict(orjson.loads(document)), dict(orjson.loads(tags)))
            for document, tags in self._db.read(
                "SELECT document, tags FROM event_source_mappings ORDER BY uuid"
            )
        ]
