"""Concurrency settings: the ``ConcurrencyStore`` protocol and its SQLite implementation.

A function's reserved concurrency (PutFunctionConcurrency) and its provisioned
concurrency configs (one per version or alias, PutProvisionedConcurrencyConfig).
"""

from __future__ import annotations

from typing import Protocol

from lambdalite.models import ProvisionedConfig
from lambdalite.store.sqlite import SqliteDatabase

_SCHEMA = """
CREATE TABLE IF NOT EXISTS function_concurrency (
    name      TEXT PRIMARY KEY,
    reserved  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS provisioned_concurrency (
    name           TEXT NOT NULL,
    qualifier      TEXT NOT NULL,
    requested      INTEGER NOT NULL,
    last_modified  TEXT NOT NULL,
    PRIMARY KEY (name, qualifier)
);
"""


class ConcurrencyStore(Protocol):
    """Durable reserved concurrency per function and provisioned concurrency per
    (function, qualifier). A write is atomic; a failed one leaves the previous
    settings intact."""

    def put_reserved(self, name: str, reserved: int | None) -> None:
        """Set (or with None, remove) a function's reserved concurrency."""
        ...

    def reserved(self) -> dict[str, int]:
        """Function name -> reserved concurrent executions."""
        ...

    def put_provisioned(self, config: ProvisionedConfig) -> None:
        """Insert or replace one version's or alias's provisioned concurrency config."""
        ...

    def delete_provisioned(self, name: str, qualifier: str) -> None:
        """Remove one version's or alias's config (none is fine)."""
        ...

    def delete_function(self, name: str) -> None:
        """Remove the function's reservation and all its provisioned configs, atomically."""
        ...

    def all_provisioned(self) -> list[ProvisionedConfig]:
        """Every provisioned concurrency config, ordered by function name then qualifier."""
        ...


class SqliteConcurrencyStore:
    """``ConcurrencyStore`` in the tables ``function_concurrency`` and ``provisioned_concurrency``."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db
        db.ensure_schema(_SCHEMA)

    def put_reserved(self, name: str, reserved: int | None) -> None:
        with self._db.transaction() as db:
            if reserved is None:
                db.execute("DELETE FROM function_concurrency WHERE name = ?", (name,))
            else:
                db.execute(
                    "INSERT OR REPLACE INTO function_concurrency (name, reserved) VALUES (?, ?)",
                    (name, reserved),
                )

    def reserved(self) -> dict[str, int]:
        return {
            str(name): int(n)
            for name, n in self._db.read("SELECT name, reserved FROM function_concurrency ORDER BY name")
        }

    def put_provisioned(self, config: ProvisionedConfig) -> None:
        with self._db.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO provisioned_concurrency "
                "(name, qualifier, requested, last_modified) VALUES (?, ?, ?, ?)",
                (config.function_name, config.qualifier, config.requested, config.last_modified),
            )

    def delete_provisioned(self, name: str, qualifier: str) -> None:
        with self._db.transaction() as db:
            db.execute(
                "DELETE FROM provisioned_concurrency WHERE name = ? AND qualifier = ?", (name, qualifier)
            )

    def delete_function(self, name: str) -> None:
        with self._db.transaction() as db:
            db.execute("DELETE FROM function_concurrency WHERE name = ?", (name,))
            db.execute("DELETE FROM provisioned_concurrency WHERE name = ?", (name,))

    def all_provisioned(self) -> list[ProvisionedConfig]:
        rows = self._db.read(
            "SELECT name, qualifier, requested, last_modified "
            "FROM provisioned_concurrency ORDER BY name, qualifier"
        )
        return [ProvisionedConfig(str(n), str(q), int(r), str(m)) for n, q, r, m in rows]
