"""Group commit: many writers, one SQLite transaction (and one fsync) per batch.

Writers on the event loop ``submit`` a list of statements; one writer thread
of its own commits everything submitted while its previous commit was under
way as one transaction, then resolves each writer's future. Under load a
batch holds many events, so durability costs one fsync per batch instead of
one per event; with one writer the latency is one commit.

**Durable** means: the transaction is committed and the write-ahead log
fsynced. The database is opened with WAL and ``synchronous=FULL``, so SQLite
fsyncs the WAL at every commit, before any future of the batch resolves: an
acknowledged write survives kill -9 and power loss alike.

The writer thread is pipelined with the loop: it starts a commit as soon as
anything is pending and, when the commit is done, takes what arrived
meanwhile at once, without waiting for the loop to come round; the loop hears
of each batch once (one ``call_soon_threadsafe``). It needs the GIL between
SQLite calls, and a busy loop holds the GIL for up to the interpreter's switch
interval before giving it up, so a batch is written in as few SQLite calls as
possible: the statements of a batch are merged by SQL text (see
``Statement``), an ``INSERT`` of many rows is one multi-row statement, a
change of many rows by key is one ``IN (...)`` statement, and a batch that is
one statement runs without BEGIN/COMMIT (a single statement is its own
transaction, committed and fsynced the same way).

When a batch fails (a full disk, a constraint), each writer's statements are
retried in a transaction of their own, so one bad write fails only its own
future.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import functools
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

from lambdalite.events.queue import QueueError

log = logging.getLogger("lambdalite.events")

ROWS_PER_STATEMENT = 200
"""Rows merged into one multi-row statement at most (8 columns: far below SQLite's
limit of 32,766 parameters)."""


class Many(enum.Enum):
    """How a ``Statement`` runs its rows, and so how statements of one batch merge."""

    EACH = "each"
    """``executemany(sql, rows)``: one SQLite call per row, in its place (never merged)."""
    VALUES = "values"
    """``sql`` is ``INSERT ... VALUES`` without the tuples: the rows become one
    multi-row statement (``VALUES (?, ?), (?, ?)``)."""
    KEYS = "keys"
    """``sql`` holds ``{keys}``, e.g. ``DELETE FROM t WHERE k IN ({keys})``; each row is
    one key, and all of them become one statement."""
    COUNT = "count"
    """``sql`` adds ``?`` (its second parameter) to a counter keyed by its first;
    rows are ``(key,)``, merged into ``(key, how many)``."""


@dataclass(frozen=True, slots=True)
class Statement:
    """SQL and its rows of parameters.

    A batch runs its statements in submission order, except that the VALUES,
    KEYS and COUNT statements between two EACH statements (or the batch's ends)
    are merged by (SQL, ``many``) at the place of the first of them: among
    themselves their order is not kept, so such statements must touch rows no
    other of them touches, or commute (counters). A statement whose order
    matters against others (a reset, a delete of a counter) is EACH."""

    sql: str
    rows: Sequence[Sequence[Any]]
    many: Many = Many.EACH


class GroupCommitter:
    """One SQLite database written by one thread, a batch per transaction."""

    def __init__(
        self, path: Path, schema: str, prepare: Callable[[sqlite3.Connection], None] | None = None
    ) -> None:
        """Open (or create) ``path`` with ``schema``; ``prepare(db)`` runs once after
        it, before anything else (migrations)."""
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False, cached_statements=512
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(schema)
            if prepare is not None:
                prepare(self._db)
        except (sqlite3.Error, OSError) as exc:
            raise QueueError(f"cannot open the event queue at {path}: {exc}") from exc
        self._lock = threading.Lock()
        self._pending: list[tuple[Sequence[Statement], asyncio.Future[None]]] = []
        """Submitted, not yet taken by the writer (guarded by ``_lock``)."""
        self._idle = False
        """The writer found nothing pending and waits on ``_wake`` (guarded by ``_lock``)."""
        self._wake = threading.Lock()
        """Held while the writer may sleep; released once to wake it. A bare lock, not a
        threading.Event: a submit that wakes the writer is on the loop's hot path."""
        self._wake.acquire()
        self._closing = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._unresolved = 0
        self._thread: threading.Thread | None = None
        """Started by the first submit: a node that queues nothing runs no writer."""
        self.commits = 0
        """Transactions committed (for tests and benchmarks: events per fsync)."""

    @property
    def busy(self) -> bool:
        """Are writes submitted and not yet committed (their futures unresolved)?"""
        return self._unresolved > 0

    def read(self, query: str, parameters: Sequence[Any] = ()) -> list[Any]:
        """A read on the caller's thread (start-up only, before any write is submitted)."""
        try:
            return self._db.execute(query, parameters).fetchall()
        except sqlite3.Error as exc:
            raise QueueError(f"event queue read failed: {exc}") from exc

    def submit(self, statements: Sequence[Statement]) -> asyncio.Future[None]:
        """Queue ``statements`` for the next batch; the future resolves once they
        are committed and fsynced (or fails with QueueError). Batches commit in
        submission order."""
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
            self._thread = threading.Thread(target=self._write, name="event-queue", daemon=True)
            self._thread.start()
        future: asyncio.Future[None] = loop.create_future()
        self._unresolved += 1
        with self._lock:
            self._pending.append((statements, future))
            if self._idle:
                self._idle = False
                self._wake.release()
        return future

    async def write(self, statements: Sequence[Statement]) -> None:
        """``submit`` and wait for the commit."""
        await self.submit(statements)

    def submit_quietly(self, statements: Sequence[Statement]) -> None:
        """``submit`` for a write nobody waits for; a failure is logged."""
        self.submit(statements).add_done_callback(_log_failure)

    # -- the writer thread ----------------------------------------------------
    def _write(self) -> None:
        while True:
            with self._lock:
                batch, self._pending = self._pending, []
                if not batch:
                    if self._closing:
                        return
                    self._idle = True
            if not batch:
                self._wake.acquire()  # until a submit (or close) releases it
                continue
            try:
                errors = self._commit([statements for statements, _ in batch])
            except Exception as exc:  # never lose the writer (and every future after it)
                log.exception("event queue: the writer failed")
                errors = [QueueError(f"event queue write failed: {exc}")] * len(batch)
            assert self._loop is not None  # set by the submit that made the batch
            try:
                self._loop.call_soon_threadsafe(self._resolve, batch, errors)
            except RuntimeError:
                return  # the loop is closed: nobody waits any more

    def _resolve(
        self, batch: list[tuple[Sequence[Statement], asyncio.Future[None]]], errors: list[QueueError | None]
    ) -> None:
        """On the loop: each writer's future, with its outcome."""
        self._unresolved -= len(batch)
        for (_, future), error in zip(batch, errors, strict=True):
            if future.done():
                continue
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)

    def _commit(self, batch: list[Sequence[Statement]]) -> list[QueueError | None]:
        """The batch in one transaction, else each writer's statements alone."""
        try:
            self._transaction([statement for statements in batch for statement in statements])
        except sqlite3.Error as exc:
            if len(batch) == 1:
                return [QueueError(f"event queue write failed: {exc}")]
            return [self._alone(statements) for statements in batch]
        return [None] * len(batch)

    def _alone(self, statements: Sequence[Statement]) -> QueueError | None:
        try:
            self._transaction(statements)
        except sqlite3.Error as exc:
            return QueueError(f"event queue write failed: {exc}")
        return None

    def _transaction(self, statements: Sequence[Statement]) -> None:
        calls = list(_calls(statements))
        if not calls:
            return
        db = self._db
        if len(calls) == 1 and len(calls[0][1]) == 1:
            # One statement (one row of parameters) is a transaction of its own,
            # committed and fsynced alike, in two SQLite calls fewer: two GIL
            # hand-overs fewer. (executemany of several rows would be several.)
            db.execute(calls[0][0], calls[0][1][0])
            self.commits += 1
            return
        db.execute("BEGIN IMMEDIATE")
        try:
            for sql, rows in calls:
                db.execute(sql, rows[0]) if len(rows) == 1 else db.executemany(sql, rows)
            db.execute("COMMIT")
        except BaseException:
            # A failed COMMIT (a full disk) can leave the transaction open.
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        self.commits += 1

    async def close(self) -> None:
        """Wait for the writes under way, then stop the writer and close the database."""
        if self._thread is not None:
            await self.submit([])  # batches commit in order: this one comes last
            with self._lock:
                self._closing = True
                if self._idle:
                    self._idle = False
                    self._wake.release()
            await asyncio.to_thread(self._thread.join)
        self._db.close()


def _calls(statements: Sequence[Statement]) -> Iterator[tuple[str, Sequence[Sequence[Any]]]]:
    """The SQLite calls of ``statements``, merged (see ``Statement`` and ``Many``).
    Runs on the writer thread holding the GIL, which the loop then waits for: kept lean."""
    merged: dict[tuple[str, Many], list[Sequence[Any]]] = {}
    for statement in statements:
        if statement.many is Many.EACH:
            # A barrier: what came before it runs before it, what comes after, after.
            yield from _merged_calls(merged)
            merged.clear()
            if statement.rows:
                yield statement.sql, statement.rows
            continue
        key = (statement.sql, statement.many)
        rows = merged.get(key)
        if rows is None:
            merged[key] = list(statement.rows)
        else:
            rows.extend(statement.rows)
    yield from _merged_calls(merged)


def _merged_calls(
    merged: dict[tuple[str, Many], list[Sequence[Any]]],
) -> Iterator[tuple[str, Sequence[Sequence[Any]]]]:
    for (sql, many), rows in merged.items():
        if not rows:
            continue
        if many is Many.COUNT:
            counts = collections.Counter(row[0] for row in rows)
            yield sql, list(counts.items())
            continue
        for start in range(0, len(rows), ROWS_PER_STATEMENT):
            chunk = rows[start : start + ROWS_PER_STATEMENT]
            if many is Many.VALUES:
                yield _values_sql(sql, len(chunk[0]), len(chunk)), [tuple(chain.from_iterable(chunk))]
            else:
                yield _keys_sql(sql, len(chunk)), [tuple(row[0] for row in chunk)]


@functools.lru_cache(maxsize=1024)
def _values_sql(head: str, width: int, count: int) -> str:
    """``head`` with ``count`` tuples of ``width`` parameters."""
    row_marks = "(" + ", ".join("?" * width) + ")"
    return head + " " + ", ".join([row_marks] * count)


@functools.lru_cache(maxsize=1024)
def _keys_sql(template: str, count: int) -> str:
    """``template`` with ``count`` parameters in place of ``{keys}``."""
    return template.format(keys=", ".join("?" * count))


def _log_failure(future: asyncio.Future[None]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("event queue: %s", future.exception())
