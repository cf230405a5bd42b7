"""Event source mappings through boto3 against a real server: the API with AWS's
states and errors, tags on a mapping, and an SQS queue feeding a function with
AWS's ``aws:sqs`` record, ReportBatchItemFailures, redrive to a dead-letter queue
after maxReceiveCount, FIFO order, and a mapping that survives a restart.

The function reports each event it gets to a collector over loopback HTTP
(``tests.e2e.async_rig``); a message body ``{"fail": true}`` is reported back
as a batch item failure, ``{"raise": true}`` fails the whole invocation."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from lambdalite.control.tags import TAGGABLE_RESOURCE_PATTERN
from tests.conftest import ACCOUNT, ARN_PREFIX, REGION, Server, create_function, start_server, stop_server
from tests.e2e.async_rig import REPORTING, Collector, wait_for

HANDLER = (
    REPORTING
    + """
def handler(event, context):
    report("record", event)
    failures = []
    for record in event["Records"]:
        body = json.loads(record["body"]) if record["body"].startswith("{") else {}
        if body.get("raise"):
            raise RuntimeError("the whole batch fails")
        if body.get("fail"):
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
"""
)
NOT_FOUND = "The resource you requested does not exist."
QUEUE_PREFIX = f"arn:aws:sqs:{REGION}:{ACCOUNT}:"
ESM_PREFIX = f"arn:aws:lambda:{REGION}:{ACCOUNT}:event-source-mapping:"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("esm") / "data"
    srv = start_server(data_dir, env={"LAMBDALITE_KEEP_ALIVE_S": "60"})
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def lam(server: Server, collector: Collector) -> Any:
    client = server.client("lambda")
    env = {"Variables": collector.variables}
    for name in ("consumer", "partial", "fifo-consumer", "slow"):
        create_function(client, name, {"app.py": HANDLER}, Environment=env, Timeout=2)
    client.update_function_configuration(FunctionName="slow", Timeout=60)
    return client


@pytest.fixture(scope="module")
def sqs(server: Server) -> Any:
    return server.client("sqs")


def make_queue(sqs: Any, name: str, **attributes: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "2", **attributes})["QueueUrl"]
    return url, QUEUE_PREFIX + name


def settled(lam: Any, uuid: str) -> dict[str, Any]:
    return wait_for(
        lambda: (m := lam.get_event_source_mapping(UUID=uuid))["State"] in ("Enabled", "Disabled") and m,
        message=f"mapping {uuid} to settle",
    )


def records_with(collector: Collector, source_arn: str) -> list[dict[str, Any]]:
    with collector.lock:
        return [
            record
            for event in collector.records
            for record in event.get("Records", [])
            if record["eventSourceARN"] == source_arn
        ]


def error(excinfo: pytest.ExceptionInfo[Any]) -> tuple[str, str, int]:
    response = excinfo.value.response
    return (
        response["Error"]["Code"],
        response["Error"]["Message"],
        response["ResponseMetadata"]["HTTPStatusCode"],
    )


# -- the API ---------------------------------------------------------------------------------------


def test_unknown_uuids_are_404_with_awss_message(lam: Any) -> None:
    missing = "8f7e1b2a-0c3d-4e5f-9a8b-7c6d5e4f3a2b"
    for call in (
        lambda: lam.get_event_source_mapping(UUID=missing),
        lambda: lam.delete_event_source_mapping(UUID=missing),
        lambda: lam.update_event_source_mapping(UUID=missing, Enabled=False),
    ):
        with pytest.raises(lam.exceptions.ResourceNotFoundException) as excinfo:
            call()
        assert error(excinfo) == ("ResourceNotFoundException", NOT_FOUND, 404)
    # List does not care whether its filters exist.
    assert lam.list_event_source_mappings(FunctionName="nope")["EventSourceMappings"] == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"FunctionName": "consumer"}, "Unrecognized event source."),
        ({"FunctionName": "nope", "EventSourceArn": QUEUE_PREFIX + "q"}, "Function does not exist"),
        (
            {
                "FunctionName": "nope",
                "EventSourceArn": QUEUE_PREFIX + "q",
                "DestinationConfig": {"OnSuccess": {"Destination": QUEUE_PREFIX + "other"}},
            },
            "Unsupported DestinationConfig parameter for given event source mapping type.",
        ),
        (
            {"FunctionName": "consumer", "EventSourceArn": QUEUE_PREFIX + "q", "StartingPosition": "LATEST"},
            "Unsupported StartingPosition parameter for given event source mapping type.",
        ),
        (
            {"FunctionName": "consumer", "EventSourceArn": QUEUE_PREFIX + "no-such-queue"},
            "Error occurred while ReceiveMessage. SQS Error Code: AWS.SimpleQueueService.NonExistentQueue. "
            "SQS Error Message: The specified queue does not exist or you do not have access to it.",
        ),
    ],
)
def test_create_refusals_are_awss(lam: Any, params: dict[str, Any], message: str) -> None:
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as excinfo:
        lam.create_event_source_mapping(**params)
    assert error(excinfo) == ("InvalidParameterValueException", message, 400)


def test_settings_the_queue_cannot_serve_are_refused(lam: Any, sqs: Any) -> None:
    _, arn = make_queue(sqs, "checks")
    _, fifo_arn = make_queue(sqs, "checks.fifo", FifoQueue="true")
    cases = [
        (
            {"FunctionName": "slow", "EventSourceArn": arn},
            "Queue visibility timeout: 2 seconds is less than Function timeout: 60 seconds",
        ),
        (
            {"FunctionName": "consumer", "EventSourceArn": arn, "BatchSize": 11},
            "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10",
        ),
        (
            {
                "FunctionName": "consumer",
                "EventSourceArn": fifo_arn,
                "BatchSize": 20,
                "MaximumBatchingWindowInSeconds": 1,
            },
            "Batch size must not exceed 10 for FIFO queues",
        ),
        (
            {
                "FunctionName": "consumer",
                "EventSourceArn": arn,
                "FilterCriteria": {"Filters": [{"Pattern": "[1]"}]},
            },
            "Invalid filter pattern definition.",
        ),
        (
            {
                "FunctionName": "consumer",
                "EventSourceArn": arn,
                "FilterCriteria": {"Filters": [{"Pattern": "{"}]},
            },
            "Invalid filter pattern definition.",
        ),
    ]
    for params, message in cases:
        with pytest.raises(lam.exceptions.InvalidParameterValueException) as excinfo:
            lam.create_event_source_mapping(**params)
        assert error(excinfo) == ("InvalidParameterValueException", message, 400)
    with pytest.raises(lam.exceptions.ClientError) as excinfo:
        lam.create_event_source_mapping(FunctionName="consumer", EventSourceArn=arn, BatchSize=10001)
    code, message, status = error(excinfo)
    assert (code, status) == ("ValidationException", 400)
    assert "Value '10001' at 'batchSize' failed to satisfy constraint" in message


def test_lifecycle_states_list_update_and_delete(lam: Any, sqs: Any) -> None:
    _, arn = make_queue(sqs, "lifecycle")
    created = lam.create_event_source_mapping(FunctionName="consumer:$LATEST", EventSourceArn=arn)
    uuid = created["UUID"]
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert {k: v for k, v in created.items() if k not in ("ResponseMetadata", "LastModified")} == {
        "UUID": uuid,
        "BatchSize": 10,
        "MaximumBatchingWindowInSeconds": 0,
        "EventSourceArn": arn,
        "FunctionArn": f"{ARN_PREFIX}consumer:$LATEST",
        "State": "Creating",
        "StateTransitionReason": "USER_INITIATED",
        "FunctionResponseTypes": [],
        "EventSourceMappingArn": ESM_PREFIX + uuid,
    }
    assert settled(lam, uuid)["State"] == "Enabled"
    with pytest.raises(lam.exceptions.ResourceConflictException) as excinfo:
        lam.create_event_source_mapping(FunctionName="consumer:$LATEST", EventSourceArn=arn)
    assert error(excinfo) == (
        "ResourceConflictException",
        f'An event source mapping with SQS arn (" {arn} ") and function (" consumer ") already exists. '
        f"Please update or delete the existing mapping with UUID {uuid}",
        409,
    )
    assert [m["UUID"] for m in lam.list_event_source_mappings(EventSourceArn=arn)["EventSourceMappings"]] == [
        uuid
    ]
    assert [
        m["UUID"] for m in lam.list_event_source_mappings(FunctionName="consumer")["EventSourceMappings"]
    ] == [uuid]

    disabling = lam.update_event_source_mapping(UUID=uuid, Enabled=False)
    assert disabling["State"] == "Disabling"
    assert settled(lam, uuid)["State"] == "Disabled"
    updating = lam.update_event_source_mapping(
        UUID=uuid,
        Enabled=True,
        BatchSize=50,
        MaximumBatchingWindowInSeconds=1,
        ScalingConfig={"MaximumConcurrency": 2},
        FunctionResponseTypes=["ReportBatchItemFailures"],
    )
    assert updating["State"] == "Updating"
    enabled = settled(lam, uuid)
    assert (enabled["State"], enabled["BatchSize"], enabled["MaximumBatchingWindowInSeconds"]) == (
        "Enabled",
        50,
        1,
    )
    assert enabled["ScalingConfig"] == {"MaximumConcurrency": 2}
    assert enabled["FunctionResponseTypes"] == ["ReportBatchItemFailures"]

    deleting = lam.delete_event_source_mapping(UUID=uuid)
    assert (deleting["State"], deleting["ResponseMetadata"]["HTTPStatusCode"]) == ("Deleting", 202)

    def gone() -> bool:
        try:
            lam.get_event_source_mapping(UUID=uuid)
        except lam.exceptions.ResourceNotFoundException:
            return True
        return False

    wait_for(gone, message="the mapping to go")


def test_tags_on_a_mapping(lam: Any, sqs: Any) -> None:
    _, arn = make_queue(sqs, "tagged")
    uuid = lam.create_event_source_mapping(FunctionName="consumer", EventSourceArn=arn, Tags={"A": "a"})[
        "UUID"
    ]
    esm_arn = ESM_PREFIX + uuid
    lam.tag_resource(Resource=esm_arn, Tags={"B": "b"})
    assert lam.list_tags(Resource=esm_arn)["Tags"] == {"A": "a", "B": "b"}
    lam.untag_resource(Resource=esm_arn, TagKeys=["A"])
    assert lam.list_tags(Resource=esm_arn)["Tags"] == {"B": "b"}
    missing = ESM_PREFIX + "8f7e1b2a-0c3d-4e5f-9a8b-7c6d5e4f3a2b"
    with pytest.raises(lam.exceptions.ResourceNotFoundException) as excinfo:
        lam.list_tags(Resource=missing)
    assert error(excinfo) == ("ResourceNotFoundException", f"Event source mapping not found: {missing}", 404)
    with pytest.raises(lam.exceptions.ClientError) as excinfo:
        lam.tag_resource(Resource=esm_arn + ":alias", Tags={"C": "c"})
    assert error(excinfo) == (
        "ValidationException",
        f"1 validation error detected: Value '{esm_arn}:alias' at 'resource' failed to satisfy constraint: "
        f"Member must satisfy regular expression pattern: {TAGGABLE_RESOURCE_PATTERN}",
        400,
    )
    lam.delete_event_source_mapping(UUID=uuid)


# -- delivery --------------------------------------------------------------------------------------


def test_a_batch_arrives_as_awss_sqs_records(lam: Any, sqs: Any, collector: Collector) -> None:
    url, arn = make_queue(sqs, "delivery")
    sent = sqs.send_message(
        QueueUrl=url,
        MessageBody="hello",
        MessageAttributes={
            "colour": {"DataType": "String", "StringValue": "blue"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        },
    )
    uuid = lam.create_event_source_mapping(FunctionName="consumer", EventSourceArn=arn)["UUID"]
    records = wait_for(lambda: records_with(collector, arn), message="the record")
    record = records[0]
    attributes = record.pop("attributes")
    assert set(attributes) == {
        "ApproximateReceiveCount",
        "SentTimestamp",
        "SenderId",
        "ApproximateFirstReceiveTimestamp",
    }
    assert attributes["ApproximateReceiveCount"] == "1"
    assert abs(int(attributes["SentTimestamp"]) - time.time() * 1000) < 60_000
    assert record.pop("receiptHandle")
    assert list(record) == [
        "messageId",
        "body",
        "messageAttributes",
        "md5OfMessageAttributes",
        "md5OfBody",
        "eventSource",
        "eventSourceARN",
        "awsRegion",
    ]
    assert record == {
        "messageId": sent["MessageId"],
        "body": "hello",
        "messageAttributes": {
            "colour": {
                "stringValue": "blue",
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": "String",
            },
            "blob": {
                "binaryValue": base64.b64encode(b"\x00\x01").decode(),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": "Binary",
            },
        },
        "md5OfMessageAttributes": sent["MD5OfMessageAttributes"],
        "md5OfBody": hashlib.md5(b"hello").hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": arn,
        "awsRegion": REGION,
    }
    # Delivered and deleted: the queue is empty.
    wait_for(
        lambda: (
            sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"][
                "ApproximateNumberOfMessagesNotVisible"
            ]
            == "0"
        ),
        message="the message to be deleted",
    )
    assert sqs.receive_message(QueueUrl=url).get("Messages") is None
    lam.delete_event_source_mapping(UUID=uuid)


def test_partial_failures_return_and_reach_the_dead_letter_queue(
    lam: Any, sqs: Any, collector: Collector
) -> None:
    dlq_url, dlq_arn = make_queue(sqs, "partial-dlq")
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"})
    url, arn = make_queue(sqs, "partial", RedrivePolicy=redrive)
    sqs.send_message_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "ok", "MessageBody": json.dumps({"n": 1})},
            {"Id": "bad", "MessageBody": json.dumps({"fail": True})},
        ],
    )
    uuid = lam.create_event_source_mapping(
        FunctionName="partial",
        EventSourceArn=arn,
        FunctionResponseTypes=["ReportBatchItemFailures"],
    )["UUID"]

    # The failed message comes back after its visibility timeout (2 s), twice, then moves to the DLQ.
    def dead_lettered() -> list[dict[str, Any]]:
        return sqs.receive_message(QueueUrl=dlq_url, AttributeNames=["All"]).get("Messages", [])

    dead = wait_for(dead_lettered, timeout=30, message="the failed message in the DLQ")
    assert json.loads(dead[0]["Body"]) == {"fail": True}
    bodies = [json.loads(r["body"]) for r in records_with(collector, arn)]
    assert bodies.count({"n": 1}) == 1, "a succeeded message is deleted, never redelivered"
    assert bodies.count({"fail": True}) == 2, "the failed one returns until maxReceiveCount"
    lam.delete_event_source_mapping(UUID=uuid)


def test_fifo_groups_arrive_in_order(lam: Any, sqs: Any, collector: Collector) -> None:
    url, arn = make_queue(sqs, "ordered.fifo", FifoQueue="true", ContentBasedDeduplication="true")
    for n in range(12):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"n": n}), MessageGroupId=f"g{n % 2}")
    uuid = lam.create_event_source_mapping(FunctionName="fifo-consumer", EventSourceArn=arn, BatchSize=3)[
        "UUID"
    ]
    wait_for(lambda: len(records_with(collector, arn)) >= 12, message="every message")
    per_group: dict[str, list[int]] = {}
    for record in records_with(collector, arn):
        per_group.setdefault(record["attributes"]["MessageGroupId"], []).append(
            json.loads(record["body"])["n"]
        )
    assert per_group == {"g0": [0, 2, 4, 6, 8, 10], "g1": [1, 3, 5, 7, 9, 11]}
    lam.delete_event_source_mapping(UUID=uuid)


def test_a_failed_fifo_batch_returns_before_the_rest_of_its_group(
    lam: Any, sqs: Any, collector: Collector
) -> None:
    url, arn = make_queue(sqs, "blocked.fifo", FifoQueue="true", ContentBasedDeduplication="true")
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"raise": True, "n": 0}), MessageGroupId="g")
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"n": 1}), MessageGroupId="g")
    uuid = lam.create_event_source_mapping(FunctionName="fifo-consumer", EventSourceArn=arn, BatchSize=1)[
        "UUID"
    ]
    # The first message fails every time: the second never overtakes it.
    wait_for(lambda: len(records_with(collector, arn)) >= 2, timeout=10, message="a retry")
    assert [json.loads(r["body"])["n"] for r in records_with(collector, arn)] == [0, 0]
    lam.delete_event_source_mapping(UUID=uuid)


def test_an_enabled_mapping_restarts_with_the_server(tmp_path: Any, collector: Collector) -> None:
    srv = start_server(tmp_path / "data")
    try:
        lam, sqs = srv.client("lambda"), srv.client("sqs")
        env = {"Variables": collector.variables}
        create_function(lam, "restarted", {"app.py": HANDLER}, Environment=env, Timeout=2)
        url, arn = make_queue(sqs, "restart")
        uuid = lam.create_event_source_mapping(FunctionName="restarted", EventSourceArn=arn)["UUID"]
        settled(lam, uuid)
    finally:
        stop_server(srv)
    srv = start_server(tmp_path / "data")
    try:
        lam, sqs = srv.client("lambda"), srv.client("sqs")
        assert lam.get_event_source_mapping(UUID=uuid)["State"] == "Enabled"
        sqs.send_message(
            QueueUrl=url.replace(url.split("/")[2], f"127.0.0.1:{srv.port}"), MessageBody="after"
        )
        records = wait_for(lambda: records_with(collector, arn), message="delivery after the restart")
        assert records[0]["body"] == "after"
    finally:
        stop_server(srv)


def test_a_batching_window_gathers_messages_sent_apart(lam: Any, sqs: Any, collector: Collector) -> None:
    url, arn = make_queue(sqs, "windowed")
    uuid = lam.create_event_source_mapping(
        FunctionName="consumer", EventSourceArn=arn, BatchSize=50, MaximumBatchingWindowInSeconds=2
    )["UUID"]
    settled(lam, uuid)
    for n in range(4):
        sqs.send_message(QueueUrl=url, MessageBody=f"w{n}")
        time.sleep(0.2)
    wait_for(lambda: len(records_with(collector, arn)) >= 4, message="the batch")
    with collector.lock:
        batches = [
            [r["body"] for r in event["Records"]]
            for event in collector.records
            if event["Records"][0]["eventSourceARN"] == arn
        ]
    assert batches == [["w0", "w1", "w2", "w3"]]
    lam.delete_event_source_mapping(UUID=uuid)


def test_a_function_that_goes_away_is_reported_and_served_again_when_it_is_back(
    lam: Any, sqs: Any, collector: Collector
) -> None:
    env = {"Variables": collector.variables}
    create_function(lam, "comeback", {"app.py": HANDLER}, Environment=env, Timeout=2)
    url, arn = make_queue(sqs, "comeback")
    uuid = lam.create_event_source_mapping(FunctionName="comeback", EventSourceArn=arn)["UUID"]
    settled(lam, uuid)
    lam.delete_function(FunctionName="comeback")
    sqs.send_message(QueueUrl=url, MessageBody="waiting")
    wait_for(
        lambda: (
            lam.get_event_source_mapping(UUID=uuid).get("LastProcessingResult")
            == "PROBLEM: Function not found."
        ),
        message="the problem reported",
    )
    assert lam.get_event_source_mapping(UUID=uuid)["State"] == "Enabled", "a mapping outlives its function"
    create_function(lam, "comeback", {"app.py": HANDLER}, Environment=env, Timeout=2)
    records = wait_for(
        lambda: records_with(collector, arn), timeout=30, message="delivery after the function came back"
    )
    assert records[0]["body"] == "waiting"
    wait_for(
        lambda: lam.get_event_source_mapping(UUID=uuid).get("LastProcessingResult") == "OK", message="OK"
    )
    lam.delete_event_source_mapping(UUID=uuid)


def test_filter_criteria_pick_the_messages_that_reach_the_function(
    lam: Any, sqs: Any, collector: Collector
) -> None:
    url, arn = make_queue(sqs, "filtered")
    uuid = lam.create_event_source_mapping(
        FunctionName="consumer",
        EventSourceArn=arn,
        FilterCriteria={
            "Filters": [
                {"Pattern": json.dumps({"body": {"kind": ["order"], "total": [{"numeric": [">", 10]}]}})}
            ]
        },
    )["UUID"]
    assert json.loads(lam.get_event_source_mapping(UUID=uuid)["FilterCriteria"]["Filters"][0]["Pattern"]) == {
        "body": {"kind": ["order"], "total": [{"numeric": [">", 10]}]}
    }
    for body in (
        {"kind": "order", "total": 5},
        "plain text",
        {"kind": "refund", "total": 50},
        {"kind": "order", "total": 20},
    ):
        sqs.send_message(QueueUrl=url, MessageBody=body if isinstance(body, str) else json.dumps(body))
    records = wait_for(lambda: records_with(collector, arn), message="the matching message")
    # The others are deleted without an invocation, as on AWS.
    wait_for(
        lambda: (
            sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"][
                "ApproximateNumberOfMessages"
            ]
            == "0"
            and sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"][
                "ApproximateNumberOfMessagesNotVisible"
            ]
            == "0"
        ),
        message="every message consumed",
    )
    assert [json.loads(r["body"]) for r in records_with(collector, arn)] == [{"kind": "order", "total": 20}]
    assert records
    lam.delete_event_source_mapping(UUID=uuid)


# -- queues as asynchronous-invocation destinations ----------------------------------------------


def test_a_queue_receives_the_destination_record_and_a_fifo_queue_is_refused(lam: Any, sqs: Any) -> None:
    url, arn = make_queue(sqs, "destination")
    lam.put_function_event_invoke_config(
        FunctionName="consumer", MaximumRetryAttempts=0, DestinationConfig={"OnSuccess": {"Destination": arn}}
    )
    answer = lam.invoke(
        FunctionName="consumer",
        InvocationType="Event",
        Payload=json.dumps({"Records": [{"body": "x", "messageId": "m", "eventSourceARN": "elsewhere"}]}),
    )
    message = wait_for(lambda: sqs.receive_message(QueueUrl=url).get("Messages"), message="the record")[0]
    record = json.loads(message["Body"])
    assert record["version"] == "1.0"
    assert record["requestContext"] == {
        "requestId": answer["ResponseMetadata"]["RequestId"],
        "functionArn": f"{ARN_PREFIX}consumer:$LATEST",
        "condition": "Success",
        "approximateInvokeCount": 1,
    }
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    assert record["responsePayload"] == {"batchItemFailures": []}
    _, fifo = make_queue(sqs, "destination.fifo", FifoQueue="true")
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as excinfo:
        lam.put_function_event_invoke_config(
            FunctionName="consumer", DestinationConfig={"OnFailure": {"Destination": fifo}}
        )
    assert error(excinfo) == (
        "InvalidParameterValueException",
        "The provided destination config DestinationConfig(onSuccess=null, "
        f"onFailure=OnFailure(destination={fifo})) is invalid.",
        400,
    )
    lam.delete_function_event_invoke_config(FunctionName="consumer")
