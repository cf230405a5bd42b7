"""Functions' resource policies: the ``PolicyStore`` protocol and its SQLite implementation.

A function has one policy per qualifier: ``$LATEST`` for the unqualified
function, a version number or an alias name (see ``control.permissions``).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Protocol

import orjson

from lambdalite.models import ResourcePolicy
from lambdalite.store.sqlite import SqliteDatabase

_SCHEMA = """
CREATE TABLE IF NOT EXISTS function_policies (
    name       TEXT NOT NULL,
    qualifier  TEXT NOT NULL,
    record     BLOB NOT NULL,
    PRIMARY KEY (name, qualifier)
);
"""


def policy_to_record(policy: ResourcePolicy) -> bytes:
    return orjson.dumps(
        {"statements": [dict(s) for s in policy.statements], "revision_id": policy.revision_id}
    )


def policy_from_record(name: str, qualifier: str, raw: bytes) -> ResourcePolicy:
    record = orjson.loads(raw)
    statements = tuple(MappingProxyType(dict(s)) for s in record.get("statements") or ())
    return ResourcePolicy(name, qualifier, statements, str(record["revision_id"]))


class PolicyStore(Protocol):
    """Durable resource policies by (function name, qualifier). A write is atomic;
    a failed one leaves the previous policies intact."""

    def put_policy(self, policy: ResourcePolicy) -> None:
        """Replace the qualifier's policy; a policy without statements is removed."""
        ...

    def delete_policies(self, name: str, qualifier: str | None = None) -> None:
        """Remove one qualifier's policy, or (no qualifier) every policy of the function."""
        ...

    def all_policies(self) -> list[ResourcePolicy]:
        """Every policy, ordered by function name then qualifier."""
        ...


class SqlitePolicyStore:
    """``PolicyStore`` in the table ``function_policies``."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db
        db.ensure_schema(_SCHEMA)

    def put_policy(self, policy: ResourcePolicy) -> None:
        if not policy.statements:
            self.delete_policies(policy.function_name, policy.qualifier)
            return
        with self._db.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO function_policies (name, qualifier, record) VALUES (?, ?, ?)",
                (policy.function_name, policy.qualifier, policy_to_record(policy)),
            )

    def delete_policies(self, name: str, qualifier: str | None = None) -> None:
        with self._db.transaction() as db:
            if qualifier is None:
                db.execute("DELETE FROM function_policies WHERE name = ?", (name,))
            else:
                db.execute(
                    "DELETE FROM function_policies WHERE name = ? AND qualifier = ?", (name, qualifier)
                )

    def all_policies(self) -> list[ResourcePolicy]:
        rows = self._db.read("SELECT name, qualifier, record FROM function_policies ORDER BY name, qualifier")
        return [policy_from_record(str(name), str(qualifier), raw) for name, qualifier, raw in rows]
