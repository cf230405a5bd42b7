"""Event buses and their rules: the ``BusStore`` protocol and its SQLite implementation.

A rule is stored whole (pattern or schedule, state, targets, tags) as one JSON
document: PutTargets and RemoveTargets rewrite the rule in one transaction, so a
rule's targets are never half-changed. The store validates nothing
(``services/events`` does).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import orjson

from lambdalite.store.sqlite import SqliteDatabase

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events_buses (
    name        TEXT PRIMARY KEY,
    document    BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS events_rules (
    bus         TEXT NOT NULL,
    name        TEXT NOT NULL,
    document    BLOB NOT NULL,
    PRIMARY KEY (bus, name)
);
"""


@dataclass(slots=True)
class BusRecord:
    name: str
    created: float
    modified: float
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class RuleRecord:
    name: str
    bus: str
    created: float
    state: str = "ENABLED"
    """ENABLED, DISABLED or ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS."""
    event_pattern: str | None = None
    schedule: str | None = None
    description: str | None = None
    role_arn: str | None = None
    targets: list[dict[str, Any]] = field(default_factory=list)
    """As PutTargets takes them (``{"Id":..., "Arn":..., "InputTransformer": {...}}``)."""
    tags: dict[str, str] = field(default_factory=dict)


class BusStore(Protocol):
    def buses(self) -> list[BusRecord]: ...

    def rules(self) -> list[RuleRecord]: ...

    def put_bus(self, bus: BusRecord) -> None:
        """Create or replace the bus ``bus.name``."""
        ...

    def delete_bus(self, name: str) -> None:
        """Delete the bus and its rules."""
        ...

    def put_rule(self, rule: RuleRecord) -> None:
        """Create or replace the rule ``(rule.bus, rule.name)`` with its targets."""
        ...

    def delete_rule(self, bus: str, name: str) -> None: ...


class SqliteBusStore:
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db
        db.ensure_schema(_SCHEMA)

    def buses(self) -> list[BusRecord]:
        return [
            BusRecord(**orjson.loads(doc)) for (doc,) in self._db.read("SELECT document FROM events_buses")
        ]

    def rules(self) -> list[RuleRecord]:
        rows = self._db.read("SELECT document FROM events_rules ORDER BY bus, name")
        return [RuleRecord(**orjson.loads(doc)) for (doc,) in rows]

    def put_bus(self, bus: BusRecord) -> None:
        with self._db.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO events_buses VALUES (?, ?)", (bus.name, orjson.dumps(asdict(bus)))
            )

    def delete_bus(self, name: str) -> None:
        with self._db.transaction() as db:
            db.execute("DELETE FROM events_rules WHERE bus = ?", (name,))
            db.execute("DELETE FROM events_buses WHERE name = ?", (name,))

    def put_rule(self, rule: RuleRecord) -> None:
        with self._db.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO events_rules VALUES (?, ?, ?)",
                (rule.bus, rule.name, orjson.dumps(asdict(rule))),
            )

    def delete_rule(self, bus: str, name: str) -> None:
        with self._db.transaction() as db:
            db.execute("DELETE FROM events_rules WHERE bus = ? AND name = ?", (bus, name))
