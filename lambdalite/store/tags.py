"""Functions' tags: the ``TagStore`` protocol and its SQLite implementation.

Tags belong to a function (never a version or an alias) and are not part of
its snapshot: changing them creates no revision.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import orjson

from lambdalite.store.sqlite import SqliteDatabase

_SCHEMA = """
CREATE TABLE IF NOT EXISTS function_tags (
    name     TEXT PRIMARY KEY,
    tags     BLOB NOT NULL
);
"""


class TagStore(Protocol):
    """Durable tags per function name. A write is atomic; a failed one leaves the
    previous tags intact."""

    def put_tags(self, name: str, tags: Mapping[str, str]) -> None:
        """Replace the function's tags; no tags removes its entry."""
        ...

    def all_tags(self) -> dict[str, dict[str, str]]:
        """Function name -> its tags, for every function that has any."""
        ...


class SqliteTagStore:
    """``TagStore`` in the table ``function_tags`` (one JSON object per function)."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db
        db.ensure_schema(_SCHEMA)

    def put_tags(self, name: str, tags: Mapping[str, str]) -> None:
        with self._db.transaction() as db:
            if tags:
                db.execute(
                    "INSERT OR REPLACE INTO function_tags (name, tags) VALUES (?, ?)",
                    (name, orjson.dumps(dict(tags))),
                )
            else:
                db.execute("DELETE FROM function_tags WHERE name = ?", (name,))

    def all_tags(self) -> dict[str, dict[str, str]]:
        return {
            str(name): dict(orjson.loads(raw))
            for name, raw in self._db.read("SELECT name, tags FROM function_tags ORDER BY name")
        }
