"""A function's dead-letter queue (DeadLetterConfig) through boto3 against a real
server: stored and shown as AWS shows it, refused with AWS's errors when lambdalite
cannot deliver there, and given the failed event with RequestID, ErrorCode and
ErrorMessage - to a queue, to a topic (and on to its queue subscriber), at once for
a function reserved to 0, and not when an OnFailure destination took the event."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Server, create_function, start_server, stop_server
from tests.e2e.bus_rig import ACCOUNT_REGION, QUEUE_PREFIX, drain, error_of, queue

FAILING = """
def handler(event, context):
    raise ValueError("no good: " + event["why"])
"""
TOPIC_PREFIX = f"arn:aws:sns:{ACCOUNT_REGION}:"
ZERO_MESSAGE = "Function not invoked. Function isconfigured with zero reserved concurrent executions"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(
        tmp_path_factory.mktemp("dlq") / "data",
        "--retry-delay-scale",
        "0.01",
        env={"LAMBDALITE_KEEP_ALIVE_S": "60"},
    )
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def sqs(server: Server) -> Any:
    return server.client("sqs")


@pytest.fixture(scope="module")
def lam(server: Server) -> Any:
    return server.client("lambda")


def failing(lam: Any, name: str, dlq: str) -> None:
    create_function(lam, name, {"app.py": FAILING}, DeadLetterConfig={"TargetArn": dlq})
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)


def event(lam: Any, name: str, payload: dict[str, Any]) -> str:
    answer = lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps(payload))
    assert answer["StatusCode"] == 202
    return str(answer["ResponseMetadata"]["RequestId"])


def attributes(message: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {
        name: (value["DataType"], value["StringValue"])
        for name, value in message.get("MessageAttributes", {}).items()
    }


def test_a_failed_event_goes_to_the_queue_with_awss_attributes(lam: Any, sqs: Any) -> None:
    url, arn = queue(sqs, "dlq-plain")
    failing(lam, "dlq-fails", arn)
    assert lam.get_function_configuration(FunctionName="dlq-fails")["DeadLetterConfig"] == {"TargetArn": arn}
    request_id = event(lam, "dlq-fails", {"why": "bad input"})
    [message] = drain(sqs, url, 1)
    assert json.loads(message["Body"]) == {"why": "bad input"}
    assert attributes(message) == {
        "RequestID": ("String", request_id),
        "ErrorCode": ("Number", "200"),
        "ErrorMessage": ("String", "no good: bad input"),
    }


def test_a_dead_letter_to_a_topic_reaches_its_queue_subscriber(lam: Any, sqs: Any, server: Server) -> None:
    sns = server.client("sns")
    topic = sns.create_topic(Name="dlq-topic")["TopicArn"]
    url, arn = queue(sqs, "dlq-topic-sub")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    failing(lam, "dlq-topic-fails", topic)
    request_id = event(lam, "dlq-topic-fails", {"why": "topic"})
    [message] = drain(sqs, url, 1)
    envelope = json.loads(message["Body"])
    assert envelope["TopicArn"] == topic
    assert json.loads(envelope["Message"]) == {"why": "topic"}
    assert envelope["MessageAttributes"] == {
        "RequestID": {"Type": "String", "Value": request_id},
        "ErrorCode": {"Type": "Number", "Value": "200"},
        "ErrorMessage": {"Type": "String", "Value": "no good: topic"},
    }


def test_reserved_concurrency_0_dead_letters_at_once(lam: Any, sqs: Any) -> None:
    url, arn = queue(sqs, "dlq-zero")
    failing(lam, "dlq-zero-fn", arn)
    lam.put_function_concurrency(FunctionName="dlq-zero-fn", ReservedConcurrentExecutions=0)
    request_id = event(lam, "dlq-zero-fn", {"why": "never runs"})
    [message] = drain(sqs, url, 1)
    assert json.loads(message["Body"]) == {"why": "never runs"}
    assert attributes(message) == {
        "RequestID": ("String", request_id),
        "ErrorMessage": ("String", ZERO_MESSAGE),
    }


def test_an_on_failure_destination_takes_the_event_instead(lam: Any, sqs: Any) -> None:
    dlq_url, dlq_arn = queue(sqs, "dlq-skipped")
    dest_url, dest_arn = queue(sqs, "dlq-destination")
    failing(lam, "dlq-with-dest", dlq_arn)
    lam.put_function_event_invoke_config(
        FunctionName="dlq-with-dest",
        MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": dest_arn}},
    )
    request_id = event(lam, "dlq-with-dest", {"why": "destination"})
    [record] = drain(sqs, dest_url, 1)
    assert json.loads(record["Body"])["requestContext"]["requestId"] == request_id
    assert sqs.receive_message(QueueUrl=dlq_url, WaitTimeSeconds=0).get("Messages", []) == []


def test_update_sets_and_removes_the_dead_letter_queue(lam: Any, sqs: Any) -> None:
    _, arn = queue(sqs, "dlq-updated")
    create_function(lam, "dlq-update", {"app.py": FAILING})
    assert "DeadLetterConfig" not in lam.get_function_configuration(FunctionName="dlq-update")
    answer = lam.update_function_configuration(FunctionName="dlq-update", DeadLetterConfig={"TargetArn": arn})
    assert answer["DeadLetterConfig"] == {"TargetArn": arn}
    lam.get_waiter("function_updated_v2").wait(FunctionName="dlq-update", WaiterConfig={"Delay": 0.1})
    published = lam.publish_version(FunctionName="dlq-update")
    assert published["DeadLetterConfig"] == {"TargetArn": arn}
    lam.update_function_configuration(FunctionName="dlq-update", DeadLetterConfig={"TargetArn": ""})
    assert "DeadLetterConfig" not in lam.get_function_configuration(FunctionName="dlq-update")
    # The published version keeps the dead-letter queue it was published with.
    kept = lam.get_function_configuration(FunctionName="dlq-update", Qualifier=published["Version"])
    assert kept["DeadLetterConfig"] == {"TargetArn": arn}


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (
            "arn:aws:lambda:us-east-1:000000000000:function:other",
            "Invalid dead letter queue ARN: The service specified by the TargetArn is not supported "
            "for dead letter configuration.",
        ),
        (
            "arn:aws:sqs:eu-west-1:000000000000:elsewhere",
            "Invalid dead letter queue ARN: The resource specified by the TargetArn must be in the same "
            "region as the Lambda function it's associated with.",
        ),
        (
            QUEUE_PREFIX + "ordered.fifo",
            "Invalid dead letter queue ARN: FIFO SQS queue is not supported for dead letter configuration",
        ),
        (
            TOPIC_PREFIX + "ordered.fifo",
            "Invalid dead letter queue ARN: FIFO SNS topic is not supported for dead letter configuration",
        ),
        (
            QUEUE_PREFIX + "nowhere",
            "The provided execution role does not have permissions to call SendMessage on SQS",
        ),
        (
            TOPIC_PREFIX + "nowhere",
            "The provided execution role does not have permissions to call Publish on SNS",
        ),
        ("", "Invalid dead letter queue ARN: ARNs must start with 'arn:': "),
    ],
)
def test_a_target_lambdalite_cannot_deliver_to_is_refused(
    lam: Any, sqs: Any, target: str, message: str
) -> None:
    if target.endswith("ordered.fifo") and target.startswith(QUEUE_PREFIX):
        sqs.create_queue(QueueName="ordered.fifo", Attributes={"FifoQueue": "true"})
    create = lambda: create_function(  # noqa: E731
        lam, "dlq-refused", {"app.py": FAILING}, DeadLetterConfig={"TargetArn": target}
    )
    assert error_of(create) == ("InvalidParameterValueException", message, 400)
    # Nothing was created, and an update is refused the same way.
    assert error_of(lambda: lam.get_function(FunctionName="dlq-refused"))[0] == "ResourceNotFoundException"
    if target:
        create_function(lam, "dlq-refused-update", {"app.py": FAILING})
        try:
            update = lambda: lam.update_function_configuration(  # noqa: E731
                FunctionName="dlq-refused-update", DeadLetterConfig={"TargetArn": target}
            )
            assert error_of(update) == ("InvalidParameterValueException", message, 400)
            assert "DeadLetterConfig" not in lam.get_function_configuration(FunctionName="dlq-refused-update")
        finally:
            lam.delete_function(FunctionName="dlq-refused-update")
