"""EventBridge target retries on a fake clock over a real SQLite store: backoff
that grows with jitter, a retry that survives a restart and then delivers, and
the age limit sending the event to the dead-letter queue with AWS's attributes."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

from lambdalite.clock import SteppingClock
from lambdalite.events.service_targets import Siblings
from lambdalite.protocol.front import Call, calling
from lambdalite.services.events.retries import AGE, ATTEMPTS, MAX_DELAY_S, RetryPolicy, backoff
from lambdalite.services.events.service import EventsService
from lambdalite.services.scheduler.service import SchedulerService
from lambdalite.services.sqs.service import SqsService
from lambdalite.store.buses import SqliteBusStore
from lambdalite.store.queues import SqliteQueueStore
from lambdalite.store.scheduler_docs import SqliteSchedulerStore
from lambdalite.store.schedules import SqliteScheduleStore
from lambdalite.store.sqlite import SqliteDatabase

START = 1_800_000_000.0
ARN = "arn:aws:sqs:us-east-1:000000000000:"


def test_backoff_grows_with_jitter_up_to_its_cap() -> None:
    rng = random.Random(3)
    delays = [backoff(n, rng) for n in range(12)]
    assert 0.5 <= delays[0] <= 1.0 and 1.0 <= delays[1] <= 2.0 and 4.0 <= delays[3] <= 8.0
    assert all(MAX_DELAY_S / 2 <= d <= MAX_DELAY_S for d in delays[9:])
    assert backoff(2, random.Random(1)) != backoff(2, random.Random(2))


def test_the_policy_defaults_and_limits() -> None:
    default = RetryPolicy.of({})
    assert (default.max_retries, default.max_age_s) == (185, 86_400)
    policy = RetryPolicy.of({"RetryPolicy": {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 60}})
    assert policy.exhausted(2, START, START + 10) is None
    assert policy.exhausted(3, START, START + 10) == ATTEMPTS
    assert policy.exhausted(1, START, START + 61) == AGE


def rig(db: SqliteDatabase, clock: SteppingClock) -> tuple[EventsService, SqsService]:
    sqs = SqsService(SqliteQueueStore(db), clock, "us-east-1", "000000000000")
    reach = Siblings("us-east-1", "000000000000", None, lambda: sqs, lambda: None, lambda: None)
    return EventsService(SqliteBusStore(db), clock, reach, None, random.Random(5)), sqs


async def received(sqs: SqsService, name: str) -> list[dict[str, Any]]:
    answer = await sqs.receive_message(
        {"QueueUrl": name, "MaxNumberOfMessages": 10, "MessageAttributeNames": ["All"]}
    )
    return list(answer.get("Messages") or [])


def test_a_retry_survives_a_restart_then_delivers(tmp_path: Path) -> None:
    async def scenario() -> list[dict[str, Any]]:
        clock = SteppingClock(START)
        events, sqs = rig(SqliteDatabase(tmp_path / "db"), clock)
        with calling(Call("x", "json", "localhost", "r")):
            await events.put_rule({"Name": "r", "EventPattern": '{"source": ["s"]}'})
            target = {"Id": "t", "Arn": ARN + "later", "RetryPolicy": {"MaximumRetryAttempts": 5}}
            await events.put_targets({"Rule": "r", "Targets": [target]})
            await events.put_events({"Entries": [{"Source": "s", "DetailType": "d", "Detail": "{}"}]})
            restarted, sqs = rig(SqliteDatabase(tmp_path / "db"), clock)  # the server restarted
            await sqs.create_queue({"QueueName": "later"})
            assert await restarted.retry_due() <= 1.0  # not due yet
            assert await received(sqs, "later") == []
            clock.advance(1.0)
            await restarted.retry_due()
            return await received(sqs, "later")

    messages = asyncio.run(scenario())
    assert [json.loads(m["Body"])["source"] for m in messages] == ["s"]


def test_an_event_too_old_for_another_retry_goes_to_the_dead_letter_queue(tmp_path: Path) -> None:
    async def scenario() -> list[dict[str, Any]]:
        clock = SteppingClock(START)
        events, sqs = rig(SqliteDatabase(tmp_path / "db"), clock)
        with calling(Call("x", "json", "localhost", "r")):
            await sqs.create_queue({"QueueName": "dlq"})
            await events.put_rule({"Name": "r", "EventPattern": '{"source": ["s"]}'})
            target = {
                "Id": "t",
                "Arn": ARN + "never",
                "DeadLetterConfig": {"Arn": ARN + "dlq"},
                "RetryPolicy": {"MaximumEventAgeInSeconds": 60},
            }
            await events.put_targets({"Rule": "r", "Targets": [target]})
            await events.put_events({"Entries": [{"Source": "s", "DetailType": "d", "Detail": "{}"}]})
            passes = 0
            while not (found := await received(sqs, "dlq")):
                clock.advance(await events.retry_due() or 0.01)
                passes += 1
                assert passes < 1000
            assert clock.now() - START <= 60.0
            return found

    (message,) = asyncio.run(scenario())
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes["EXHAUSTED_RETRY_CONDITION"] == AGE
    assert 4 <= int(attributes["RETRY_ATTEMPTS"]) <= 6  # 1+2+4+8+16 s of backoff, jittered, within a minute
    assert attributes["RULE_ARN"] == "arn:aws:events:us-east-1:000000000000:rule/r"


def test_a_scheduler_retry_survives_a_restart_and_its_schedules_deletion(tmp_path: Path) -> None:
    async def scenario() -> list[dict[str, Any]]:
        db = SqliteDatabase(tmp_path / "db")
        clock = SteppingClock(START)
        sqs = SqsService(SqliteQueueStore(db), clock, "us-east-1", "000000000000")
        reach = Siblings("us-east-1", "000000000000", None, lambda: sqs, lambda: None, lambda: None)

        def scheduler() -> SchedulerService:
            return SchedulerService(
                SqliteSchedulerStore(db), clock, reach, SqliteScheduleStore(db), random.Random(5)
            )

        with calling(Call("x", "json", "localhost", "r")):
            first = scheduler()
            await first.create_schedule(
                {
                    "Name": "once",
                    "ScheduleExpression": "at(2027-01-15T08:01:00)",
                    "FlexibleTimeWindow": {"Mode": "OFF"},
                    "ActionAfterCompletion": "DELETE",
                    "Target": {"Arn": ARN + "later", "RoleArn": "arn:aws:iam::000000000000:role/r"},
                }
            )
            assert first.timer is not None
            clock.advance(60)
            await first.timer.tick()  # fires, fails (no queue yet), and the schedule is deleted
            assert (await first.list_schedules({}))["Schedules"] == []
            restarted = scheduler()
            await sqs.create_queue({"QueueName": "later"})
            clock.advance(1.0)
            await restarted.retry_due()
            return await received(sqs, "later")

    (message,) = asyncio.run(scenario())
    assert message["Body"] == "{}"
