"""Bucket notifications: matching, AWS's record, and the outbox that makes delivery
at-least-once (written with the change, removed only after the target took it)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson

from lambdalite.events.targets import Attributes, Targets
from lambdalite.services.s3.notifications import Notifier, event_matches, key_matches
from lambdalite.store.objects import BucketRecord, ObjectRecord, SqliteObjectStore
from lambdalite.store.sqlite import SqliteDatabase

QUEUE = "arn:aws:sqs:us-east-1:000000000000:q"


class Clock:
    def now(self) -> float:
        return 1_700_000_000.5


class Inbox:
    arn = QUEUE

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def send(self, body: bytes, attributes: Attributes) -> None:
        self.bodies.append(body)


def test_event_types_and_key_filters() -> None:
    assert event_matches(["s3:ObjectCreated:*"], "s3:ObjectCreated:CompleteMultipartUpload")
    assert not event_matches(["s3:ObjectCreated:Put"], "s3:ObjectCreated:Copy")
    assert not event_matches(["s3:ObjectRemoved:*"], "s3:ObjectCreated:Put")
    rules = {
        "Filter": {
            "Key": {"FilterRules": [{"Name": "Prefix", "Value": "in/"}, {"Name": "suffix", "Value": ".jpg"}]}
        }
    }
    assert (
        key_matches(rules, "in/a.jpg")
        and not key_matches(rules, "in/a.png")
        and not key_matches(rules, "a.jpg")
    )


def test_the_outbox_survives_a_restart_and_is_delivered_once(tmp_path: Path) -> None:
    db = SqliteDatabase(tmp_path / "db")
    store = SqliteObjectStore(db, tmp_path / "s3")
    inbox = Inbox()
    targets = Targets()
    targets.register("sqs", lambda arn: inbox if arn == QUEUE else None)
    bucket = BucketRecord(
        "b",
        0.0,
        "us-east-1",
        config={
            "notification": {
                "QueueConfigurations": [{"Id": "c", "QueueArn": QUEUE, "Events": ["s3:ObjectCreated:*"]}]
            }
        },
    )
    notifier = Notifier(targets, store, Clock())
    messages = notifier.messages(bucket, "s3:ObjectCreated:Put", "a b/ü.txt", 3, '"abc"')
    temp = store.temp_path()
    temp.write_bytes(b"abc")
    store.put_object(ObjectRecord("b", "a b/ü.txt", "", 3, '"abc"', 0.0), temp, messages)
    # The process dies here; a new one finds the notification and sends it.
    again = Notifier(targets, SqliteObjectStore(db, tmp_path / "s3"), Clock())
    asyncio.run(again.flush())
    asyncio.run(again.flush())
    assert len(inbox.bodies) == 1
    record = orjson.loads(inbox.bodies[0])["Records"][0]
    assert record["eventName"] == "ObjectCreated:Put"
    assert record["eventTime"] == "2023-11-14T22:13:20.500Z"
    assert record["s3"]["object"] == {
        "key": "a+b/%C3%BC.txt",
        "size": 3,
        "eTag": "abc",
        "sequencer": record["s3"]["object"]["sequencer"],
    }
    assert record["s3"]["configurationId"] == "c"


def test_the_policy_check_wants_s3_as_principal_and_a_matching_source() -> None:
    from lambdalite.services.s3.notifications import s3_may_invoke

    allow = {
        "Effect": "Allow",
        "Principal": {"Service": "s3.amazonaws.com"},
        "Action": "lambda:InvokeFunction",
    }
    assert s3_may_invoke([allow], "any")
    scoped = {**allow, "Condition": {"ArnLike": {"AWS:SourceArn": "arn:aws:s3:::photos-*"}}}
    assert s3_may_invoke([scoped], "photos-in") and not s3_may_invoke([scoped], "other")
    assert not s3_may_invoke([{**allow, "Principal": {"Service": "sns.amazonaws.com"}}], "any")
    assert not s3_may_invoke([], "any")
