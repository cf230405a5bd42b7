"""The SQLite event queue: durable enqueue with group commit, leases with a
visibility timeout, ack, retry-at, dead-lettering; restarts deliver again."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from lambdalite.clock import ManualClock
from lambdalite.events.queue import NewEvent, Outcome
from lambdalite.events.sqlite_queue import SqliteEventQueue


def event(n: int, clock: ManualClock, function: str = "f") -> NewEvent:
    return NewEvent(f"id-{n}", function, None, b'{"n": %d}' % n, clock.now())


def run(coroutine):  # type: ignore[no-untyped-def]
    return asyncio.run(coroutine)


def test_many_concurrent_enqueues_share_few_commits_and_all_are_leased(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = ManualClock()
        queue = SqliteEventQueue(tmp_path / "events.db", clock)
        await asyncio.gather(*(queue.enqueue([event(n, clock)]) for n in range(200)))
        assert queue.commits < 50  # group commit: many events per transaction
        leased = await queue.lease(500, 60)
        assert sorted(e.id for e in leased) == sorted(f"id-{n}" for n in range(200))
        assert all(e.deliveries == 1 for e in leased)
        assert (await queue.backlog())["f"].running == 200
        await queue.close()

    run(scenario())


def test_an_enqueued_event_is_on_disk_when_enqueue_returns(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = ManualClock()
        queue = SqliteEventQueue(tmp_path / "events.db", clock)
        await queue.enqueue([event(1, clock)])
        # Another connection sees it at once: it is committed, not buffered.
        rows = sqlite3.connect(tmp_path / "events.db").execute("SELECT id FROM async_queue").fetchall()
        assert rows == [("id-1",)]
        await queue.close()

    run(scenario())


def test_a_lease_hides_an_event_until_its_visibility_timeout_then_it_comes_back(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = ManualClock()
        queue = SqliteEventQueue(tmp_path / "events.db", clock)
        await queue.enqueue([event(1, clock)])
        (first,) = await queue.lease(10, visibility_s=30)
        waiting = asyncio.ensure_future(queue.lease(10, visibility_s=30))
        await asyncio.sleep(0.01)
        assert not waiting.done()
        clock.advance(30)
        (again,) = await asyncio.wait_for(waiting, 1)
        assert (again.id, again.deliveries) == (first.id, 2)
        await queue.close()

    run(scenario())


def test_retry_at_delivers_again_at_that_time_with_the_metadata(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = ManualClock()
        queue = SqliteEventQueue(tmp_path / "events.db", clock)
        await queue.enqueue([event(1, clock)])
        (leased,) = await queue.lease(10, 60)
        await queue.retry_at(leased.id, clock.now() + 60, {"attempts": "1"})
        assert (await queue.backlog())["f"].retrying == 1
        waiting = asyncio.ensure_future(queue.lease(10, 60))
        await asyncio.sleep(0.01)
        clock.advance(59)
        await asyncio.sleep(0.01)
        assert not waiting.done()
        clock.advance(1)
        (again,) = await asyncio.wait_for(waiting, 1)
        assert dict(again.meta) == {"attempts": "1"}
        await queue.ack(again.id, Outcome.DELIVERED)
        assert (await queue.backlog())["f"].delivered == 1
        await queue.close()

    run(scenario())


def test_unfinished_events_survive_a_restart_and_finished_ones_do_not(tmp_path: Path) -> None:
    async def first_life() -> None:
        clock = ManualClock()
        queue = SqliteEventQueue(tmp_path / "events.db", clock)
        await queue.enqueue([event(n, clock) for n in range(4)])
        leased = await queue.lease(10, 60)
        await queue.ack("id-0", Outcome.DELIVERED)
        await queue.retry_at("id-1", clock.now() + 5, {"attempts": "1"})
        queue.started("id-2")
        # id-2 (invoking) and id-3 (waiting for a slot) stay leased: the node "dies" holding them.
        assert len(leased) == 4
        await queue.close()

    async def second_life() -> None:
        clock = ManualClock()
        clock.advance(10)
        queue = SqliteEventQueue(tmp_path / "events.db", clock)
        await queue.start()
        leased = {e.id: e for e in await queue.lease(10, 60)}
        assert set(leased) == {"id-1", "id-2", "id-3"}
        assert dict(leased["id-1"].meta) == {"attempts": "1"}
        # The invocation that died counts; the lease that never started does not.
        assert (leased["id-2"].deliveries, leased["id-3"].deliveries) == (2, 1)
        assert (await queue.backlog())["f"].delivered == 1
        await queue.close()

    run(first_life())
    run(second_life())


def test_an_event_leased_too_often_without_an_answer_is_dead_lettered(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = ManualClock()
        queue = SqliteEventQueue(tmp_path / "events.db", clock, max_deliveries=2)
        await queue.enqueue([event(1, clock), event(2, clock)])
        first = await queue.lease(10, 10)
        assert {e.id for e in first} == {"id-1", "id-2"}
        await queue.ack("id-2", Outcome.DELIVERED)
        clock.advance(10)  # id-1's lease runs out unanswered, twice
        assert [e.id for e in await queue.lease(10, 10)] == ["id-1"]
        clock.advance(10)
        later = asyncio.ensure_future(queue.lease(10, 10))
        await asyncio.sleep(0.01)
        assert not later.done()
        later.cancel()
        backlog = (await queue.backlog())["f"]
        assert (backlog.dead_lettered, backlog.delivered) == (1, 1)
        assert "leased 2 times" in backlog.last_error
        await queue.close()

    run(scenario())


def test_a_corrupt_row_is_dead_lettered_at_start_and_the_others_load(tmp_path: Path) -> None:
    async def fill() -> None:
        clock = ManualClock()
        queue = SqliteEventQueue(tmp_path / "events.db", clock)
        await queue.enqueue([event(1, clock), event(2, clock)])
        await queue.close()

    run(fill())
    with sqlite3.connect(tmp_path / "events.db") as db:
        db.execute("UPDATE async_queue SET meta = 'not json' WHERE id = 'id-1'")

    async def reopen() -> None:
        queue = SqliteEventQueue(tmp_path / "events.db", ManualClock(1e10))
        await queue.start()
        assert [e.id for e in await queue.lease(10, 10)] == ["id-2"]
        assert (await queue.backlog())["f"].dead_lettered == 1
        await queue.close()

    run(reopen())
    reason = sqlite3.connect(tmp_path / "events.db").execute(
        "SELECT dead_reason FROM async_queue WHERE id = 'id-1'"
    )
    assert reason.fetchone()[0].startswith("corrupt row")


def test_a_failed_write_fails_its_own_enqueue_only(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = ManualClock()
        queue = SqliteEventQueue(tmp_path / "events.db", clock)
        bad = NewEvent("bad", "f", None, None, clock.now())  # type: ignore[arg-type]
        results = await asyncio.gather(
            queue.enqueue([event(1, clock)]), queue.enqueue([bad]), return_exceptions=True
        )
        assert results[0] is None
        assert "event queue write failed" in str(results[1])
        assert [e.id for e in await queue.lease(10, 10)] == ["id-1"]
        await queue.close()

    run(scenario())


@pytest.mark.parametrize("throttles, expected", [(1, 1.0), (2, 2.0), (3, 4.0), (20, 300.0)])
def test_throttle_backoff_doubles_up_to_five_minutes(throttles: int, expected: float) -> None:
    from lambdalite.events.policy import RetryPolicy

    assert RetryPolicy().throttle_delay(throttles) == expected
    assert RetryPolicy(0.01).throttle_delay(throttles) == pytest.approx(expected * 0.01)


def test_the_same_id_enqueued_twice_at_once_is_stored_and_leased_once(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = ManualClock()
        queue = SqliteEventQueue(tmp_path / "events.db", clock)
        await asyncio.gather(queue.enqueue([event(1, clock)]), queue.enqueue([event(1, clock)]))
        await queue.enqueue([event(1, clock)])
        assert [e.id for e in await queue.lease(10, 10)] == ["id-1"]
        await queue.close()
        rows = sqlite3.connect(tmp_path / "events.db").execute("SELECT id FROM async_queue").fetchall()
        assert rows == [("id-1",)]

    run(scenario())


OLD_SCHEMA = """
CREATE TABLE async_events (
    id TEXT PRIMARY KEY, function TEXT NOT NULL, qualifier TEXT, payload BLOB NOT NULL,
    enqueued_at REAL NOT NULL, available_at REAL NOT NULL, deliveries INTEGER NOT NULL DEFAULT 0,
    meta TEXT NOT NULL DEFAULT '{}', dead_reason TEXT
);
"""


def test_events_of_the_first_schema_keyed_by_request_id_are_moved_and_delivered(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "events.db") as db:
        db.executescript(OLD_SCHEMA)
        db.executemany(
            "INSERT INTO async_events (id, function, payload, enqueued_at, available_at, deliveries, meta, "
            "dead_reason) VALUES (?, 'f', ?, ?, ?, ?, ?, ?)",
            [
                ("late", b"2", 20.0, 20.0, 0, "{}", None),
                ("early", b"1", 10.0, 10.0, 1, '{"attempts": "1"}', None),
                ("parked", b"3", 5.0, 5.0, 5, "{}", "corrupt row: x"),
            ],
        )

    async def scenario() -> None:
        clock = ManualClock(100.0)
        queue = SqliteEventQueue(tmp_path / "events.db", clock)
        await queue.start()
        leased = await queue.lease(10, 10)
        assert [(e.id, e.payload, e.deliveries, dict(e.meta)) for e in leased] == [
            ("early", b"1", 2, {"attempts": "1"}),
            ("late", b"2", 1, {}),
        ]
        await queue.enqueue([event(9, clock)])  # numbered after the moved rows
        await queue.close()

    run(scenario())
    db = sqlite3.connect(tmp_path / "events.db")
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "async_events" not in tables
    assert db.execute("SELECT id, dead_reason FROM async_queue ORDER BY seq").fetchall() == [
        ("parked", "corrupt row: x"),
        ("early", None),
        ("late", None),
        ("id-9", None),
    ]


def test_leases_that_never_started_across_many_restarts_do_not_dead_letter_an_event(tmp_path: Path) -> None:
    async def life(start: bool) -> list[str]:
        queue = SqliteEventQueue(tmp_path / "events.db", ManualClock(), max_deliveries=2)
        await queue.start()
        if not (tmp_path / "filled").exists():
            (tmp_path / "filled").touch()
            await queue.enqueue([event(1, ManualClock())])
        try:
            leased = await asyncio.wait_for(queue.lease(10, 60), 0.5)
        except TimeoutError:
            leased = []  # nothing to lease
        if start:
            for e in leased:
                queue.started(e.id)
        await queue.close()
        return [e.id for e in leased]

    for _ in range(5):
        assert run(life(start=False)) == ["id-1"]  # leased, never invoked, then the node "dies"
    assert run(life(start=True)) == ["id-1"]
    assert run(life(start=True)) == ["id-1"]
    assert run(life(start=True)) == []  # two invocations died with it: dead-lettered
