"""``EventQueue`` on SQLite (WAL, group commit) in ``events.db`` of the data directory.

Rows are the truth; memory holds an index of them. Each row's key is a
sequence number this process hands out (``INTEGER PRIMARY KEY``), so that a
burst of inserts appends to the end of one b-tree: with the request id as the
key, every event of a commit landed on a page of its own in a random-keyed
index, and a commit wrote ten times as many pages to the WAL at a backlog of
tens of thousands. The request id is a plain column; "an id already queued is
stored once" is kept by the memory index (which knows every queued id, and
the ids of enqueues under way). Every queued event is kept
in memory with its next delivery time (a heap of ready times and one of lease
deadlines), so leasing is a heap pop and never a query. The writes each
operation implies go to one ``GroupCommitter``: ``enqueue`` waits for its
commit (the 202 goes out after it); the others are ordered behind it, and
``ack``/``retry_at``/``dead_letter`` wait too, so that the backlog view never
runs ahead of the disk. Leases are memory only: after a restart every
unfinished event is ready again (at-least-once), and ``deliveries``, written
when a leased event's invocation starts (``started``), counts the invocations
that were never answered, so that an event that crashed the node
``max_deliveries`` times is dead-lettered instead of crashing it again; a
lease that was still waiting for an invocation slot when the node died does
not count.

A row that cannot be read back (corrupt payload or metadata) is
dead-lettered at start with the reason, logged, and counted; the others load.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import orjson

from lambdalite.clock import Clock
from lambdalite.events.group_commit import GroupCommitter, Many, Statement
from lambdalite.events.queue import Backlog, NewEvent, Outcome, QueuedEvent

log = logging.getLogger("lambdalite.events")

DEFAULT_MAX_DELIVERIES = 5

_SCHEMA = """
CREATE TABLE IF NOT EXISTS async_queue (
    seq           INTEGER PRIMARY KEY,
    id            TEXT NOT NULL,
    function      TEXT NOT NULL,
    qualifier     TEXT,
    payload       BLOB NOT NULL,
    enqueued_at   REAL NOT NULL,
    available_at  REAL NOT NULL,
    deliveries    INTEGER NOT NULL DEFAULT 0,
    meta          TEXT NOT NULL DEFAULT '{}',
    dead_reason   TEXT
);
CREATE TABLE IF NOT EXISTS async_counts (
    function            TEXT PRIMARY KEY,
    delivered           INTEGER NOT NULL DEFAULT 0,
    failed              INTEGER NOT NULL DEFAULT 0,
    dead_lettered       INTEGER NOT NULL DEFAULT 0,
    destination_errors  INTEGER NOT NULL DEFAULT 0,
    last_error          TEXT NOT NULL DEFAULT ''
);
"""
_COLUMNS = "id, function, qualifier, payload, enqueued_at, available_at, deliveries, meta, dead_reason"
_INSERT = (
    "INSERT INTO async_queue (seq, id, function, qualifier, payload, enqueued_at, available_at, meta) VALUES"
)
_COUNT = (
    "INSERT INTO async_counts (function, {column}) VALUES (?, ?) "
    "ON CONFLICT (function) DO UPDATE SET {column} = {column} + excluded.{column}"
)
_COLUMN = {Outcome.DELIVERED: "delivered", Outcome.FAILED: "failed"}
_NO_META = "{}"
_EMPTY: Mapping[str, str] = MappingProxyType({})
_DEAD = "UPDATE async_queue SET dead_reason = ? WHERE seq = ?"
_STARTED = "UPDATE async_queue SET deliveries = deliveries + 1 WHERE seq IN ({keys})"


def _migrate(db: sqlite3.Connection) -> None:
    """Move the rows of the first schema (``async_events``, keyed by request id) into
    ``async_queue``, in acceptance order, in one transaction."""
    found = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'async_events'")
    if found.fetchone() is None:
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute(
            f"INSERT INTO async_queue ({_COLUMNS}) "
            f"SELECT {_COLUMNS} FROM async_events ORDER BY enqueued_at, rowid"
        )
        db.execute("DROP TABLE async_events")
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


@dataclass(slots=True)
class _Entry:
    seq: int
    id: str
    function: str
    qualifier: str | None
    payload: bytes
    enqueued_at: float
    available_at: float
    deliveries: int
    meta: Mapping[str, str]
    leased_until: float | None = None


@dataclass(slots=True)
class _Counts:
    delivered: int = 0
    failed: int = 0
    dead_lettered: int = 0
    destination_errors: int = 0
    last_error: str = ""


@dataclass(slots=True)
class _Heaps:
    ready: list[tuple[float, int, str]] = field(default_factory=list)
    leases: list[tuple[float, int, str]] = field(default_factory=list)


class SqliteEventQueue:
    """``EventQueue`` in ``path`` (see the module docstring)."""

    def __init__(self, path: Path, clock: Clock, max_deliveries: int = DEFAULT_MAX_DELIVERIES) -> None:
        self._clock = clock
        self._max_deliveries = max_deliveries
        self._db = GroupCommitter(path, _SCHEMA, _migrate)
        self._entries: dict[str, _Entry] = {}
        self._storing: set[str] = set()
        """Ids of enqueues under way (their commit not yet done)."""
        self._seq = 0
        """The last sequence number handed out."""
        self._heaps = _Heaps()
        self._order = itertools.count()
        self._counts: dict[str, _Counts] = {}
        self._changed = asyncio.Event()
        self._corrupt: list[tuple[str, int, str]] = []
        """(reason, seq, function) of rows found unreadable at load, written by ``start``."""
        self._load()

    @property
    def commits(self) -> int:
        return self._db.commits

    @property
    def writing(self) -> bool:
        """Are changes on their way to the disk (for tests that step a fake clock)?"""
        return self._db.busy

    def _load(self) -> None:
        for row in self._db.read(
            "SELECT function, delivered, failed, dead_lettered, destination_errors, last_error "
            "FROM async_counts"
        ):
            self._counts[row[0]] = _Counts(*row[1:])
        (last,) = self._db.read("SELECT max(seq) FROM async_queue")
        self._seq = last[0] or 0
        rows = self._db.read(
            "SELECT seq, id, function, qualifier, payload, enqueued_at, available_at, deliveries, meta "
            "FROM async_queue WHERE dead_reason IS NULL ORDER BY available_at, seq"
        )
        for seq, event_id, function, qualifier, payload, enqueued_at, available_at, deliveries, meta in rows:
            try:
                entry = _Entry(
                    int(seq),
                    str(event_id),
                    str(function),
                    None if qualifier is None else str(qualifier),
                    _as_bytes(payload),
                    float(enqueued_at),
                    float(available_at),
                    int(deliveries),
                    _decode_meta(meta),
                )
            except (TypeError, ValueError, orjson.JSONDecodeError) as exc:
                log.error(
                    "event queue: event %s of %s cannot be read (%s); dead-lettered", event_id, function, exc
                )
                self._corrupt.append((f"corrupt row: {exc}", int(seq), str(function)))
                self._count(str(function), "dead_lettered").last_error = f"corrupt event {event_id}: {exc}"
                continue
            self._entries[entry.id] = entry
            heapq.heappush(self._heaps.ready, (entry.available_at, next(self._order), entry.id))

    def _count(self, function: str, column: str) -> _Counts:
        counts = self._counts.setdefault(function, _Counts())
        setattr(counts, column, getattr(counts, column) + 1)
        return counts

    async def start(self) -> None:
        """Write what loading found (corrupt rows dead-lettered); call once on the loop."""
        corrupt, self._corrupt = self._corrupt, []
        if corrupt:
            await self._db.write(
                [
                    Statement(_DEAD, [(r, seq) for r, seq, _ in corrupt]),
                    Statement(
                        _COUNT.format(column="dead_lettered"), [(f,) for _, _, f in corrupt], Many.COUNT
                    ),
                ]
            )

    # -- writing ------------------------------------------------------------
    async def enqueue(self, events: Sequence[NewEvent]) -> None:
        entries: list[_Entry] = []
        rows: list[tuple[Any, ...]] = []
        for event in events:
            if event.id in self._entries or event.id in self._storing:
                continue  # queued already (or on its way): stored once
            self._seq += 1
            meta = MappingProxyType(dict(event.meta)) if event.meta else _EMPTY
            entry = _Entry(
                self._seq,
                event.id,
                event.function,
                event.qualifier,
                event.payload,
                event.enqueued_at,
                event.enqueued_at,
                0,
                meta,
            )
            entries.append(entry)
            rows.append(
                (
                    entry.seq,
                    entry.id,
                    entry.function,
                    entry.qualifier,
                    entry.payload,
                    entry.enqueued_at,
                    entry.enqueued_at,
                    orjson.dumps(dict(meta)).decode() if meta else _NO_META,
                )
            )
            self._storing.add(entry.id)
        if not entries:
            return
        try:
            await self._db.write([Statement(_INSERT, rows, Many.VALUES)])
        finally:
            self._storing.difference_update(entry.id for entry in entries)
        ready = self._heaps.ready
        for entry in entries:
            self._entries[entry.id] = entry
            heapq.heappush(ready, (entry.available_at, next(self._order), entry.id))
        self._changed.set()

    async def ack(self, event_id: str, outcome: Outcome) -> None:
        entry = self._entries.pop(event_id, None)
        if entry is None:
            return
        column = _COLUMN[outcome]
        self._count(entry.function, column)
        await self._db.write(
            [
                Statement("DELETE FROM async_queue WHERE seq IN ({keys})", [(entry.seq,)], Many.KEYS),
                Statement(_COUNT.format(column=column), [(entry.function,)], Many.COUNT),
            ]
        )

    async def retry_at(self, event_id: str, when: float, meta: Mapping[str, str]) -> None:
        entry = self._entries.get(event_id)
        if entry is None:
            return
        entry.available_at = when
        entry.meta = MappingProxyType(dict(meta))
        entry.leased_until = None
        entry.deliveries = 0
        heapq.heappush(self._heaps.ready, (when, next(self._order), event_id))
        self._changed.set()
        await self._db.write(
            [
                Statement(
                    "UPDATE async_queue SET available_at = ?, meta = ?, deliveries = 0 WHERE seq = ?",
                    [(when, orjson.dumps(dict(meta)).decode(), entry.seq)],
                )
            ]
        )

    async def dead_letter(self, event_id: str, reason: str) -> None:
        entry = self._entries.pop(event_id, None)
        if entry is None:
            return
        self._dead_lettered(entry, reason)
        await self._db.write(self._dead_statements(entry, reason))

    def _dead_lettered(self, entry: _Entry, reason: str) -> None:
        self._count(entry.function, "dead_lettered").last_error = f"event {entry.id}: {reason}"
        log.error("event queue: event %s of %s dead-lettered: %s", entry.id, entry.function, reason)

    @staticmethod
    def _dead_statements(entry: _Entry, reason: str) -> list[Statement]:
        return [
            Statement(_DEAD, [(reason, entry.seq)]),
            Statement(_COUNT.format(column="dead_lettered"), [(entry.function,)], Many.COUNT),
        ]

    def note_destination_error(self, function: str, message: str) -> None:
        self._count(function, "destination_errors").last_error = message
        self._db.submit_quietly(
            [
                Statement(_COUNT.format(column="destination_errors"), [(function,)], Many.COUNT),
                Statement("UPDATE async_counts SET last_error = ? WHERE function = ?", [(message, function)]),
            ]
        )

    # -- leasing ------------------------------------------------------------
    async def lease(self, limit: int, visibility_s: float) -> list[QueuedEvent]:
        while True:
            now = self._clock.now()
            leased = self._take(now, limit, visibility_s)
            if leased:
                return leased
            await self._wait(self._next_due())

    def _take(self, now: float, limit: int, visibility_s: float) -> list[QueuedEvent]:
        heaps = self._heaps
        # Leases that ran out make their events ready again.
        while heaps.leases and heaps.leases[0][0] <= now:
            deadline, _, event_id = heapq.heappop(heaps.leases)
            entry = self._entries.get(event_id)
            if entry is not None and entry.leased_until == deadline:
                entry.leased_until = None
                heapq.heappush(heaps.ready, (now, next(self._order), event_id))
        out: list[QueuedEvent] = []
        dead: list[Statement] = []
        while heaps.ready and len(out) < limit and heaps.ready[0][0] <= now:
            at, _, event_id = heapq.heappop(heaps.ready)
            entry = self._entries.get(event_id)
            if entry is None or entry.leased_until is not None or at < entry.available_at:
                continue  # finished, leased, or rescheduled since this heap entry was made
            if entry.deliveries >= self._max_deliveries:
                del self._entries[event_id]
                reason = f"leased {entry.deliveries} times without an answer"
                self._dead_lettered(entry, reason)
                dead.extend(self._dead_statements(entry, reason))
                continue
            entry.deliveries += 1
            entry.leased_until = now + visibility_s
            heapq.heappush(heaps.leases, (entry.leased_until, next(self._order), event_id))
            out.append(
                QueuedEvent(
                    entry.id,
                    entry.function,
                    entry.qualifier,
                    entry.payload,
                    entry.enqueued_at,
                    entry.deliveries,
                    entry.meta,
                )
            )
        if dead:
            self._db.submit_quietly(dead)
        return out

    def started(self, event_id: str) -> None:
        entry = self._entries.get(event_id)
        if entry is not None:
            self._db.submit_quietly([Statement(_STARTED, [(entry.seq,)], Many.KEYS)])

    def _next_due(self) -> float | None:
        heads = [heap[0][0] for heap in (self._heaps.ready, self._heaps.leases) if heap]
        return min(heads) if heads else None

    async def _wait(self, due: float | None) -> None:
        """Until something is enqueued or retried, or ``due`` comes."""
        self._changed.clear()
        changed = asyncio.ensure_future(self._changed.wait())
        waiters: set[asyncio.Future[Any]] = {changed}
        if due is not None:
            waiters.add(asyncio.ensure_future(self._clock.sleep_until(due)))
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    # -- the view -------------------------------------------------------------
    async def backlog(self) -> dict[str, Backlog]:
        states: dict[str, list[int]] = {}
        for entry in self._entries.values():
            counts = states.setdefault(entry.function, [0, 0, 0])
            if entry.leased_until is not None:
                counts[2] += 1
            elif "attempts" in entry.meta:
                counts[1] += 1
            else:
                counts[0] += 1
        out: dict[str, Backlog] = {}
        for function in sorted({*states, *self._counts}):
            waiting, retrying, running = states.get(function, (0, 0, 0))
            done = self._counts.get(function, _Counts())
            out[function] = Backlog(
                waiting=waiting,
                retrying=retrying,
                running=running,
                delivered=done.delivered,
                failed=done.failed,
                dead_lettered=done.dead_lettered,
                destination_errors=done.destination_errors,
                last_error=done.last_error,
            )
        return out

    def forget_function(self, function: str) -> None:
        """Drop the counters of a deleted function (its queued events stay and fail on delivery)."""
        self._counts.pop(function, None)
        self._db.submit_quietly([Statement("DELETE FROM async_counts WHERE function = ?", [(function,)])])

    async def close(self) -> None:
        await self._db.close()


def _as_bytes(value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    raise TypeError(f"payload is {type(value).__name__}, not bytes")


def _decode_meta(raw: object) -> Mapping[str, str]:
    if not isinstance(raw, str):
        raise TypeError(f"metadata is {type(raw).__name__}, not text")
    value = orjson.loads(raw)
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ValueError("metadata is not an object of strings")
    return MappingProxyType(value)
