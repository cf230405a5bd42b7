"""A mapping of a queue on another SQS endpoint: a second lambdalite (account
111111111111) serves the queue, the first maps that account and region to it
(LAMBDALITE_SQS_ENDPOINTS) and feeds its function from it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import REGION, Server, create_function, start_server, stop_server
from tests.e2e.async_rig import REPORTING, Collector, wait_for

OTHER = "111111111111"
HANDLER = (
    REPORTING
    + """
def handler(event, context):
    report("record", event)
    failures = [{"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"] == "fail"]
    return {"batchItemFailures": failures}
"""
)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    remote = start_server(tmp_path_factory.mktemp("remote") / "data", env={"LAMBDALITE_ACCOUNT_ID": OTHER})
    try:
        local = start_server(
            tmp_path_factory.mktemp("local") / "data",
            env={"LAMBDALITE_SQS_ENDPOINTS": f"{OTHER}:{REGION}=http://127.0.0.1:{remote.port}|test|test"},
        )
    except Exception:
        stop_server(remote)
        raise
    yield local, remote
    stop_server(local)
    stop_server(remote)


def test_a_queue_of_another_endpoint_feeds_the_function(servers: Any, collector: Collector) -> None:
    local, remote = servers
    lam, sqs = local.client("lambda"), remote.client("sqs")
    create_function(
        lam, "reader", {"app.py": HANDLER}, Environment={"Variables": collector.variables}, Timeout=2
    )
    url = sqs.create_queue(QueueName="far", Attributes={"VisibilityTimeout": "2"})["QueueUrl"]
    arn = f"arn:aws:sqs:{REGION}:{OTHER}:far"

    with pytest.raises(lam.exceptions.InvalidParameterValueException) as excinfo:
        lam.create_event_source_mapping(
            FunctionName="reader", EventSourceArn=f"arn:aws:sqs:{REGION}:{OTHER}:nope"
        )
    assert "AWS.SimpleQueueService.NonExistentQueue" in excinfo.value.response["Error"]["Message"]
    lam.update_function_configuration(FunctionName="reader", Timeout=5)
    lam.get_waiter("function_updated_v2").wait(FunctionName="reader", WaiterConfig={"Delay": 0.1})
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as excinfo:
        lam.create_event_source_mapping(FunctionName="reader", EventSourceArn=arn)
    assert excinfo.value.response["Error"]["Message"] == (
        "Queue visibility timeout: 2 seconds is less than Function timeout: 5 seconds"
    )
    lam.update_function_configuration(FunctionName="reader", Timeout=2)
    lam.get_waiter("function_updated_v2").wait(FunctionName="reader", WaiterConfig={"Delay": 0.1})

    sent = sqs.send_message(
        QueueUrl=url, MessageBody="hello", MessageAttributes={"k": {"DataType": "String", "StringValue": "v"}}
    )
    sqs.send_message(QueueUrl=url, MessageBody="fail")
    uuid = lam.create_event_source_mapping(
        FunctionName="reader", EventSourceArn=arn, FunctionResponseTypes=["ReportBatchItemFailures"]
    )["UUID"]

    def records() -> list[dict[str, Any]]:
        with collector.lock:
            return [r for e in collector.records for r in e["Records"] if r["eventSourceARN"] == arn]

    wait_for(lambda: len([r for r in records() if r["body"] == "fail"]) >= 2, message="the failure returning")
    hello = next(r for r in records() if r["body"] == "hello")
    assert hello["messageId"] == sent["MessageId"]
    assert hello["md5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    assert hello["messageAttributes"] == {
        "k": {"stringValue": "v", "stringListValues": [], "binaryListValues": [], "dataType": "String"}
    }
    assert (hello["eventSource"], hello["awsRegion"]) == ("aws:sqs", REGION)
    assert hello["attributes"]["SenderId"] == OTHER
    assert [r["body"] for r in records()].count("hello") == 1, (
        "a succeeded message is deleted on the other endpoint"
    )
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (
        int(attributes["ApproximateNumberOfMessages"])
        + int(attributes["ApproximateNumberOfMessagesNotVisible"])
        == 1
    )
    assert lam.get_event_source_mapping(UUID=uuid)["LastProcessingResult"] == "OK"
    lam.delete_event_source_mapping(UUID=uuid)
