"""IAM's durable state: the ``IamStore`` protocol and its SQLite implementation.

Entities (users, roles, customer managed policies) are records by (kind, name);
a policy's name here is its ARN. Inline policies belong to an owner (a user or a
role); attachments tie an owner to a managed policy's ARN. Temporary credentials
(``sts:AssumeRole``, execution roles) are kept with their secret sealed, as access
keys are (``auth.secrets.SecretBox``): the store never sees a secret in the clear.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

import orjson

from lambdalite.store.sqlite import SqliteDatabase

Kind = Literal["user", "role", "policy"]
Owner = Literal["user", "role"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS iam_entities (
    kind    TEXT NOT NULL,
    name    TEXT NOT NULL,
    record  BLOB NOT NULL,
    PRIMARY KEY (kind, name)
);
CREATE TABLE IF NOT EXISTS iam_inline_policies (
    owner_kind  TEXT NOT NULL,
    owner       TEXT NOT NULL,
    name        TEXT NOT NULL,
    document    TEXT NOT NULL,
    PRIMARY KEY (owner_kind, owner, name)
);
CREATE TABLE IF NOT EXISTS iam_attachments (
    owner_kind  TEXT NOT NULL,
    owner       TEXT NOT NULL,
    policy_arn  TEXT NOT NULL,
    PRIMARY KEY (owner_kind, owner, policy_arn)
);
CREATE TABLE IF NOT EXISTS sts_sessions (
    access_key_id  TEXT PRIMARY KEY,
    secret         BLOB NOT NULL,
    session_token  TEXT NOT NULL,
    principal_arn  TEXT NOT NULL,
    expires_at     REAL NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class StoredSession:
    """Temporary credentials: the secret sealed, the principal they act as."""

    access_key_id: str
    encrypted_secret: bytes
    session_token: str
    principal_arn: str
    """``arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION``."""
    expires_at: float


class IamStore(Protocol):
    """Durable IAM state. Every write is atomic."""

    def put_entity(self, kind: Kind, name: str, record: dict[str, Any]) -> None:
        """Add or replace an entity's record."""
        ...

    def get_entity(self, kind: Kind, name: str) -> dict[str, Any] | None: ...

    def delete_entity(self, kind: Kind, name: str) -> bool:
        """Remove an entity, its inline policies and its attachments; False when absent."""
        ...

    def entities(self, kind: Kind) -> list[dict[str, Any]]:
        """Every record of ``kind``, ordered by name."""
        ...

    def put_inline(self, kind: Owner, owner: str, name: str, document: str) -> None: ...

    def get_inline(self, kind: Owner, owner: str, name: str) -> str | None: ...

    def delete_inline(self, kind: Owner, owner: str, name: str) -> bool: ...

    def inline(self, kind: Owner, owner: str) -> list[tuple[str, str]]:
        """(name, document) of each inline policy of ``owner``, ordered by name."""
        ...

    def attach(self, kind: Owner, owner: str, policy_arn: str) -> None: ...

    def detach(self, kind: Owner, owner: str, policy_arn: str) -> bool: ...

    def attached(self, kind: Owner, owner: str) -> list[str]:
        """The ARNs of the managed policies attached to ``owner``, ordered."""
        ...

    def attachment_count(self, policy_arn: str) -> int: ...

    def put_session(self, session: StoredSession) -> None: ...

    def sessions(self) -> list[StoredSession]: ...

    def delete_sessions_before(self, epoch: float) -> int:
        """Forget credentials that expired before ``epoch``; how many were removed."""
        ...


class SqliteIamStore:
    """``IamStore`` in the tables ``iam_*`` and ``sts_sessions``."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db
        db.ensure_schema(_SCHEMA)

    def put_entity(self, kind: Kind, name: str, record: dict[str, Any]) -> None:
        with self._db.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO iam_entities (kind, name, record) VALUES (?, ?, ?)",
                (kind, name, orjson.dumps(record)),
            )

    def get_entity(self, kind: Kind, name: str) -> dict[str, Any] | None:
        rows = self._db.read("SELECT record FROM iam_entities WHERE kind = ? AND name = ?", (kind, name))
        return dict(orjson.loads(rows[0][0])) if rows else None

    def delete_entity(self, kind: Kind, name: str) -> bool:
        with self._db.transaction() as db:
            cursor = db.execute("DELETE FROM iam_entities WHERE kind = ? AND name = ?", (kind, name))
            db.execute("DELETE FROM iam_inline_policies WHERE owner_kind = ? AND owner = ?", (kind, name))
            db.execute("DELETE FROM iam_attachments WHERE owner_kind = ? AND owner = ?", (kind, name))
            return cursor.rowcount > 0

    def entities(self, kind: Kind) -> list[dict[str, Any]]:
        rows = self._db.read("SELECT record FROM iam_entities WHERE kind = ? ORDER BY name", (kind,))
        return [dict(orjson.loads(row[0])) for row in rows]

    def put_inline(self, kind: Owner, owner: str, name: str, document: str) -> None:
        with self._db.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO iam_inline_policies (owner_kind, owner, name, document) "
                "VALUES (?, ?, ?, ?)",
                (kind, owner, name, document),
            )

    def get_inline(self, kind: Owner, owner: str, name: str) -> str | None:
        rows = self._db.read(
            "SELECT document FROM iam_inline_policies WHERE owner_kind = ? AND owner = ? AND name = ?",
            (kind, owner, name),
        )
        return str(rows[0][0]) if rows else None

    def delete_inline(self, kind: Owner, owner: str, name: str) -> bool:
        with self._db.transaction() as db:
            cursor = db.execute(
                "DELETE FROM iam_inline_policies WHERE owner_kind = ? AND owner = ? AND name = ?",
                (kind, owner, name),
            )
            return cursor.rowcount > 0

    def inline(self, kind: Owner, owner: str) -> list[tuple[str, str]]:
        rows = self._db.read(
            "SELECT name, document FROM iam_inline_policies WHERE owner_kind = ? AND owner = ? ORDER BY name",
            (kind, owner),
        )
        return [(str(name), str(document)) for name, document in rows]

    def attach(self, kind: Owner, owner: str, policy_arn: str) -> None:
        with self._db.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO iam_attachments (owner_kind, owner, policy_arn) VALUES (?, ?, ?)",
                (kind, owner, policy_arn),
            )

    def detach(self, kind: Owner, owner: str, policy_arn: str) -> bool:
        with self._db.transaction() as db:
            cursor = db.execute(
                "DELETE FROM iam_attachments WHERE owner_kind = ? AND owner = ? AND policy_arn = ?",
                (kind, owner, policy_arn),
            )
            return cursor.rowcount > 0

    def attached(self, kind: Owner, owner: str) -> list[str]:
        rows = self._db.read(
            "SELECT policy_arn FROM iam_attachments WHERE owner_kind = ? AND owner = ? ORDER BY policy_arn",
            (kind, owner),
        )
        return [str(row[0]) for row in rows]

    def attachment_count(self, policy_arn: str) -> int:
        rows = self._db.read("SELECT COUNT(*) FROM iam_attachments WHERE policy_arn = ?", (policy_arn,))
        return int(rows[0][0])

    def put_session(self, session: StoredSession) -> None:
        with self._db.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO sts_sessions "
                "(access_key_id, secret, session_token, principal_arn, expires_at) VALUES (?, ?, ?, ?, ?)",
                (
                    session.access_key_id,
                    session.encrypted_secret,
                    session.session_token,
                    session.principal_arn,
                    session.expires_at,
                ),
            )

    def sessions(self) -> list[StoredSession]:
        rows = self._db.read(
            "SELECT access_key_id, secret, session_token, principal_arn, expires_at FROM sts_sessions"
        )
        return [StoredSession(str(a), bytes(s), str(t), str(p), float(e)) for a, s, t, p, e in rows]

    def delete_sessions_before(self, epoch: float) -> int:
        with self._db.transaction() as db:
            return db.execute("DELETE FROM sts_sessions WHERE expires_at < ?", (epoch,)).rowcount
