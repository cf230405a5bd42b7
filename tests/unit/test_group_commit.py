"""The group committer: concurrent writers share a transaction, statements of a
batch merge into few SQLite calls (many rows in one INSERT, keys in one IN,
counters summed), and what a future acknowledges is committed."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from lambdalite.events.group_commit import ROWS_PER_STATEMENT, GroupCommitter, Many, Statement

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (k INTEGER PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS counts (name TEXT PRIMARY KEY, n INTEGER NOT NULL DEFAULT 0);
"""
INSERT = Statement("INSERT INTO items (k, v) VALUES", [], Many.VALUES)
COUNT = "INSERT INTO counts (name, n) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET n = n + excluded.n"


def insert(*rows: tuple[int, str]) -> Statement:
    return Statement(INSERT.sql, list(rows), Many.VALUES)


def test_concurrent_writers_merge_into_one_transaction_and_all_are_durable(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"

    async def scenario() -> int:
        db = GroupCommitter(path, SCHEMA)
        count = ROWS_PER_STATEMENT * 2 + 7  # more rows than one statement takes
        await asyncio.gather(
            *(
                db.write([insert((k, f"v{k}")), Statement(COUNT, [("inserted",)], Many.COUNT)])
                for k in range(count)
            )
        )
        await db.close()
        assert db.commits < count // 10
        return count

    count = asyncio.run(scenario())
    other = sqlite3.connect(path)
    assert other.execute("SELECT count(*), min(k), max(k) FROM items").fetchone() == (count, 0, count - 1)
    assert other.execute("SELECT n FROM counts WHERE name = 'inserted'").fetchone() == (count,)


def test_keys_statements_change_every_key_given_and_nothing_else(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"

    async def scenario() -> None:
        db = GroupCommitter(path, SCHEMA)
        await db.write([insert(*((k, "new") for k in range(10)))])
        await asyncio.gather(
            *(
                db.write([Statement("DELETE FROM items WHERE k IN ({keys})", [(k,)], Many.KEYS)])
                for k in (1, 3, 5)
            ),
            db.write([Statement("UPDATE items SET v = 'seen' WHERE k IN ({keys})", [(7,), (8,)], Many.KEYS)]),
        )
        await db.close()

    asyncio.run(scenario())
    rows = sqlite3.connect(path).execute("SELECT k, v FROM items ORDER BY k").fetchall()
    assert rows == [(0, "new"), (2, "new"), (4, "new"), (6, "new"), (7, "seen"), (8, "seen"), (9, "new")]


def test_a_single_statement_commits_without_an_explicit_transaction_and_is_visible_at_once(
    tmp_path: Path,
) -> None:
    path = tmp_path / "db.sqlite"

    async def scenario() -> None:
        db = GroupCommitter(path, SCHEMA)
        await db.write([insert((1, "one"), (2, "two"))])
        # Another connection sees it when the write returns: committed, not buffered.
        assert sqlite3.connect(path).execute("SELECT count(*) FROM items").fetchone() == (2,)
        assert db.commits == 1
        await db.close()

    asyncio.run(scenario())


def test_a_failing_writer_fails_alone_and_the_others_of_its_batch_commit(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"

    async def scenario() -> None:
        db = GroupCommitter(path, SCHEMA)
        results = await asyncio.gather(
            db.write([insert((1, "a"))]),
            db.write([insert((2, None))]),  # type: ignore[arg-type]  # NOT NULL
            db.write([insert((3, "c")), Statement(COUNT, [("x",)], Many.COUNT)]),
            return_exceptions=True,
        )
        assert results[0] is None and results[2] is None
        assert "event queue write failed" in str(results[1])
        assert not db.busy
        await db.close()

    asyncio.run(scenario())
    assert sqlite3.connect(path).execute("SELECT k FROM items ORDER BY k").fetchall() == [(1,), (3,)]


def test_an_each_statement_keeps_its_place_between_merged_ones(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    count = Statement(COUNT, [("x",)], Many.COUNT)

    async def scenario() -> None:
        db = GroupCommitter(path, SCHEMA)
        # Merged across the delete, the two counts would run first and leave nothing.
        await db.write([count, Statement("DELETE FROM counts WHERE name = ?", [("x",)]), count])
        await db.close()

    asyncio.run(scenario())
    assert sqlite3.connect(path).execute("SELECT n FROM counts WHERE name = 'x'").fetchone() == (1,)


def test_writes_of_one_loop_iteration_share_a_batch_and_writes_during_a_commit_share_the_next(
    tmp_path: Path,
) -> None:
    path = tmp_path / "db.sqlite"

    async def scenario() -> None:
        db = GroupCommitter(path, SCHEMA)
        first = db.submit([insert((1, "a"))])
        await asyncio.sleep(0)  # the iteration ends: the first write is the writer's batch
        # Submitted while it commits: they wait, and go together when it is done.
        later = [db.submit([insert((k, "b"))]) for k in (2, 3, 4)]
        await asyncio.gather(first, *later)
        assert db.commits == 2
        # Nothing under way: the writes of one iteration go as one batch.
        await asyncio.gather(*(db.write([insert((k, "c"))]) for k in (5, 6, 7)))
        assert db.commits == 3
        await db.close()

    asyncio.run(scenario())
    assert sqlite3.connect(path).execute("SELECT count(*) FROM items").fetchone() == (7,)


def test_close_commits_the_writes_submitted_before_it_even_unawaited(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"

    async def scenario() -> None:
        db = GroupCommitter(path, SCHEMA)
        db.submit_quietly([insert((1, "a"))])
        await asyncio.sleep(0)  # the first is with the writer
        db.submit_quietly([insert((2, "b"))])  # pending behind it
        await db.close()
        assert not db.busy

    asyncio.run(scenario())
    assert sqlite3.connect(path).execute("SELECT k FROM items ORDER BY k").fetchall() == [(1,), (2,)]
