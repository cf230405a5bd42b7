"""Secrets Manager's secrets: one row per secret, its metadata in the clear (names,
dates, version stages) and its versions' values sealed with the data directory's
key (``auth.secrets.SecretBox``), so no value is readable in ``lambdalite.db``.
The ``SecretStore`` protocol and its SQLite implementation.
"""

from __future__ import annotations

from typing import Any, Protocol

import orjson

from lambdalite.auth.secrets import SecretBox
from lambdalite.store.sqlite import SqliteDatabase

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sm_secrets (
    arn TEXT PRIMARY KEY,
    record BLOB NOT NULL,
    sealed BLOB NOT NULL
);
"""


class SecretStore(Protocol):
    def put_secret(self, arn: str, record: dict[str, Any], values: dict[str, Any]) -> None:
        """Write (or replace) one secret: ``record`` its metadata, ``values`` its
        versions' values (JSON-able), which are sealed."""
        ...

    def delete_secret(self, arn: str) -> None: ...

    def all_secrets(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """Every secret's (record, values), in the order they were created."""
        ...


class SqliteSecretStore:
    """``SecretStore`` in one table of the shared database."""

    def __init__(self, db: SqliteDatabase, box: SecretBox) -> None:
        self._db = db
        self._box = box
        db.ensure_schema(_SCHEMA)

    def put_secret(self, arn: str, record: dict[str, Any], values: dict[str, Any]) -> None:
        sealed = self._box.seal(orjson.dumps(values), f"secretsmanager:{arn}")
        with self._db.transaction() as db:
            # An upsert keeps the rowid: secrets are listed in the order they were created.
            db.execute(
                "INSERT INTO sm_secrets (arn, record, sealed) VALUES (?, ?, ?) "
                "ON CONFLICT (arn) DO UPDATE SET record = excluded.record, sealed = excluded.sealed",
                (arn, orjson.dumps(record), sealed),
            )

    def delete_secret(self, arn: str) -> None:
        with self._db.transaction() as db:
            db.execute("DELETE FROM sm_secrets WHERE arn = ?", (arn,))

    def all_secrets(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        found = []
        for arn, record, sealed in self._db.read("SELECT arn, record, sealed FROM sm_secrets ORDER BY rowid"):
            values = orjson.loads(self._box.unseal(bytes(sealed), f"secretsmanager:{arn}"))
            found.append((orjson.loads(record), values))
        return found
