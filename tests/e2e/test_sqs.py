"""The queue service end to end: boto3's ``sqs`` client against a real server in both
of SQS's wire protocols (awsJson as current boto3 sends it, and the query protocol
of older SDKs, forced through botocore with the query-flavoured model), the AWS CLI,
every error with AWS's exact code and message, long polls, and messages that survive
kill -9 of the server."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import struct
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import boto3
import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from lambdalite.protocol.model import raw_model
from lambdalite.services.sqs.traits import SQS_QUERY_TRAITS
from tests.conftest import ACCOUNT, REGION, Server, start_server, stop_server

PROTOCOLS = ["json", "query"]


def query_client(server: Server, directory: Path) -> Any:
    """An ``sqs`` client that speaks the query protocol, as SDKs did before 2023:
    botocore loads our query-flavoured copy of the model ahead of its own."""
    model = raw_model("sqs", SQS_QUERY_TRAITS)
    model["metadata"]["protocol"] = "query"
    model["metadata"]["protocols"] = ["query"]
    target = directory / "sqs" / "2012-11-05"
    target.mkdir(parents=True, exist_ok=True)
    (target / "service-2.json").write_text(json.dumps(model))
    session = botocore.session.get_session()
    session.get_component("data_loader").search_paths.insert(0, str(directory))
    return boto3.Session(botocore_session=session).client(
        "sqs",
        endpoint_url=server.endpoint,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}, read_timeout=60),
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("sqs") / "data")
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def clients(server: Server, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    json_client = server.client("sqs")
    legacy = query_client(server, tmp_path_factory.mktemp("models"))
    assert (json_client.meta.service_model.protocol, legacy.meta.service_model.protocol) == ("json", "query")
    return {"json": json_client, "query": legacy}


def md5_of_attributes(attributes: dict[str, dict[str, Any]]) -> str:
    """SQS's digest of message attributes, as AWS's developer guide describes it
    (written here apart from the server's, so the two check each other)."""
    data = b""
    for name in sorted(attributes):
        value = attributes[name]
        encoded = [name.encode(), value["DataType"].encode()]
        data += b"".join(struct.pack("!I", len(part)) + part for part in encoded)
        if "BinaryValue" in value:
            data += b"\x02" + struct.pack("!I", len(value["BinaryValue"])) + value["BinaryValue"]
        else:
            raw = value["StringValue"].encode()
            data += b"\x01" + struct.pack("!I", len(raw)) + raw
    return hashlib.md5(data).hexdigest()


def error(call: Any, **kwargs: Any) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    response = caught.value.response
    return (
        response["Error"]["Code"],
        response["Error"]["Message"],
        response["ResponseMetadata"]["HTTPStatusCode"],
    )


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_send_receive_delete_with_attributes_and_digests(clients: dict[str, Any], protocol: str) -> None:
    sqs = clients[protocol]
    url = sqs.create_queue(QueueName=f"basic-{protocol}", Attributes={"VisibilityTimeout": "20"})["QueueUrl"]
    assert url == f"http://127.0.0.1:{url.split(':')[2].split('/')[0]}/{ACCOUNT}/basic-{protocol}"
    attributes = {
        "text": {"DataType": "String", "StringValue": "héllo <&>"},
        "count": {"DataType": "Number", "StringValue": "3"},
        "blob": {"DataType": "Binary", "BinaryValue": b"\x00\xff"},
    }
    body = 'line one\n{"json": "<body> & more"} ✓'
    sent = sqs.send_message(QueueUrl=url, MessageBody=body, MessageAttributes=attributes)
    assert sent["MD5OfMessageBody"] == hashlib.md5(body.encode()).hexdigest()
    assert sent["MD5OfMessageAttributes"] == md5_of_attributes(attributes)
    got = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], AttributeNames=["All"]
    )
    [message] = got["Messages"]
    assert message["Body"] == body
    assert message["MessageId"] == sent["MessageId"]
    assert message["MD5OfBody"] == sent["MD5OfMessageBody"]
    assert message["MessageAttributes"] == attributes
    assert message["MD5OfMessageAttributes"] == md5_of_attributes(attributes)
    assert message["Attributes"]["ApproximateReceiveCount"] == "1"
    assert abs(int(message["Attributes"]["SentTimestamp"]) / 1000 - time.time()) < 30
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    [again] = sqs.receive_message(QueueUrl=url, AttributeNames=["ApproximateReceiveCount"])["Messages"]
    assert again["Attributes"] == {"ApproximateReceiveCount": "2"}
    sqs.delete_message(QueueUrl=url, ReceiptHandle=again["ReceiptHandle"])
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert counts["ApproximateNumberOfMessages"] == "0"
    assert counts["ApproximateNumberOfMessagesNotVisible"] == "0"
    assert counts["QueueArn"] == f"arn:aws:sqs:{REGION}:{ACCOUNT}:basic-{protocol}"
    assert counts["VisibilityTimeout"] == "20"


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_batches_tags_listing_and_queue_lifecycle(clients: dict[str, Any], protocol: str) -> None:
    sqs = clients[protocol]
    url = sqs.create_queue(QueueName=f"batch-{protocol}", tags={"team": "q"})["QueueUrl"]
    entries = [{"Id": f"m{i}", "MessageBody": f"body {i}"} for i in range(10)]
    sent = sqs.send_message_batch(QueueUrl=url, Entries=entries)
    assert sorted(e["Id"] for e in sent["Successful"]) == sorted(e["Id"] for e in entries)
    assert all(
        e["MD5OfMessageBody"] == hashlib.md5(f"body {e['Id'][1:]}".encode()).hexdigest()
        for e in sent["Successful"]
    )
    received: list[dict[str, Any]] = []
    while len(received) < 10:
        received += sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    changed = sqs.change_message_visibility_batch(
        QueueUrl=url,
        Entries=[{"Id": "c", "ReceiptHandle": received[0]["ReceiptHandle"], "VisibilityTimeout": 100}],
    )
    assert [e["Id"] for e in changed["Successful"]] == ["c"]
    handles = [{"Id": f"d{i}", "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(received)]
    deleted = sqs.delete_message_batch(QueueUrl=url, Entries=handles)
    assert len(deleted["Successful"]) == 10
    assert deleted.get("Failed", []) == []
    sqs.tag_queue(QueueUrl=url, Tags={"env": "test"})
    sqs.untag_queue(QueueUrl=url, TagKeys=["team"])
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"env": "test"}
    assert url in sqs.list_queues(QueueNamePrefix=f"batch-{protocol}")["QueueUrls"]
    assert sqs.get_queue_url(QueueName=f"batch-{protocol}")["QueueUrl"] == url
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"DelaySeconds": "1"})
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["DelaySeconds"])["Attributes"] == {
        "DelaySeconds": "1"
    }
    sqs.purge_queue(QueueUrl=url)
    sqs.delete_queue(QueueUrl=url)
    assert url not in sqs.list_queues().get("QueueUrls", [])


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_fifo_order_dedup_and_redrive(clients: dict[str, Any], protocol: str) -> None:
    sqs = clients[protocol]
    dlq = sqs.create_queue(QueueName=f"dlq-{protocol}.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(
        QueueName=f"fifo-{protocol}.fifo",
        Attributes={
            "FifoQueue": "true",
            "ContentBasedDeduplication": "true",
            "VisibilityTimeout": "0",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1}),
        },
    )["QueueUrl"]
    first = sqs.send_message(QueueUrl=url, MessageBody="one", MessageGroupId="g")
    assert (
        sqs.send_message(QueueUrl=url, MessageBody="one", MessageGroupId="g")["MessageId"]
        == first["MessageId"]
    )
    sqs.send_message(QueueUrl=url, MessageBody="two", MessageGroupId="g")
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    assert [m["Body"] for m in got] == ["one", "two"]
    assert got[0]["Attributes"]["MessageGroupId"] == "g"
    assert int(got[0]["Attributes"]["SequenceNumber"]) < int(got[1]["Attributes"]["SequenceNumber"])
    # Received once (maxReceiveCount 1) and visible again at once: the next receive moves both to the DLQ.
    assert "Messages" not in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    dead = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in dead] == ["one", "two"]
    assert sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"] == [url]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_every_error_with_aws_code_and_message(clients: dict[str, Any], protocol: str) -> None:
    sqs = clients[protocol]
    url = sqs.create_queue(QueueName=f"errors-{protocol}", Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
    gone = f"{url}-missing"
    assert error(sqs.get_queue_url, QueueName="missing-queue") == (
        "AWS.SimpleQueueService.NonExistentQueue",
        "The specified queue does not exist.",
        400,
    )
    assert (
        error(sqs.send_message, QueueUrl=gone, MessageBody="x")[0]
        == "AWS.SimpleQueueService.NonExistentQueue"
    )
    assert error(
        sqs.create_queue, QueueName=f"errors-{protocol}", Attributes={"VisibilityTimeout": "31"}
    ) == (
        "QueueAlreadyExists",
        "A queue already exists with the same name and a different value for attribute VisibilityTimeout",
        400,
    )
    assert error(sqs.create_queue, QueueName="bad name") == (
        "InvalidParameterValue",
        "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length",
        400,
    )
    assert error(sqs.create_queue, QueueName="q", Attributes={"MaximumMessageSize": "1048577"}) == (
        "InvalidAttributeValue",
        "Invalid value for the parameter MaximumMessageSize.",
        400,
    )
    assert error(sqs.get_queue_attributes, QueueUrl=url, AttributeNames=["Bogus"]) == (
        "InvalidAttributeName",
        "Unknown Attribute Bogus.",
        400,
    )
    assert error(sqs.delete_message, QueueUrl=url, ReceiptHandle="not-a-handle") == (
        "ReceiptHandleIsInvalid",
        'The input receipt handle "not-a-handle" is not a valid receipt handle.',
        400,
    )
    eleven = [{"Id": str(i), "MessageBody": "x"} for i in range(11)]
    assert error(sqs.send_message_batch, QueueUrl=url, Entries=eleven) == (
        "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
        "Maximum number of entries per request are 10. You have sent 11.",
        400,
    )
    twice = [{"Id": "a", "MessageBody": "x"}, {"Id": "a", "MessageBody": "y"}]
    assert error(sqs.send_message_batch, QueueUrl=url, Entries=twice) == (
        "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
        "Id a repeated.",
        400,
    )
    assert error(sqs.delete_message_batch, QueueUrl=url, Entries=[]) == (
        "AWS.SimpleQueueService.EmptyBatchRequest",
        "There should be at least one DeleteMessageBatchRequestEntry in the request.",
        400,
    )
    assert error(sqs.send_message_batch, QueueUrl=url, Entries=[{"Id": "a.b", "MessageBody": "x"}])[0] == (
        "AWS.SimpleQueueService.InvalidBatchEntryId"
    )
    big = [{"Id": str(i), "MessageBody": "x" * 300_000} for i in range(4)]
    assert error(sqs.send_message_batch, QueueUrl=url, Entries=big) == (
        "AWS.SimpleQueueService.BatchRequestTooLong",
        "Batch requests cannot be longer than 1048576 bytes. You have sent 1200000 bytes.",
        400,
    )
    assert error(sqs.send_message, QueueUrl=url, MessageBody="x" * 1_048_577) == (
        "InvalidParameterValue",
        "One or more parameters are invalid. Reason: Message must be shorter than 1048576 bytes.",
        400,
    )
    assert error(sqs.send_message, QueueUrl=url, MessageBody="bad \x01 char")[0] == "InvalidMessageContents"
    assert error(sqs.receive_message, QueueUrl=url, MaxNumberOfMessages=11) == (
        "InvalidParameterValue",
        "Value 11 for parameter MaxNumberOfMessages is invalid. "
        "Reason: Must be between 1 and 10, if provided.",
        400,
    )
    sqs.send_message(QueueUrl=url, MessageBody="m")
    [message] = sqs.receive_message(QueueUrl=url, VisibilityTimeout=1)["Messages"]
    time.sleep(1.1)
    assert error(
        sqs.change_message_visibility,
        QueueUrl=url,
        ReceiptHandle=message["ReceiptHandle"],
        VisibilityTimeout=5,
    ) == ("AWS.SimpleQueueService.MessageNotInflight", "The message referred to isn't in flight.", 400)
    sqs.purge_queue(QueueUrl=url)
    assert error(sqs.purge_queue, QueueUrl=url) == (
        "AWS.SimpleQueueService.PurgeQueueInProgress",
        f"Only one PurgeQueue operation on errors-{protocol} is allowed every 60 seconds.",
        403,
    )
    sqs.delete_queue(QueueUrl=url)
    assert error(sqs.create_queue, QueueName=f"errors-{protocol}") == (
        "AWS.SimpleQueueService.QueueDeletedRecently",
        "You must wait 60 seconds after deleting a queue before you can create another with the same name.",
        400,
    )


def test_unsigned_form_posts_to_the_queue_url(clients: dict[str, Any], server: Server) -> None:
    """An old SDK's request: a form post to the queue URL itself, QueueUrl implied by the path."""
    url = clients["json"].create_queue(QueueName="form-posts")["QueueUrl"]

    def post(target: str, **form: str) -> tuple[int, str]:
        data = urlencode({**form, "Version": "2012-11-05"}).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        try:
            with urllib.request.urlopen(urllib.request.Request(target, data=data, headers=headers)) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as failed:
            return failed.code, failed.read().decode()

    status, body = post(url, Action="SendMessage", MessageBody="posted")
    assert status == 200
    assert body.startswith(
        '<?xml version="1.0"?><SendMessageResponse xmlns="http://queue.amazonaws.com/doc/2012-11-05/">'
    )
    assert f"<MD5OfMessageBody>{hashlib.md5(b'posted').hexdigest()}</MD5OfMessageBody>" in body
    [message] = clients["json"].receive_message(QueueUrl=url)["Messages"]
    assert message["Body"] == "posted"
    status, body = post(server.endpoint + "/", Action="GetQueueUrl", QueueName="no-such-queue")
    assert status == 400
    assert "<Code>AWS.SimpleQueueService.NonExistentQueue</Code>" in body
    assert "<Message>The specified queue does not exist.</Message>" in body
    status, body = post(server.endpoint + "/", Action="SendMessage", QueueUrl=url)
    assert (status, "<Code>MissingParameter</Code>" in body) == (400, True)
    assert "The request must contain the parameter MessageBody." in body


def test_an_oversized_request_gets_413(server: Server) -> None:
    body = b'{"QueueUrl": "q", "MessageBody": "' + b"x" * (6 * 1024 * 1024) + b'"}'
    headers = {"X-Amz-Target": "AmazonSQS.SendMessage", "Content-Type": "application/x-amz-json-1.0"}
    request = urllib.request.Request(server.endpoint + "/", data=body, headers=headers)
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request)
    assert caught.value.code == 413
    assert caught.value.read() == b"HTTP content length exceeded 6291456 bytes."


def test_json_errors_map_to_the_modelled_exceptions(clients: dict[str, Any]) -> None:
    sqs = clients["json"]
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.get_queue_url(QueueName="no-such-queue")
    url = sqs.create_queue(QueueName="modelled")["QueueUrl"]
    with pytest.raises(sqs.exceptions.ReceiptHandleIsInvalid):
        sqs.delete_message(QueueUrl=url, ReceiptHandle="x")
    with pytest.raises(sqs.exceptions.TooManyEntriesInBatchRequest):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "x"} for i in range(11)])


def test_long_poll_returns_when_a_message_arrives(clients: dict[str, Any], server: Server) -> None:
    sqs = clients["json"]
    url = sqs.create_queue(QueueName="long-poll")["QueueUrl"]
    start = time.monotonic()
    assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)
    assert 0.9 <= time.monotonic() - start < 3
    sender = server.client("sqs")
    timer = threading.Timer(0.5, lambda: sender.send_message(QueueUrl=url, MessageBody="late"))
    timer.start()
    start = time.monotonic()
    got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20)
    elapsed = time.monotonic() - start
    timer.join()
    assert [m["Body"] for m in got["Messages"]] == ["late"]
    assert elapsed < 5


@pytest.mark.skipif(shutil.which("aws") is None, reason="the AWS CLI is not installed")
def test_the_aws_cli(server: Server) -> None:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_PAGER": "",
    }

    def aws(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["aws", "--endpoint-url", server.endpoint, "--output", "json", "sqs", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=check,
        )

    url = json.loads(aws("create-queue", "--queue-name", "cli-queue").stdout)["QueueUrl"]
    aws("send-message", "--queue-url", url, "--message-body", "from the cli")
    received = json.loads(aws("receive-message", "--queue-url", url).stdout)
    assert [m["Body"] for m in received["Messages"]] == ["from the cli"]
    missing = aws("get-queue-url", "--queue-name", "cli-missing", check=False)
    assert missing.returncode != 0
    assert "AWS.SimpleQueueService.NonExistentQueue" in missing.stderr
    assert "The specified queue does not exist." in missing.stderr


def test_stopping_the_server_answers_long_polls(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data")
    try:
        sqs = server.client("sqs")
        url = sqs.create_queue(QueueName="stopping")["QueueUrl"]
        answers: list[dict[str, Any]] = []
        poller = threading.Thread(
            target=lambda: answers.append(sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20))
        )
        poller.start()
        time.sleep(0.5)
        start = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        poller.join(timeout=10)
        assert server.process.wait(timeout=10) == 0
        assert time.monotonic() - start < 5
        assert len(answers) == 1
        assert "Messages" not in answers[0]
    finally:
        stop_server(server)


def test_sent_messages_survive_kill_9(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = start_server(data)
    try:
        sqs = first.client("sqs")
        url = sqs.create_queue(QueueName="durable")["QueueUrl"]
        fifo = sqs.create_queue(QueueName="durable.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
        bodies = [f"message {i}" for i in range(25)]
        for i in range(0, 25, 5):
            sqs.send_message_batch(
                QueueUrl=url, Entries=[{"Id": str(j), "MessageBody": bodies[j]} for j in range(i, i + 5)]
            )
        sent = sqs.send_message(
            QueueUrl=fifo, MessageBody="f", MessageGroupId="g", MessageDeduplicationId="d"
        )
        first.process.send_signal(signal.SIGKILL)
        first.process.wait()
    finally:
        stop_server(first)
    second = start_server(data)
    try:
        sqs = second.client("sqs")
        url = sqs.get_queue_url(QueueName="durable")["QueueUrl"]
        got: list[str] = []
        while True:
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                break
            got += [m["Body"] for m in messages]
        assert sorted(got) == sorted(bodies)
        fifo = sqs.get_queue_url(QueueName="durable.fifo")["QueueUrl"]
        again = sqs.send_message(
            QueueUrl=fifo, MessageBody="f", MessageGroupId="g", MessageDeduplicationId="d"
        )
        assert again["MessageId"] == sent["MessageId"]
    finally:
        stop_server(second)
