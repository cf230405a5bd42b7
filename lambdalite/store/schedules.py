"""Schedule timers, their firings and the timer lease: the ``ScheduleStore``
protocol and its SQLite implementation.

A firing is written (with the timer's next time) in one transaction before it is
delivered, and removed once delivered: a crash in between leaves it pending, and
the timer delivers it again at start (at least once; the firing keeps its id,
which becomes the event's id). A firing may be due after its scheduled time
(a Scheduler FlexibleTimeWindow): it waits, recorded, until ``due_at``, so a
restart in between neither loses it nor draws its time again. The lease row names the one node that runs the
timers: a node fires only while its lease is unexpired, and renews it as it runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from lambdalite.store.sqlite import SqliteDatabase

_SCHEMA = """
CREATE TABLE IF NOT EXISTS schedule_timers (
    key         TEXT PRIMARY KEY,
    expression  TEXT NOT NULL,
    zone        TEXT NOT NULL,
    anchor      REAL NOT NULL,
    next_at     REAL
);
CREATE TABLE IF NOT EXISTS schedule_firings (
    id            TEXT PRIMARY KEY,
    key           TEXT NOT NULL,
    scheduled_at  REAL NOT NULL,
    due_at        REAL
);
CREATE TABLE IF NOT EXISTS schedule_leases (
    name    TEXT PRIMARY KEY,
    owner   TEXT NOT NULL,
    until   REAL NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class TimerRow:
    key: str
    expression: str
    zone: str
    anchor: float
    """When the schedule started (rates count their periods from it)."""
    next_at: float | None
    """The next firing; None when the schedule has no more."""


@dataclass(frozen=True, slots=True)
class Firing:
    id: str
    key: str
    scheduled_at: float
    due_at: float | None = None
    """When to deliver it (None: at ``scheduled_at``)."""

    @property
    def due(self) -> float:
        return self.scheduled_at if self.due_at is None else self.due_at


class ScheduleStore(Protocol):
    def timers(self) -> list[TimerRow]: ...

    def put_timer(self, timer: TimerRow) -> None: ...

    def delete_timer(self, key: str) -> None: ...

    def record_firing(self, firing: Firing, next_at: float | None) -> None:
        """Store the firing and move its timer to ``next_at``, in one transaction."""
        ...

    def pending_firings(self) -> list[Firing]:
        """Firings recorded and not yet delivered (a crash came in between)."""
        ...

    def delivered(self, firing_id: str) -> None: ...

    def take_lease(self, name: str, owner: str, now: float, until: float) -> bool:
        """Take or renew the lease ``name`` for ``owner`` until ``until``; False when
        another owner holds it unexpired."""
        ...


class SqliteScheduleStore:
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db
        db.ensure_schema(_SCHEMA)
        columns = {row[1] for row in db.read("PRAGMA table_info(schedule_firings)")}
        if "due_at" not in columns:  # a database from before flexible windows
            with db.transaction() as tx:
                tx.execute("ALTER TABLE schedule_firings ADD COLUMN due_at REAL")

    def timers(self) -> list[TimerRow]:
        rows = self._db.read("SELECT key, expression, zone, anchor, next_at FROM schedule_timers")
        return [TimerRow(*row) for row in rows]

    def put_timer(self, timer: TimerRow) -> None:
        with self._db.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO schedule_timers VALUES (?, ?, ?, ?, ?)",
                (timer.key, timer.expression, timer.zone, timer.anchor, timer.next_at),
            )

    def delete_timer(self, key: str) -> None:
        with self._db.transaction() as db:
            db.execute("DELETE FROM schedule_timers WHERE key = ?", (key,))

    def record_firing(self, firing: Firing, next_at: float | None) -> None:
        with self._db.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO schedule_firings (id, key, scheduled_at, due_at) VALUES (?, ?, ?, ?)",
                (firing.id, firing.key, firing.scheduled_at, firing.due_at),
            )
            db.execute("UPDATE schedule_timers SET next_at = ? WHERE key = ?", (next_at, firing.key))

    def pending_firings(self) -> list[Firing]:
        rows = self._db.read(
            "SELECT id, key, scheduled_at, due_at FROM schedule_firings ORDER BY scheduled_at"
        )
        return [Firing(*row) for row in rows]

    def delivered(self, firing_id: str) -> None:
        with self._db.transaction() as db:
            db.execute("DELETE FROM schedule_firings WHERE id = ?", (firing_id,))

    def take_lease(self, name: str, owner: str, now: float, until: float) -> bool:
        with self._db.transaction() as db:
            row = db.execute("SELECT owner, until FROM schedule_leases WHERE name = ?", (name,)).fetchone()
            if row is not None and row[0] != owner and row[1] > now:
                return False
            db.execute("INSERT OR REPLACE INTO schedule_leases VALUES (?, ?, ?)", (name, owner, until))
            return True
