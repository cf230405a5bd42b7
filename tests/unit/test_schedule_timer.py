"""The schedule timer on a fake clock over a real SQLite store: firings on time,
once after missed periods, again after a crash between record and delivery, only
under the lease; and a scheduled rule's event as AWS sends it."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest

from lambdalite.clock import SteppingClock
from lambdalite.events.schedule_timer import LEASE_S, ScheduleTimer
from lambdalite.events.service_targets import Siblings
from lambdalite.protocol.front import Call, calling
from lambdalite.services.events.service import EventsService
from lambdalite.services.sqs.service import SqsService
from lambdalite.store.buses import SqliteBusStore
from lambdalite.store.queues import SqliteQueueStore
from lambdalite.store.schedules import Firing, SqliteScheduleStore
from lambdalite.store.sqlite import SqliteDatabase

START = 1_800_000_000.0  # a whole minute


def rig(tmp_path: Path) -> tuple[SqliteScheduleStore, SteppingClock, list[Firing]]:
    return SqliteScheduleStore(SqliteDatabase(tmp_path / "db")), SteppingClock(START), []


def timer(
    store: SqliteScheduleStore, clock: SteppingClock, fired: list[Firing], owner: str = "a"
) -> ScheduleTimer:
    async def deliver(firing: Firing) -> None:
        fired.append(firing)

    return ScheduleTimer(store, clock, deliver, owner)


def test_a_rate_fires_each_period(tmp_path: Path) -> None:
    store, clock, fired = rig(tmp_path)
    t = timer(store, clock, fired)
    t.set("r", "rate(1 minute)")
    assert asyncio.run(t.tick()) <= 1.0 and fired == []
    clock.advance(60)
    asyncio.run(t.tick())
    assert [f.scheduled_at for f in fired] == [START + 60]
    clock.advance(30)
    asyncio.run(t.tick())
    clock.advance(30)
    asyncio.run(t.tick())
    assert [f.scheduled_at for f in fired] == [START + 60, START + 120]
    assert store.pending_firings() == []


def test_missed_firings_fire_once_after_a_restart(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store, clock, fired = rig(tmp_path)
    timer(store, clock, fired).set("r", "rate(1 minute)")
    clock.advance(10 * 60 + 5)  # the server was down for ten periods
    restarted = timer(store, clock, fired)
    with caplog.at_level(logging.WARNING, "lambdalite.schedules"):
        asyncio.run(restarted.tick())
    assert [f.scheduled_at for f in fired] == [START + 600]
    assert "missed 9 firings while the server was down: firing once" in caplog.text
    clock.advance(55)
    asyncio.run(restarted.tick())
    assert [f.scheduled_at for f in fired] == [START + 600, START + 660]


def test_a_firing_recorded_but_not_delivered_is_delivered_at_start(tmp_path: Path) -> None:
    store, clock, fired = rig(tmp_path)
    timer(store, clock, fired).set("r", "cron(0 12 * * ? *)")
    store.record_firing(Firing("f-1", "r", START), None)  # then the server died
    asyncio.run(timer(store, clock, fired).tick())
    assert [f.id for f in fired] == ["f-1"]
    assert store.pending_firings() == []


def test_only_the_lease_holder_fires(tmp_path: Path) -> None:
    store, clock, fired = rig(tmp_path)
    first = timer(store, clock, fired, "node-1")
    first.set("r", "rate(1 minute)")
    asyncio.run(first.tick())
    clock.advance(55)
    asyncio.run(first.tick())  # renews its lease
    second_fired: list[Firing] = []
    second = timer(store, clock, second_fired, "node-2")
    clock.advance(5)
    asyncio.run(second.tick())
    assert second_fired == []
    asyncio.run(first.tick())
    assert len(fired) == 1
    clock.advance(LEASE_S + 60)  # node-1 stopped renewing
    asyncio.run(second.tick())
    assert len(second_fired) == 1


def test_a_scheduled_rule_sends_awss_scheduled_event(tmp_path: Path) -> None:
    async def scenario() -> dict[str, object]:
        db = SqliteDatabase(tmp_path / "db")
        clock = SteppingClock(START)
        sqs = SqsService(SqliteQueueStore(db), clock, "us-east-1", "000000000000")
        reach = Siblings("us-east-1", "000000000000", None, lambda: sqs, lambda: None, lambda: None)
        events = EventsService(SqliteBusStore(db), clock, reach, SqliteScheduleStore(db))
        with calling(Call("x", "json", "localhost", "r")):
            await sqs.create_queue({"QueueName": "ticks"})
            await events.put_rule({"Name": "tick", "ScheduleExpression": "cron(0/5 * * * ? *)"})
            arn = "arn:aws:sqs:us-east-1:000000000000:ticks"
            await events.put_targets({"Rule": "tick", "Targets": [{"Id": "q", "Arn": arn}]})
            assert events.timer is not None
            clock.advance(5 * 60)
            await events.timer.tick()
            received = await sqs.receive_message({"QueueUrl": "ticks"})
        return json.loads(received["Messages"][0]["Body"])

    event = asyncio.run(scenario())
    assert event["detail-type"] == "Scheduled Event" and event["source"] == "aws.events"
    assert event["resources"] == ["arn:aws:events:us-east-1:000000000000:rule/tick"]
    assert event["detail"] == {} and event["time"] == "2027-01-15T08:05:00Z"
