"""Group commit: many writers, one SQLite transaction (and one fsync) per batch.

Writers on the event loop ``submit`` a list of statements; a single writer
thread commits everything submitted while the previous commit was under way
as one transaction, then resolves each writer's future. Under load a batch
holds hundreds of events, so durability costs one fsync per batch instead of
one per event; with one writer the latency is one commit.

The database is opened with WAL and ``synchronous=FULL``: a commit is on disk
(the WAL fsynced) before any future resolves, so an acknowledged write
survives kill -9 and power loss alike. When a batch fails (a full disk, a
constraint), each writer's statements are retried in a transaction of their
own, so one bad write fails only its own future.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from lambdalite.events.queue import QueueError

log = logging.getLogger("lambdalite.events")

Statement = tuple[str, Sequence[Sequence[Any]]]
"""SQL and its rows of parameters (run with ``executemany``)."""


class GroupCommitter:
    """One SQLite database written by one thread, a batch per transaction."""

    def __init__(self, path: Path, schema: str) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(schema)
        except (sqlite3.Error, OSError) as exc:
            raise QueueError(f"cannot open the event queue at {path}: {exc}") from exc
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="event-queue")
        self._pending: list[tuple[Sequence[Statement], asyncio.Future[None]]] = []
        self._flushing: asyncio.Task[None] | None = None
        self.commits = 0
        """Transactions committed (for tests and benchmarks: events per fsync)."""

    @property
    def busy(self) -> bool:
        """Are writes submitted and not yet committed?"""
        return self._flushing is not None or bool(self._pending)

    def read(self, query: str, parameters: Sequence[Any] = ()) -> list[Any]:
        """A read on the caller's thread (start-up only, before any write is submitted)."""
        try:
            return self._db.execute(query, parameters).fetchall()
        except sqlite3.Error as exc:
            raise QueueError(f"event queue read failed: {exc}") from exc

    def submit(self, statements: Sequence[Statement]) -> asyncio.Future[None]:
        """Queue ``statements`` for the next batch; the future resolves once they
        are committed (or fails with QueueError). Batches commit in submission order."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((statements, future))
        if self._flushing is None:
            self._flushing = asyncio.ensure_future(self._flush())
        return future

    async def write(self, statements: Sequence[Statement]) -> None:
        """``submit`` and wait for the commit."""
        await self.submit(statements)

    def submit_quietly(self, statements: Sequence[Statement]) -> None:
        """``submit`` for a write nobody waits for; a failure is logged."""
        self.submit(statements).add_done_callback(_log_failure)

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                errors = await loop.run_in_executor(self._thread, self._commit, [s for s, _ in batch])
                for (_, future), error in zip(batch, errors, strict=True):
                    if future.done():
                        continue
                    if error is None:
                        future.set_result(None)
                    else:
                        future.set_exception(error)
        finally:
            self._flushing = None

    def _commit(self, batch: list[Sequence[Statement]]) -> list[QueueError | None]:
        """Runs on the writer thread: the batch in one transaction, else each alone."""
        try:
            self._transaction([statement for statements in batch for statement in statements])
        except sqlite3.Error as exc:
            if len(batch) == 1:
                return [QueueError(f"event queue write failed: {exc}")]
            return [self._alone(statements) for statements in batch]
        self.commits += 1
        return [None] * len(batch)

    def _alone(self, statements: Sequence[Statement]) -> QueueError | None:
        try:
            self._transaction(statements)
        except sqlite3.Error as exc:
            return QueueError(f"event queue write failed: {exc}")
        self.commits += 1
        return None

    def _transaction(self, statements: Sequence[Statement]) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            for sql, rows in statements:
                db.executemany(sql, rows)
            db.execute("COMMIT")
        except BaseException:
            # A failed COMMIT (a full disk) can leave the transaction open.
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    async def close(self) -> None:
        """Wait for the writes under way, then close the database."""
        while self._flushing is not None:
            await asyncio.shield(self._flushing)
        self._thread.shutdown(wait=True)
        self._db.close()


def _log_failure(future: asyncio.Future[None]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("event queue: %s", future.exception())
