"""Bucket notifications end to end: a queue gets s3:TestEvent and then AWS's record for
each matching change; a function is invoked asynchronously with the record (seen
through its OnSuccess destination); filters and event types select what is sent."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ACCOUNT, Server, create_function, start_server, stop_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("s3n") / "data")
    yield srv
    stop_server(srv)


def receive(sqs: Any, url: str, count: int, timeout_s: float = 20) -> list[dict[str, Any]]:
    bodies: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    while len(bodies) < count and time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        ):
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


def test_queue_notifications_with_filters_and_the_test_event(server: Server) -> None:
    s3, sqs = server.client("s3"), server.client("sqs")
    url = sqs.create_queue(QueueName="uploads")["QueueUrl"]
    queue_arn = f"arn:aws:sqs:us-east-1:{ACCOUNT}:uploads"
    s3.create_bucket(Bucket="notified")
    config = {
        "QueueConfigurations": [
            {
                "Id": "images",
                "QueueArn": queue_arn,
                "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:Delete"],
                "Filter": {
                    "Key": {
                        "FilterRules": [
                            {"Name": "prefix", "Value": "in/"},
                            {"Name": "suffix", "Value": ".jpg"},
                        ]
                    }
                },
            }
        ]
    }
    s3.put_bucket_notification_configuration(Bucket="notified", NotificationConfiguration=config)
    got = s3.get_bucket_notification_configuration(Bucket="notified")
    assert got["QueueConfigurations"] == config["QueueConfigurations"]
    (test_event,) = receive(sqs, url, 1)
    assert test_event["Event"] == "s3:TestEvent" and test_event["Bucket"] == "notified"
    s3.put_object(Bucket="notified", Key="in/a photo.jpg", Body=b"jpeg")
    s3.put_object(Bucket="notified", Key="in/skip.png", Body=b"png")
    s3.put_object(Bucket="notified", Key="out/skip.jpg", Body=b"jpg")
    s3.copy_object(Bucket="notified", Key="in/copy.jpg", CopySource="notified/in/a photo.jpg")
    s3.delete_object(Bucket="notified", Key="in/copy.jpg")
    records = [body["Records"][0] for body in receive(sqs, url, 3)]
    assert [r["eventName"] for r in records] == [
        "ObjectCreated:Put",
        "ObjectCreated:Copy",
        "ObjectRemoved:Delete",
    ]
    put = records[0]
    assert put["eventVersion"] == "2.1" and put["eventSource"] == "aws:s3" and put["awsRegion"] == "us-east-1"
    assert put["s3"]["configurationId"] == "images"
    assert put["s3"]["bucket"]["name"] == "notified"
    assert put["s3"]["bucket"]["arn"] == "arn:aws:s3:::notified"
    assert put["s3"]["object"]["key"] == "in/a+photo.jpg"
    assert put["s3"]["object"]["size"] == 4
    assert put["s3"]["object"]["eTag"] == hashlib.md5(b"jpeg").hexdigest()
    assert put["s3"]["object"]["sequencer"] < records[1]["s3"]["object"]["sequencer"]
    assert "size" not in records[2]["s3"]["object"]
    assert receive(sqs, url, 1, timeout_s=1.5) == []


def test_a_function_is_invoked_asynchronously_with_the_record(server: Server) -> None:
    s3, sqs, lam = server.client("s3"), server.client("sqs"), server.client("lambda")
    url = sqs.create_queue(QueueName="handled")["QueueUrl"]
    create_function(
        lam,
        "on-upload",
        {"app.py": "def handler(event, context):\n    return {'seen': len(event['Records'])}\n"},
    )
    lam.put_function_event_invoke_config(
        FunctionName="on-upload",
        DestinationConfig={"OnSuccess": {"Destination": f"arn:aws:sqs:us-east-1:{ACCOUNT}:handled"}},
    )
    function_arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:on-upload"
    s3.create_bucket(Bucket="to-function")
    s3.put_bucket_notification_configuration(
        Bucket="to-function",
        NotificationConfiguration={
            "LambdaFunctionConfigurations": [
                {"LambdaFunctionArn": function_arn, "Events": ["s3:ObjectCreated:*"]}
            ]
        },
    )
    configured = s3.get_bucket_notification_configuration(Bucket="to-function")[
        "LambdaFunctionConfigurations"
    ]
    assert configured[0]["Id"]
    s3.put_object(Bucket="to-function", Key="k.txt", Body=b"hello")
    (destination,) = receive(sqs, url, 1)
    record = destination["requestPayload"]["Records"][0]
    assert record["eventName"] == "ObjectCreated:Put"
    assert record["s3"]["object"]["key"] == "k.txt"
    assert destination["responsePayload"] == {"seen": 1}


def test_a_missing_destination_is_refused(server: Server) -> None:
    s3 = server.client("s3")
    s3.create_bucket(Bucket="bad-destination")
    missing = f"arn:aws:sqs:us-east-1:{ACCOUNT}:no-such-queue"
    with pytest.raises(ClientError) as err:
        s3.put_bucket_notification_configuration(
            Bucket="bad-destination",
            NotificationConfiguration={
                "QueueConfigurations": [{"QueueArn": missing, "Events": ["s3:ObjectCreated:*"]}]
            },
        )
    assert err.value.response["Error"]["Code"] == "InvalidArgument"
    assert (
        err.value.response["Error"]["Message"]
        == "Unable to validate the following destination configurations"
    )
    assert err.value.response["Error"]["ArgumentName1"] == missing


def test_eventbridge_gets_object_events_when_the_bucket_enables_it(server: Server) -> None:
    s3, sqs, events = server.client("s3"), server.client("sqs"), server.client("events")
    url = sqs.create_queue(QueueName="from-bus")["QueueUrl"]
    events.put_rule(
        Name="s3-objects", EventPattern=json.dumps({"source": ["aws.s3"], "detail-type": ["Object Created"]})
    )
    events.put_targets(
        Rule="s3-objects", Targets=[{"Id": "q", "Arn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:from-bus"}]
    )
    s3.create_bucket(Bucket="to-bus")
    s3.put_bucket_notification_configuration(
        Bucket="to-bus", NotificationConfiguration={"EventBridgeConfiguration": {}}
    )
    assert "EventBridgeConfiguration" in s3.get_bucket_notification_configuration(Bucket="to-bus")
    s3.put_object(Bucket="to-bus", Key="dir/a b.txt", Body=b"abc")
    s3.delete_object(Bucket="to-bus", Key="dir/a b.txt")  # Object Deleted: not matched by the rule
    (event,) = receive(sqs, url, 1)
    assert (event["source"], event["detail-type"]) == ("aws.s3", "Object Created")
    assert event["resources"] == ["arn:aws:s3:::to-bus"]
    detail = event["detail"]
    assert detail["bucket"] == {"name": "to-bus"}
    assert detail["object"]["key"] == "dir/a b.txt" and detail["object"]["size"] == 3
    assert detail["object"]["etag"] == hashlib.md5(b"abc").hexdigest()
    assert detail["reason"] == "PutObject"
    assert receive(sqs, url, 1, timeout_s=1.5) == []
