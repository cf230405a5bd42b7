"""The schedule timer on a fake clock over a real SQLite store: firings on time,
once after missed periods, again after a crash between record and delivery, only
under the lease; and a scheduled rule's event as AWS sends it."""

from __future__ import annotations

import asyncio
import json
import logging
import random
from pathlib import Path

import pytest

from lambdalite.clock import SteppingClock
from lambdalite.events.schedule_timer import LEASE_S, ScheduleTimer
from lambdalite.events.service_targets import Siblings
from lambdalite.protocol.front import Call, calling
from lambdalite.services.events.service import EventsService
from lambdalite.services.scheduler.service import SchedulerService
from lambdalite.services.sqs.service import SqsService
from lambdalite.store.buses import SqliteBusStore
from lambdalite.store.queues import SqliteQueueStore
from lambdalite.store.scheduler_docs import SqliteSchedulerStore
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


def test_a_delayed_firing_waits_durably_until_it_is_due(tmp_path: Path) -> None:
    store, clock, fired = rig(tmp_path)

    async def deliver(firing: Firing) -> None:
        fired.append(firing)

    delayed = ScheduleTimer(store, clock, deliver, "a", delay=lambda key: 90.0 if key == "slow" else 0.0)
    delayed.set("slow", "rate(5 minutes)")
    delayed.set("fast", "rate(1 minute)")
    clock.advance(300)
    asyncio.run(delayed.tick())
    assert {f.key for f in fired} == {"fast"}  # the slow one waits; the others go on
    assert [(f.key, f.scheduled_at, f.due) for f in store.pending_firings()] == [
        ("slow", START + 300, START + 390)
    ]
    clock.advance(60)
    restarted = ScheduleTimer(store, clock, deliver, "a", delay=lambda key: 0.0)  # the server restarted
    assert asyncio.run(restarted.tick()) <= 30.0
    assert [f.key for f in fired].count("slow") == 0
    clock.advance(30)
    asyncio.run(restarted.tick())
    slow = [f for f in fired if f.key == "slow"]
    assert [(f.scheduled_at, f.due) for f in slow] == [(START + 300, START + 390)]
    assert store.pending_firings() == []


def test_a_flexible_window_delivers_at_a_random_time_within_it(tmp_path: Path) -> None:
    queue_arn = "arn:aws:sqs:us-east-1:000000000000:flex"
    drawn = random.Random(7).uniform(0.0, 10 * 60.0)

    async def scenario() -> list[float]:
        db = SqliteDatabase(tmp_path / "db")
        clock = SteppingClock(START)
        sqs = SqsService(SqliteQueueStore(db), clock, "us-east-1", "000000000000")
        reach = Siblings("us-east-1", "000000000000", None, lambda: sqs, lambda: None, lambda: None)
        seen: list[float] = []

        def service() -> SchedulerService:
            return SchedulerService(
                SqliteSchedulerStore(db), clock, reach, SqliteScheduleStore(db), random.Random(7)
            )

        async def arrived() -> int:
            got = await sqs.receive_message({"QueueUrl": "flex", "MaxNumberOfMessages": 10})
            for message in got.get("Messages") or []:
                await sqs.delete_message({"QueueUrl": "flex", "ReceiptHandle": message["ReceiptHandle"]})
            return len(got.get("Messages") or [])

        with calling(Call("x", "json", "localhost", "r")):
            await sqs.create_queue({"QueueName": "flex"})
            scheduler = service()
            await scheduler.create_schedule(
                {
                    "Name": "flex",
                    "ScheduleExpression": "rate(30 minutes)",
                    "FlexibleTimeWindow": {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 10},
                    "Target": {"Arn": queue_arn, "RoleArn": "arn:aws:iam::000000000000:role/r"},
                }
            )
            assert scheduler.timer is not None
            clock.advance(30 * 60)
            await scheduler.timer.tick()
            seen.append(await arrived())  # the window's start: not yet
            clock.advance(drawn - 1)
            restarted = service()  # a restart inside the window keeps the drawn time
            assert restarted.timer is not None
            await restarted.timer.tick()
            seen.append(await arrived())
            clock.advance(1)
            await restarted.timer.tick()
            seen.append(await arrived())
        return seen

    assert 0 < drawn < 600
    assert asyncio.run(scenario()) == [0, 0, 1]
