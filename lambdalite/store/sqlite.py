"""The one SQLite database (WAL) that every SQLite store of a data directory shares.

A store implementation (``SqliteFunctionStore``, ``SqliteTagStore``, ...) owns
its tables: it declares them with ``ensure_schema`` when it is built and
touches no other store's tables. Sharing one connection keeps a node at one
file and one writer; every write goes through ``transaction()``, so a rejected
or failed request, or a crash, leaves the previous rows intact.

Only the event loop's thread writes; the connection allows other threads
(``check_same_thread=False``) for reads that are moved off the loop.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lambdalite.errors import StoreError


class SqliteDatabase:
    """One connection to ``lambdalite.db`` with WAL and one-transaction writes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL under WAL: a crash may lose the last commit but never corrupts the database.
            self._db.execute("PRAGMA synchronous=NORMAL")
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open the database at {path}: {exc}") from exc

    def ensure_schema(self, schema: str) -> None:
        """Create a store's tables if they are missing (``CREATE TABLE IF NOT EXISTS``
        statements): an existing database keeps its rows."""
        try:
            self._db.executescript(schema)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot create tables in {self.path}: {exc}") from exc

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: everything in the block commits, or nothing does."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(f"database write failed: {exc}") from exc

    def read(self, query: str, parameters: tuple[Any, ...] = ()) -> list[Any]:
        try:
            return self._db.execute(query, parameters).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"database read failed: {exc}") from exc

    def close(self) -> None:
        self._db.close()
