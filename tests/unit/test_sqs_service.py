"""The SQS operations on a fake clock and a real SQLite queue store: visibility,
delays, retention, redrive, FIFO order and deduplication, long polls, and AWS's
errors for each misuse."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lambdalite.clock import SteppingClock
from lambdalite.protocol.errors import ServiceFault
from lambdalite.protocol.front import Call, calling
from lambdalite.services.sqs.md5 import md5_of_attributes
from lambdalite.services.sqs.queue import message_id
from lambdalite.services.sqs.service import SqsService
from lambdalite.store.queues import SqliteQueueStore
from lambdalite.store.sqlite import SqliteDatabase

HOST = "127.0.0.1:9001"
ACCOUNT = "000000000000"


class Sqs:
    """The service called as the front calls it, one operation at a time."""

    def __init__(self, path: Path, clock: SteppingClock) -> None:
        self.db = SqliteDatabase(path)
        self.clock = clock
        self.service = SqsService(SqliteQueueStore(self.db), clock, "us-east-1", ACCOUNT)

    def __call__(self, operation: str, **request: Any) -> dict[str, Any]:
        return asyncio.run(self.call(operation, **request))

    async def call(self, operation: str, **request: Any) -> dict[str, Any]:
        with calling(Call(operation, "json", HOST, "r")):
            result: dict[str, Any] = await getattr(self.service, operation)(request)
            return result

    def fails(self, operation: str, **request: Any) -> ServiceFault:
        with pytest.raises(ServiceFault) as caught:
            self(operation, **request)
        return caught.value

    def queue(self, name: str, **attributes: str) -> str:
        url: str = self("create_queue", QueueName=name, Attributes=attributes)["QueueUrl"]
        return url

    def receive(self, url: str, **request: Any) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = self("receive_message", QueueUrl=url, **request).get("Messages", [])
        return messages


@pytest.fixture
def clock() -> SteppingClock:
    return SteppingClock()


@pytest.fixture
def sqs(tmp_path: Path, clock: SteppingClock) -> Iterator[Sqs]:
    client = Sqs(tmp_path / "db", clock)
    yield client
    client.db.close()


def fault(error: ServiceFault) -> tuple[str, str, str, int]:
    return error.fault_code, error.query_code, error.message, error.fault_status


def test_queue_urls_arns_and_attributes(sqs: Sqs) -> None:
    url = sqs.queue("jobs", VisibilityTimeout="45")
    assert url == f"http://{HOST}/{ACCOUNT}/jobs"
    assert sqs("get_queue_url", QueueName="jobs") == {"QueueUrl": url}
    attributes = sqs("get_queue_attributes", QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["QueueArn"] == f"arn:aws:sqs:us-east-1:{ACCOUNT}:jobs"
    assert attributes["VisibilityTimeout"] == "45"
    assert attributes["MessageRetentionPeriod"] == "345600"
    assert attributes["MaximumMessageSize"] == "1048576"
    # The same name and attributes: the same queue; other attributes: QueueNameExists.
    assert sqs.queue("jobs", VisibilityTimeout="45") == url
    assert sqs.queue("jobs") == url
    assert fault(sqs.fails("create_queue", QueueName="jobs", Attributes={"VisibilityTimeout": "5"})) == (
        "QueueNameExists",
        "QueueAlreadyExists",
        "A queue already exists with the same name and a different value for attribute VisibilityTimeout",
        400,
    )


def test_missing_queue_and_bad_names(sqs: Sqs) -> None:
    gone = sqs.fails("get_queue_url", QueueName="nope")
    assert fault(gone) == (
        "QueueDoesNotExist",
        "AWS.SimpleQueueService.NonExistentQueue",
        "The specified queue does not exist.",
        400,
    )
    assert sqs.fails(
        "send_message", QueueUrl=f"http://{HOST}/{ACCOUNT}/nope", MessageBody="x"
    ).fault_code == ("QueueDoesNotExist")
    other_account = sqs.fails("send_message", QueueUrl=f"http://{HOST}/111111111111/nope", MessageBody="x")
    assert other_account.fault_code == "QueueDoesNotExist"
    bad = sqs.fails("create_queue", QueueName="has space")
    assert fault(bad) == (
        "InvalidParameterValue",
        "InvalidParameterValue",
        "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length",
        400,
    )
    assert sqs.fails("create_queue", QueueName="implied.fifo").message == bad.message
    assert sqs.fails("create_queue", QueueName="q", Attributes={"FifoQueue": "maybe"}).fault_code == (
        "InvalidAttributeValue"
    )
    fifo_name = sqs.fails("create_queue", QueueName="plain", Attributes={"FifoQueue": "true"})
    assert fifo_name.message.startswith("The name of a FIFO queue can only include alphanumeric characters")
    unknown = sqs.fails("create_queue", QueueName="q", Attributes={"Colour": "blue"})
    assert fault(unknown) == (
        "InvalidAttributeName",
        "InvalidAttributeName",
        "Unknown Attribute Colour.",
        400,
    )
    out_of_range = sqs.fails("create_queue", QueueName="q", Attributes={"VisibilityTimeout": "43201"})
    assert fault(out_of_range) == (
        "InvalidAttributeValue",
        "InvalidAttributeValue",
        "Invalid value for the parameter VisibilityTimeout.",
        400,
    )
    fifo_only = sqs.fails("create_queue", QueueName="q", Attributes={"ContentBasedDeduplication": "true"})
    assert fifo_only.fault_code == "InvalidAttributeName"


def test_deleted_queue_names_wait_60_seconds(sqs: Sqs, clock: SteppingClock) -> None:
    url = sqs.queue("q")
    sqs("delete_queue", QueueUrl=url)
    assert fault(sqs.fails("create_queue", QueueName="q")) == (
        "QueueDeletedRecently",
        "AWS.SimpleQueueService.QueueDeletedRecently",
        "You must wait 60 seconds after deleting a queue before you can create another with the same name.",
        400,
    )
    clock.advance(60)
    assert sqs.queue("q") == url


def test_visibility_timeout_hides_a_received_message_until_it_runs_out(
    sqs: Sqs, clock: SteppingClock
) -> None:
    url = sqs.queue("q", VisibilityTimeout="10")
    sqs("send_message", QueueUrl=url, MessageBody="one")
    [first] = sqs.receive(url, AttributeNames=["ApproximateReceiveCount"])
    assert first["Attributes"] == {"ApproximateReceiveCount": "1"}
    assert sqs.receive(url) == []
    counts = sqs(
        "get_queue_attributes", QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
    )
    assert counts == {"Attributes": {"ApproximateNumberOfMessagesNotVisible": "1"}}
    clock.advance(10)
    [again] = sqs.receive(url, AttributeNames=["All"], VisibilityTimeout=100)
    assert again["MessageId"] == first["MessageId"]
    assert again["ReceiptHandle"] != first["ReceiptHandle"]
    assert again["Attributes"]["ApproximateReceiveCount"] == "2"
    # The first receipt is stale: deleting with it deletes nothing (and is no error).
    sqs("delete_message", QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])
    stale = sqs.fails(
        "change_message_visibility", QueueUrl=url, ReceiptHandle=first["ReceiptHandle"], VisibilityTimeout=0
    )
    assert stale.fault_code == "InvalidParameterValue"
    assert stale.message.endswith(
        "Reason: Message does not exist or is not available for visibility timeout change."
    )
    sqs("change_message_visibility", QueueUrl=url, ReceiptHandle=again["ReceiptHandle"], VisibilityTimeout=0)
    [third] = sqs.receive(url)
    sqs("delete_message", QueueUrl=url, ReceiptHandle=third["ReceiptHandle"])
    clock.advance(1000)
    assert sqs.receive(url) == []


def test_message_not_in_flight_and_invalid_receipts(sqs: Sqs, clock: SteppingClock) -> None:
    url = sqs.queue("q", VisibilityTimeout="5")
    sqs("send_message", QueueUrl=url, MessageBody="m")
    [message] = sqs.receive(url)
    clock.advance(6)
    not_inflight = sqs.fails(
        "change_message_visibility", QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=5
    )
    assert fault(not_inflight) == (
        "MessageNotInflight",
        "AWS.SimpleQueueService.MessageNotInflight",
        "The message referred to isn't in flight.",
        400,
    )
    invalid = sqs.fails("delete_message", QueueUrl=url, ReceiptHandle="garbage")
    assert fault(invalid) == (
        "ReceiptHandleIsInvalid",
        "ReceiptHandleIsInvalid",
        'The input receipt handle "garbage" is not a valid receipt handle.',
        400,
    )
    other = sqs.queue("other")
    assert sqs.fails("delete_message", QueueUrl=other, ReceiptHandle=message["ReceiptHandle"]).fault_code == (
        "ReceiptHandleIsInvalid"
    )


def test_delays_of_the_queue_and_the_message(sqs: Sqs, clock: SteppingClock) -> None:
    url = sqs.queue("q", DelaySeconds="5")
    sqs("send_message", QueueUrl=url, MessageBody="queue delay")
    sqs("send_message", QueueUrl=url, MessageBody="own delay", DelaySeconds=0)
    assert [m["Body"] for m in sqs.receive(url, MaxNumberOfMessages=10)] == ["own delay"]
    delayed = sqs("get_queue_attributes", QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesDelayed"])
    assert delayed["Attributes"]["ApproximateNumberOfMessagesDelayed"] == "1"
    clock.advance(5)
    assert [m["Body"] for m in sqs.receive(url)] == ["queue delay"]
    too_long = sqs.fails("send_message", QueueUrl=url, MessageBody="x", DelaySeconds=901)
    assert (
        too_long.message
        == "Value 901 for parameter DelaySeconds is invalid. Reason: Must be >= 0 and <= 900, if provided."
    )


def test_retention_drops_old_messages(sqs: Sqs, clock: SteppingClock) -> None:
    url = sqs.queue("q", MessageRetentionPeriod="60")
    sqs("send_message", QueueUrl=url, MessageBody="old")
    clock.advance(61)
    sqs("send_message", QueueUrl=url, MessageBody="new")
    assert [m["Body"] for m in sqs.receive(url, MaxNumberOfMessages=10)] == ["new"]


def test_message_size_and_contents(sqs: Sqs) -> None:
    url = sqs.queue("q", MaximumMessageSize="1024")
    too_big = sqs.fails("send_message", QueueUrl=url, MessageBody="x" * 1025)
    assert fault(too_big) == (
        "InvalidParameterValue",
        "InvalidParameterValue",
        "One or more parameters are invalid. Reason: Message must be shorter than 1024 bytes.",
        400,
    )
    bad = sqs.fails("send_message", QueueUrl=url, MessageBody="\x00")
    assert bad.fault_code == "InvalidMessageContents"
    assert bad.message.startswith("Invalid characters found.")
    empty = sqs.fails("send_message", QueueUrl=url, MessageBody="")
    assert fault(empty) == (
        "MissingParameter",
        "MissingParameter",
        "The request must contain the parameter MessageBody.",
        400,
    )
    no_value = sqs.fails(
        "send_message", QueueUrl=url, MessageBody="x", MessageAttributes={"a": {"DataType": "String"}}
    )
    assert no_value.message == (
        "The message attribute 'a' must contain non-empty message attribute value "
        "for message attribute type 'String'."
    )


def test_message_attributes_and_their_digest(sqs: Sqs) -> None:
    url = sqs.queue("q")
    attributes = {
        "text": {"DataType": "String", "StringValue": "héllo"},
        "n": {"DataType": "Number.int", "StringValue": "42"},
        "raw": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
    }
    sent = sqs("send_message", QueueUrl=url, MessageBody="b", MessageAttributes=attributes)
    assert sent["MD5OfMessageBody"] == hashlib.md5(b"b").hexdigest()
    assert sent["MD5OfMessageAttributes"] == md5_of_attributes(attributes)
    [message] = sqs.receive(url, MessageAttributeNames=["te.*", "n"], VisibilityTimeout=0)
    assert set(message["MessageAttributes"]) == {"n"}
    [message] = sqs.receive(url, MessageAttributeNames=["All"])
    assert message["MessageAttributes"] == attributes
    assert message["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]


def test_the_attribute_digest_matches_an_independent_implementation() -> None:
    """The vector was computed by moto's server (its own implementation of SQS's digest)."""
    attributes = {
        "text": {"DataType": "String", "StringValue": "héllo"},
        "n": {"DataType": "Number.int", "StringValue": "42"},
        "raw": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        "c": {"DataType": "String.custom", "StringValue": "x"},
    }
    assert md5_of_attributes(attributes) == "15e957fcbaf851cf0efdd3748888a7cf"


def test_redrive_moves_a_message_after_max_receives(sqs: Sqs, clock: SteppingClock) -> None:
    dlq = sqs.queue("dead")
    dlq_arn = f"arn:aws:sqs:us-east-1:{ACCOUNT}:dead"
    policy = f'{{"deadLetterTargetArn": "{dlq_arn}", "maxReceiveCount": 2}}'
    url = sqs.queue("work", VisibilityTimeout="1", RedrivePolicy=policy)
    sqs("send_message", QueueUrl=url, MessageBody="poison")
    for _ in range(2):
        assert len(sqs.receive(url)) == 1
        clock.advance(1)
    assert sqs.receive(url) == []
    [dead] = sqs.receive(dlq, AttributeNames=["ApproximateReceiveCount", "DeadLetterQueueSourceArn"])
    assert dead["Body"] == "poison"
    assert dead["Attributes"] == {
        "ApproximateReceiveCount": "1",
        "DeadLetterQueueSourceArn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:work",
    }
    assert sqs("list_dead_letter_source_queues", QueueUrl=dlq) == {"queueUrls": [url]}
    missing = sqs.fails(
        "set_queue_attributes",
        QueueUrl=url,
        Attributes={"RedrivePolicy": policy.replace(":dead", ":nothere")},
    )
    assert missing.fault_code == "InvalidParameterValue"
    assert missing.message.endswith("Reason: Dead letter target does not exist.")
    count = sqs.fails(
        "set_queue_attributes", QueueUrl=url, Attributes={"RedrivePolicy": policy.replace(": 2", ": 0")}
    )
    assert count.message.endswith(
        "Reason: Invalid value for maxReceiveCount: 0, valid values are from 1 to 1000 both inclusive."
    )


def test_fifo_order_per_group_and_one_batch_in_flight(sqs: Sqs, clock: SteppingClock) -> None:
    url = sqs.queue("orders.fifo", FifoQueue="true", ContentBasedDeduplication="true", VisibilityTimeout="30")
    for i in range(3):
        sqs("send_message", QueueUrl=url, MessageBody=f"a{i}", MessageGroupId="a")
        sqs("send_message", QueueUrl=url, MessageBody=f"b{i}", MessageGroupId="b")
    first = sqs.receive(url, MaxNumberOfMessages=2, AttributeNames=["All"])
    assert [m["Body"] for m in first] == ["a0", "b0"]
    assert int(first[0]["Attributes"]["SequenceNumber"]) < int(first[1]["Attributes"]["SequenceNumber"])
    assert first[0]["Attributes"]["MessageGroupId"] == "a"
    # Both groups have a message in flight: nothing more until they are deleted.
    assert sqs.receive(url, MaxNumberOfMessages=10) == []
    sqs("delete_message", QueueUrl=url, ReceiptHandle=first[0]["ReceiptHandle"])
    assert [m["Body"] for m in sqs.receive(url, MaxNumberOfMessages=10)] == ["a1", "a2"]
    clock.advance(30)
    bodies = [m["Body"] for m in sqs.receive(url, MaxNumberOfMessages=10)]
    assert [b for b in bodies if b.startswith("a")] == ["a1", "a2"]
    assert [b for b in bodies if b.startswith("b")] == ["b0", "b1", "b2"]


def test_a_long_blocked_fifo_group_does_not_hide_the_others(sqs: Sqs) -> None:
    url = sqs.queue("busy.fifo", FifoQueue="true", ContentBasedDeduplication="true")
    for start in range(0, 100, 10):
        entries = [
            {"Id": str(i), "MessageBody": f"a{i}", "MessageGroupId": "a"} for i in range(start, start + 10)
        ]
        sqs("send_message_batch", QueueUrl=url, Entries=entries)
    sqs("send_message", QueueUrl=url, MessageBody="b0", MessageGroupId="b")
    assert [m["Body"] for m in sqs.receive(url)] == ["a0"]
    assert [m["Body"] for m in sqs.receive(url)] == ["b0"]


def test_fifo_deduplication_over_five_minutes(sqs: Sqs, clock: SteppingClock) -> None:
    url = sqs.queue("d.fifo", FifoQueue="true")
    first = sqs(
        "send_message", QueueUrl=url, MessageBody="x", MessageGroupId="g", MessageDeduplicationId="d1"
    )
    again = sqs(
        "send_message", QueueUrl=url, MessageBody="y", MessageGroupId="g", MessageDeduplicationId="d1"
    )
    assert again["MessageId"] == first["MessageId"]
    assert again["SequenceNumber"] == first["SequenceNumber"]
    clock.advance(300)
    later = sqs(
        "send_message", QueueUrl=url, MessageBody="z", MessageGroupId="g", MessageDeduplicationId="d1"
    )
    assert later["MessageId"] != first["MessageId"]
    assert [m["Body"] for m in sqs.receive(url, MaxNumberOfMessages=10)] == ["x", "z"]
    no_dedup = sqs.fails("send_message", QueueUrl=url, MessageBody="x", MessageGroupId="g")
    assert no_dedup.message == (
        "The queue should either have ContentBasedDeduplication enabled "
        "or MessageDeduplicationId provided explicitly"
    )
    no_group = sqs.fails("send_message", QueueUrl=url, MessageBody="x", MessageDeduplicationId="e")
    assert no_group.message == "The request must contain the parameter MessageGroupId."
    delay = sqs.fails(
        "send_message",
        QueueUrl=url,
        MessageBody="x",
        MessageGroupId="g",
        MessageDeduplicationId="f",
        DelaySeconds=1,
    )
    assert delay.message == (
        "Value 1 for parameter DelaySeconds is invalid. "
        "Reason: The request include parameter that is not valid for this queue type."
    )
    content = sqs.queue("c.fifo", FifoQueue="true", ContentBasedDeduplication="true")
    one = sqs("send_message", QueueUrl=content, MessageBody="same", MessageGroupId="g")
    two = sqs("send_message", QueueUrl=content, MessageBody="same", MessageGroupId="h")
    assert one["MessageId"] == two["MessageId"]


def test_deduplication_per_message_group(sqs: Sqs) -> None:
    url = sqs.queue(
        "g.fifo", FifoQueue="true", DeduplicationScope="messageGroup", FifoThroughputLimit="perMessageGroupId"
    )
    one = sqs("send_message", QueueUrl=url, MessageBody="x", MessageGroupId="a", MessageDeduplicationId="d")
    other_group = sqs(
        "send_message", QueueUrl=url, MessageBody="x", MessageGroupId="b", MessageDeduplicationId="d"
    )
    same_group = sqs(
        "send_message", QueueUrl=url, MessageBody="x", MessageGroupId="a", MessageDeduplicationId="d"
    )
    assert other_group["MessageId"] != one["MessageId"]
    assert same_group["MessageId"] == one["MessageId"]


def test_trace_header_system_attribute(sqs: Sqs) -> None:
    url = sqs.queue("traced")
    trace = {
        "AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-5759e988-bd862e3fe1be46a994272793"}
    }
    sent = sqs("send_message", QueueUrl=url, MessageBody="x", MessageSystemAttributes=trace)
    assert sent["MD5OfMessageSystemAttributes"] == md5_of_attributes(trace)
    [message] = sqs.receive(url, MessageSystemAttributeNames=["AWSTraceHeader"])
    assert message["Attributes"] == {"AWSTraceHeader": "Root=1-5759e988-bd862e3fe1be46a994272793"}
    bad = sqs.fails(
        "send_message",
        QueueUrl=url,
        MessageBody="x",
        MessageSystemAttributes={"Other": {"DataType": "String", "StringValue": "v"}},
    )
    assert fault(bad) == (
        "InvalidParameterValue",
        "InvalidParameterValue",
        "Message system attribute name 'Other' is invalid.",
        400,
    )


def test_batches_and_their_errors(sqs: Sqs) -> None:
    url = sqs.queue("q")
    sent = sqs(
        "send_message_batch",
        QueueUrl=url,
        Entries=[
            {"Id": "ok", "MessageBody": "fine"},
            {"Id": "bad", "MessageBody": "x", "DelaySeconds": 1000},
        ],
    )
    assert [e["Id"] for e in sent["Successful"]] == ["ok"]
    assert sent["Failed"] == [
        {
            "Id": "bad",
            "SenderFault": True,
            "Code": "InvalidParameterValue",
            "Message": "Value 1000 for parameter DelaySeconds is invalid. "
            "Reason: Must be >= 0 and <= 900, if provided.",
        }
    ]
    eleven = [{"Id": str(i), "MessageBody": "x"} for i in range(11)]
    assert fault(sqs.fails("send_message_batch", QueueUrl=url, Entries=eleven)) == (
        "TooManyEntriesInBatchRequest",
        "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
        "Maximum number of entries per request are 10. You have sent 11.",
        400,
    )
    same = [{"Id": "a", "MessageBody": "x"}, {"Id": "a", "MessageBody": "y"}]
    assert fault(sqs.fails("send_message_batch", QueueUrl=url, Entries=same)) == (
        "BatchEntryIdsNotDistinct",
        "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
        "Id a repeated.",
        400,
    )
    assert sqs.fails("send_message_batch", QueueUrl=url, Entries=[]).message == (
        "There should be at least one SendMessageBatchRequestEntry in the request."
    )
    assert sqs.fails(
        "send_message_batch", QueueUrl=url, Entries=[{"Id": "a b", "MessageBody": "x"}]
    ).fault_code == ("InvalidBatchEntryId")
    huge = [{"Id": str(i), "MessageBody": "x" * 200_000} for i in range(6)]
    assert fault(sqs.fails("send_message_batch", QueueUrl=url, Entries=huge)) == (
        "BatchRequestTooLong",
        "AWS.SimpleQueueService.BatchRequestTooLong",
        "Batch requests cannot be longer than 1048576 bytes. You have sent 1200000 bytes.",
        400,
    )
    [message] = sqs.receive(url)
    changed = sqs(
        "change_message_visibility_batch",
        QueueUrl=url,
        Entries=[
            {"Id": "1", "ReceiptHandle": message["ReceiptHandle"], "VisibilityTimeout": 60},
            {"Id": "2", "ReceiptHandle": "nope", "VisibilityTimeout": 60},
        ],
    )
    assert [e["Id"] for e in changed["Successful"]] == ["1"]
    assert changed["Failed"][0]["Code"] == "ReceiptHandleIsInvalid"
    deleted = sqs(
        "delete_message_batch", QueueUrl=url, Entries=[{"Id": "1", "ReceiptHandle": message["ReceiptHandle"]}]
    )
    assert deleted == {"Successful": [{"Id": "1"}], "Failed": []}


def test_receive_parameters_out_of_range(sqs: Sqs) -> None:
    url = sqs.queue("q")
    assert sqs.fails("receive_message", QueueUrl=url, MaxNumberOfMessages=11).message == (
        "Value 11 for parameter MaxNumberOfMessages is invalid. "
        "Reason: Must be between 1 and 10, if provided."
    )
    assert sqs.fails("receive_message", QueueUrl=url, WaitTimeSeconds=21).message == (
        "Value 21 for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided."
    )
    assert (
        sqs.fails("receive_message", QueueUrl=url, AttributeNames=["Nope"]).fault_code
        == "InvalidAttributeName"
    )


def test_purge_once_a_minute(sqs: Sqs, clock: SteppingClock) -> None:
    url = sqs.queue("q")
    sqs("send_message", QueueUrl=url, MessageBody="x")
    sqs("purge_queue", QueueUrl=url)
    assert sqs.receive(url) == []
    assert fault(sqs.fails("purge_queue", QueueUrl=url)) == (
        "PurgeQueueInProgress",
        "AWS.SimpleQueueService.PurgeQueueInProgress",
        "Only one PurgeQueue operation on q is allowed every 60 seconds.",
        403,
    )
    clock.advance(60)
    sqs("purge_queue", QueueUrl=url)


def test_tags_and_listing(sqs: Sqs) -> None:
    url = sqs("create_queue", QueueName="a1", tags={"team": "x"})["QueueUrl"]
    sqs.queue("a2")
    sqs.queue("b1")
    sqs("tag_queue", QueueUrl=url, Tags={"env": "dev"})
    sqs("untag_queue", QueueUrl=url, TagKeys=["team"])
    assert sqs("list_queue_tags", QueueUrl=url) == {"Tags": {"env": "dev"}}
    assert len(sqs("list_queues", QueueNamePrefix="a")["QueueUrls"]) == 2
    page = sqs("list_queues", MaxResults=2)
    assert len(page["QueueUrls"]) == 2
    rest = sqs("list_queues", MaxResults=2, NextToken=page["NextToken"])
    assert rest == {"QueueUrls": [f"http://{HOST}/{ACCOUNT}/b1"]}
    assert sqs("list_queues", QueueNamePrefix="zzz") == {}
    assert fault(sqs.fails("tag_queue", QueueUrl=url, Tags={})) == (
        "MissingParameter",
        "MissingParameter",
        "The request must contain the parameter Tags.",
        400,
    )
    many = {f"k{i}": "v" for i in range(50)}
    assert fault(sqs.fails("tag_queue", QueueUrl=url, Tags=many)) == (
        "InvalidParameterValue",
        "InvalidParameterValue",
        "Too many tags added for queue a1.",
        400,
    )
    assert sqs("list_queue_tags", QueueUrl=url) == {"Tags": {"env": "dev"}}


def test_long_poll_waits_for_a_send_or_the_wait_time(sqs: Sqs, clock: SteppingClock) -> None:
    url = sqs.queue("q")

    async def scenario() -> tuple[list[Any], list[Any], float]:
        start = clock.now()
        empty = await sqs.call("receive_message", QueueUrl=url, WaitTimeSeconds=20)
        waited = clock.now() - start
        poll = asyncio.ensure_future(sqs.call("receive_message", QueueUrl=url, WaitTimeSeconds=20))
        await asyncio.sleep(0)
        await sqs.call("send_message", QueueUrl=url, MessageBody="wake")
        got = await poll
        return empty.get("Messages", []), got.get("Messages", []), waited

    empty, got, waited = asyncio.run(scenario())
    assert empty == []
    assert waited >= 20
    assert [m["Body"] for m in got] == ["wake"]


def test_messages_survive_reopening_the_store(tmp_path: Path, clock: SteppingClock) -> None:
    first = Sqs(tmp_path / "db", clock)
    url = first.queue("q.fifo", FifoQueue="true")
    first("send_message", QueueUrl=url, MessageBody="kept", MessageGroupId="g", MessageDeduplicationId="d")
    first.db.close()
    second = Sqs(tmp_path / "db", clock)
    again = second(
        "send_message", QueueUrl=url, MessageBody="dup", MessageGroupId="g", MessageDeduplicationId="d"
    )
    assert [m["Body"] for m in second.receive(url, MaxNumberOfMessages=10)] == ["kept"]
    assert again["MessageId"]
    second.db.close()


def test_a_poller_polls_and_settles_without_the_wire(sqs: Sqs, clock: SteppingClock) -> None:
    url = sqs.queue("feed", VisibilityTimeout="30")
    sqs("send_message_batch", QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": str(i)} for i in range(3)])
    queue = sqs.service.queue_by_arn(f"arn:aws:sqs:us-east-1:{ACCOUNT}:feed")
    assert queue is not None
    batch = asyncio.run(sqs.service.poll(queue.name, 10, None, 0))
    assert [m.body for m in batch] == ["0", "1", "2"]
    sqs.service.settle(queue.name, batch[:2])
    clock.advance(30)
    assert [m["Body"] for m in sqs.receive(url, MaxNumberOfMessages=10)] == ["2"]
    assert sqs.service.queue_by_arn(f"arn:aws:sqs:us-east-1:{ACCOUNT}:other") is None


def test_quiesce_ends_long_polls(sqs: Sqs) -> None:
    url = sqs.queue("q")

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        poll = asyncio.ensure_future(sqs.call("receive_message", QueueUrl=url, WaitTimeSeconds=20))
        await asyncio.sleep(0)
        sqs.service.quiesce()
        first = await poll
        return first, await sqs.call("receive_message", QueueUrl=url, WaitTimeSeconds=20)

    assert asyncio.run(scenario()) == ({}, {})


def test_message_ids_are_version_4_uuids() -> None:
    ids = {message_id() for _ in range(1000)}
    assert len(ids) == 1000
    for text in list(ids)[:50]:
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant, str(parsed)) == (4, uuid.RFC_4122, text)
