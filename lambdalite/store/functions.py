"""Function configurations in SQLite (WAL), one row per function version.

The store is small on purpose: it persists ``FunctionConfig`` snapshots and
nothing else. Only the registry writes through it, from the event loop's
thread; every write is one transaction, so a rejected or failed request
leaves the previous row intact.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from types import MappingProxyType
from typing import Any

import orjson

from lambdalite.errors import StoreError
from lambdalite.models import FunctionConfig

_SCHEMA = """
CREATE TABLE IF NOT EXISTS function_versions (
    name     TEXT NOT NULL,
    version  TEXT NOT NULL,
    config   BLOB NOT NULL,
    PRIMARY KEY (name, version)
);
"""
_FIELDS = {field.name for field in fields(FunctionConfig)}


def config_to_record(config: FunctionConfig) -> bytes:
    record = {name: getattr(config, name) for name in _FIELDS}
    record["environment"] = dict(config.environment)
    return orjson.dumps(record)


def config_from_record(raw: bytes) -> FunctionConfig:
    record: dict[str, Any] = {k: v for k, v in orjson.loads(raw).items() if k in _FIELDS}
    record["environment"] = MappingProxyType(dict(record.get("environment") or {}))
    record["architectures"] = tuple(record.get("architectures") or ("x86_64",))
    return FunctionConfig(**record)


class FunctionStore:
    """SQLite-backed persistence of function versions."""

    def __init__(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL under WAL: a crash may lose the last commit but never corrupts the database.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open the function database at {path}: {exc}") from exc

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(f"function database write failed: {exc}") from exc

    def put(self, config: FunctionConfig) -> None:
        """Insert or replace one version's snapshot."""
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO function_versions (name, version, config) VALUES (?, ?, ?)",
                (config.name, config.version, config_to_record(config)),
            )

    def delete_function(self, name: str) -> None:
        """Remove every version of a function."""
        with self._transaction() as db:
            db.execute("DELETE FROM function_versions WHERE name = ?", (name,))

    def all_versions(self) -> list[FunctionConfig]:
        try:
            rows = self._db.execute("SELECT config FROM function_versions ORDER BY name, version").fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"function database read failed: {exc}") from exc
        return [config_from_record(row[0]) for row in rows]

    def close(self) -> None:
        self._db.close()
