"""EventBridge target retries on a fake clock over a real SQLite store: backoff
that grows with jitter, a retry that survives a restart and then delivers, the age
limit sending the event to the dead-letter queue with AWS's attributes, and the
failures no retry can mend (a missing target, a denial) going there at once."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

import pytest

from lambdalite.clock import SteppingClock
from lambdalite.errors import ResourceNotFound, TooManyRequests
from lambdalite.events.service_targets import Siblings
from lambdalite.events.targets import DeliveryError
from lambdalite.protocol.errors import ServiceFault
from lambdalite.protocol.front import Call, calling
from lambdalite.services.events.retries import (
    AGE,
    ATTEMPTS,
    MAX_DELAY_S,
    POLL_S,
    RetryPolicy,
    backoff,
    failure_of,
)
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


class Flaky:
    """The SQS service, except that sends to the queues in ``failing`` raise their fault
    (``times`` times each; None: always)."""

    def __init__(self, sqs: SqsService, failing: dict[str, ServiceFault], times: int | None = None) -> None:
        self.sqs = sqs
        self.failing = failing
        self.times = times
        self.refused = 0

    def queue_by_arn(self, arn: str) -> Any:
        return self.sqs.queue_by_arn(arn)

    def _refuse(self, url: str) -> None:
        fault = self.failing.get(url)
        if fault is not None and (self.times is None or self.refused < self.times):
            self.refused += 1
            raise fault

    async def send_message(self, request: dict[str, Any]) -> dict[str, Any]:
        self._refuse(request["QueueUrl"])
        return await self.sqs.send_message(request)

    async def send_message_batch(self, request: dict[str, Any]) -> dict[str, Any]:
        self._refuse(request["QueueUrl"])
        return await self.sqs.send_message_batch(request)


UNAVAILABLE = ServiceFault("ServiceUnavailable", "try later", 503, sender_fault=False)


def rig(
    db: SqliteDatabase,
    clock: SteppingClock,
    failing: dict[str, ServiceFault] | None = None,
    times: int | None = None,
) -> tuple[EventsService, SqsService]:
    sqs = SqsService(SqliteQueueStore(db), clock, "us-east-1", "000000000000")
    queues = Flaky(sqs, failing or {}, times)
    reach = Siblings("us-east-1", "000000000000", None, lambda: queues, lambda: None, lambda: None)
    return EventsService(SqliteBusStore(db), clock, reach, None, random.Random(5)), sqs


def attributes_of(message: dict[str, Any]) -> dict[str, str]:
    return {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}


@pytest.mark.parametrize(
    ("cause", "code", "retriable"),
    [
        (None, "NO_RESOURCE", False),
        (ServiceFault("AccessDenied", "no", 403), "NO_PERMISSIONS", False),
        (ServiceFault("AuthorizationError", "no", 403), "NO_PERMISSIONS", False),
        (ServiceFault("NotFound", "Topic does not exist", 404), "NO_RESOURCE", False),
        (ResourceNotFound("Function not found"), "NO_RESOURCE", False),
        (ServiceFault("InvalidParameterValue", "too big"), "INVALID_PARAMETER", False),
        (
            TooManyRequests("Rate exceeded", "ReservedFunctionConcurrentInvocationLimitExceeded"),
            "THROTTLING",
            True,
        ),
        (ServiceFault("ThrottlingException", "slow down", 400), "THROTTLING", True),
        (UNAVAILABLE, "ERROR_FROM_TARGET", True),
        (TimeoutError(), "TIMEOUT", True),
        (ConnectionResetError(), "CONNECTION_FAILURE", True),
        (RuntimeError("asynchronous invocation is not running"), "INTERNAL_ERROR", True),
    ],
)
def test_which_failures_are_retried(cause: BaseException | None, code: str, retriable: bool) -> None:
    error = DeliveryError("cannot deliver")
    error.__cause__ = cause
    failure = failure_of(error)
    assert (failure.code, failure.retriable, failure.message) == (code, retriable, "cannot deliver")


async def received(sqs: SqsService, name: str) -> list[dict[str, Any]]:
    answer = await sqs.receive_message(
        {"QueueUrl": name, "MaxNumberOfMessages": 10, "MessageAttributeNames": ["All"]}
    )
    return list(answer.get("Messages") or [])


def test_a_retry_survives_a_restart_then_delivers(tmp_path: Path) -> None:
    async def scenario() -> list[dict[str, Any]]:
        clock = SteppingClock(START)
        events, sqs = rig(SqliteDatabase(tmp_path / "db"), clock, {"later": UNAVAILABLE})
        with calling(Call("x", "json", "localhost", "r")):
            await sqs.create_queue({"QueueName": "later"})
            await events.put_rule({"Name": "r", "EventPattern": '{"source": ["s"]}'})
            target = {"Id": "t", "Arn": ARN + "later", "RetryPolicy": {"MaximumRetryAttempts": 5}}
            await events.put_targets({"Rule": "r", "Targets": [target]})
            await events.put_events({"Entries": [{"Source": "s", "DetailType": "d", "Detail": "{}"}]})
            restarted, sqs = rig(SqliteDatabase(tmp_path / "db"), clock)  # restarted; the queue is back
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
        events, sqs = rig(SqliteDatabase(tmp_path / "db"), clock, {"never": UNAVAILABLE})
        with calling(Call("x", "json", "localhost", "r")):
            await sqs.create_queue({"QueueName": "dlq"})
            await sqs.create_queue({"QueueName": "never"})
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
    attributes = attributes_of(message)
    assert attributes["ERROR_CODE"] == "ERROR_FROM_TARGET"
    assert attributes["EXHAUSTED_RETRY_CONDITION"] == AGE
    assert 4 <= int(attributes["RETRY_ATTEMPTS"]) <= 6  # 1+2+4+8+16 s of backoff, jittered, within a minute
    assert attributes["RULE_ARN"] == "arn:aws:events:us-east-1:000000000000:rule/r"


@pytest.mark.parametrize(
    ("failing", "code"),
    [
        ({}, "NO_RESOURCE"),  # the target queue was never created
        (
            {"gone": ServiceFault("AccessDenied", "User: events.amazonaws.com is not authorized", 403)},
            "NO_PERMISSIONS",
        ),
    ],
)
def test_a_failure_no_retry_can_mend_goes_to_the_dead_letter_queue_at_once(
    tmp_path: Path, failing: dict[str, ServiceFault], code: str
) -> None:
    async def scenario() -> tuple[list[dict[str, Any]], float]:
        clock = SteppingClock(START)
        events, sqs = rig(SqliteDatabase(tmp_path / "db"), clock, failing)
        with calling(Call("x", "json", "localhost", "r")):
            await sqs.create_queue({"QueueName": "dlq"})
            if failing:
                await sqs.create_queue({"QueueName": "gone"})
            await events.put_rule({"Name": "r", "EventPattern": '{"source": ["s"]}'})
            target = {"Id": "t", "Arn": ARN + "gone", "DeadLetterConfig": {"Arn": ARN + "dlq"}}
            await events.put_targets({"Rule": "r", "Targets": [target]})
            await events.put_events({"Entries": [{"Source": "s", "DetailType": "d", "Detail": "{}"}]})
            # Nothing waits for a retry: the event is in the dead-letter queue already.
            return await received(sqs, "dlq"), await events.retry_due()

    (message,), wait = asyncio.run(scenario())
    attributes = attributes_of(message)
    assert attributes["ERROR_CODE"] == code
    assert "EXHAUSTED_RETRY_CONDITION" not in attributes and "RETRY_ATTEMPTS" not in attributes
    assert attributes["TARGET_ARN"] == ARN + "gone"
    assert wait == POLL_S  # no retry is stored


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
