"""Access keys: the ``AccessKeyStore`` protocol and its SQLite implementation.

The store keeps each secret only as the ciphertext it is given (``auth.secrets.SecretBox``
encrypts it before it reaches here); it never sees a secret in the clear.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from lambdalite.store.sqlite import SqliteDatabase

_SCHEMA = """
CREATE TABLE IF NOT EXISTS access_keys (
    access_key_id  TEXT PRIMARY KEY,
    user_name      TEXT NOT NULL,
    secret         BLOB NOT NULL,
    created_at     REAL NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class StoredKey:
    access_key_id: str
    user_name: str
    encrypted_secret: bytes
    created_at: float
    """Epoch seconds."""


class AccessKeyStore(Protocol):
    """Durable access keys. Each write is atomic."""

    def put_key(self, key: StoredKey) -> None:
        """Add a key (an existing id is replaced)."""
        ...

    def delete_key(self, access_key_id: str) -> bool:
        """Remove a key; False when there was none with that id."""
        ...

    def all_keys(self) -> list[StoredKey]:
        """Every key, oldest first."""
        ...


class SqliteAccessKeyStore:
    """``AccessKeyStore`` in the table ``access_keys``."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db
        db.ensure_schema(_SCHEMA)

    def put_key(self, key: StoredKey) -> None:
        with self._db.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO access_keys (access_key_id, user_name, secret, created_at) "
                "VALUES (?, ?, ?, ?)",
                (key.access_key_id, key.user_name, key.encrypted_secret, key.created_at),
            )

    def delete_key(self, access_key_id: str) -> bool:
        with self._db.transaction() as db:
            cursor = db.execute("DELETE FROM access_keys WHERE access_key_id = ?", (access_key_id,))
            return cursor.rowcount > 0

    def all_keys(self) -> list[StoredKey]:
        rows = self._db.read(
            "SELECT access_key_id, user_name, secret, created_at FROM access_keys "
            "ORDER BY created_at, access_key_id"
        )
        return [StoredKey(str(a), str(u), bytes(s), float(c)) for a, u, s, c in rows]
