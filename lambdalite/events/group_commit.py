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

Batches are formed on the loop, and the writer thread only commits them:
a submit made while no commit is under way is handed over at the end of the
loop iteration that made it (``call_soon``), so the writes one iteration
brings (a burst of requests read together) go as one batch; writes submitted
while a commit is under way are handed over together the moment the loop
hears it is done (pipelined: the next commit starts before the futures of the
last one resolve). The writer holds the GIL only to start a commit and to
report it (one ``call_soon_threadsafe`` per batch); SQLite's work and the
fsync run without it. A thread that wants the GIL while the loop runs Python
waits for it (up to the interpreter's switch interval), so the writer needs
it as few times as possible: the statements of a batch are merged by SQL
text (see ``Statement``), an ``INSERT`` of many rows is one multi-row
statement, a change of many rows by key is one ``IN (...)`` statement, and a
batch that is one statement runs without BEGIN/COMMIT (a single statement is
its own transaction, committed and fsynced the same way).

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
        self._pending: list[tuple[Sequence[Statement], asyncio.Future[None]]] = []
        """Submitted, not yet handed to the writer (the loop's alone)."""
        self._batch: list[tuple[Sequence[Statement], asyncio.Future[None]]] | None = None
        """Handed to the writer: set by the loop before it releases ``_wake``, read by the
        writer after it acquired it (the lock orders the two); None tells it to stop."""
        self._writing = False
        """A batch is with the writer (from the hand-over until ``_committed`` runs on the loop)."""
        self._kicking = False
        """A ``_kick`` is scheduled on the loop."""
        self._wake = threading.Lock()
        """Held while the writer waits for a batch; released once per hand-over. A bare
        lock, not a threading.Event: the hand-over is on the loop's hot path."""
        self._wake.acquire()
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
        self._pending.append((statements, future))
        if not self._writing and not self._kicking:
            # Not at once: the writes this loop iteration brings go with it.
            self._kicking = True
            loop.call_soon(self._kick)
        return future

    async def write(self, statements: Sequence[Statement]) -> None:
        """``submit`` and wait for the commit."""
        await self.submit(statements)

    def submit_quietly(self, statements: Sequence[Statement]) -> None:
        """``submit`` for a write nobody waits for; a failure is logged."""
        self.submit(statements).add_done_callback(_log_failure)

    # -- handing batches over (on the loop) --------------------------------------
    def _kick(self) -> None:
        self._kicking = False
        if not self._writing and self._pending:
            self._hand_over()

    def _hand_over(self) -> None:
        """Everything pending becomes the writer's next batch."""
        self._batch, self._pending = self._pending, []
        self._writing = True
        self._wake.release()

    def _committed(
        self, batch: list[tuple[Sequence[Statement], asyncio.Future[None]]], errors: list[QueueError | None]
    ) -> None:
        """On the loop: the writer is done with ``batch``. What arrived meanwhile goes
        to it at once (pipelined), then each writer's future gets its outcome."""
        self._writing = False
        if self._pending:
            self._hand_over()
        self._unresolved -= len(batch)
        for (_, future), error in zip(batch, errors, strict=True):
            if future.done():
                continue
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)

    # -- the writer thread ----------------------------------------------------
    def _write(self) -> None:
        """Commit each batch handed over; it holds the GIL only to start a commit and
        to report it (SQLite's work and the fsync run without it)."""
        while True:
            self._wake.acquire()  # until the loop hands a batch over (or None: stop)
            batch = self._batch
            if batch is None:
                return
            try:
                errors = self._commit([statements for statements, _ in batch])
            except Exception as exc:  # never lose the writer (and every future after it)
                log.exception("event queue: the writer failed")
                errors = [QueueError(f"event queue write failed: {exc}")] * len(batch)
            assert self._loop is not None  # set by the submit that made the batch
            try:
                self._loop.call_soon_threadsafe(self._committed, batch, errors)
            except RuntimeError:
                return  # the loop is closed: nobody waits any more

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
            # Batches commit in order: the last one submitted comes last.
            while self._writing or self._pending:
                await self.submit([])
            self._batch = None
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
