"""Event buses and their rules: the ``BusStore`` protocol and its SQLite implementation.

A rule is stored whole (pattern or schedule, state, targets, tags) as one JSON
document: PutTargets and RemoveTargets rewrite the rule in one transaction, so a
rule's targets are never half-changed. The store validates nothing
(``services/events`` does).

A delivery that failed and waits for its retry (a target's RetryPolicy) is a row
of ``events_retries``: the event, the rule and target it owes, the retries made and
when the next is due, so a retry survives a restart.
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
CREATE TABLE IF NOT EXISTS events_retries (
    id          TEXT PRIMARY KEY,
    due_at      REAL NOT NULL,
    document    BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS events_retries_due ON events_retries (due_at);
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


@dataclass(slots=True)
class RetryRecord:
    id: str
    bus: str
    rule: str
    target_id: str
    event: dict[str, Any]
    retries: int
    """Retries made so far (the first delivery is not one)."""
    first_failed_at: float
    """When the event first failed to reach the target (its age counts from it)."""
    due_at: float
    last_error: str


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

    def put_retry(self, retry: RetryRecord) -> None:
        """Create or replace the pending retry ``retry.id``."""
        ...

    def due_retries(self, now: float, limit: int) -> list[RetryRecord]:
        """Up to ``limit`` pending retries due at ``now``, the earliest first."""
        ...

    def next_retry_at(self) -> float | None:
        """When the earliest pending retry is due (None: none pending)."""
        ...

    def delete_retry(self, retry_id: str) -> None: ...


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

    def put_retry(self, retry: RetryRecord) -> None:
        with self._db.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO events_retries VALUES (?, ?, ?)",
                (retry.id, retry.due_at, orjson.dumps(asdict(retry))),
            )

    def due_retries(self, now: float, limit: int) -> list[RetryRecord]:
        rows = self._db.read(
            "SELECT document FROM events_retries WHERE due_at <= ? ORDER BY due_at LIMIT ?", (now, limit)
        )
        return [RetryRecord(**orjson.loads(doc)) for (doc,) in rows]

    def next_retry_at(self) -> float | None:
        rows = self._db.read("SELECT MIN(due_at) FROM events_retries")
        return None if not rows or rows[0][0] is None else float(rows[0][0])

    def delete_retry(self, retry_id: str) -> None:
        with self._db.transaction() as db:
            db.execute("DELETE FROM events_retries WHERE id = ?", (retry_id,))
