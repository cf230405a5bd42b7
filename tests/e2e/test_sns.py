"""Topics through boto3 ``sns`` against a real server: every operation with AWS's
errors, fan-out to a function (AWS's ``aws:sns`` record, invoked asynchronously)
and to queues (the envelope, and raw delivery) with filter policies on attributes
and on the body, FIFO topics, PublishBatch, tags, and a topic as a destination."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.conftest import ARN_PREFIX, Server, create_function, start_server, stop_server
from tests.e2e.async_rig import FLAKY, SINK, Collector, wait_for
from tests.e2e.bus_rig import ACCOUNT_REGION, QUEUE_PREFIX, drain, error_of, queue

TOPIC_PREFIX = f"arn:aws:sns:{ACCOUNT_REGION}:"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("sns") / "data", env={"LAMBDALITE_KEEP_ALIVE_S": "60"})
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def sns(server: Server) -> Any:
    return server.client("sns")


@pytest.fixture(scope="module")
def sqs(server: Server) -> Any:
    return server.client("sqs")


@pytest.fixture(scope="module")
def lam(server: Server, collector: Collector) -> Any:
    client = server.client("lambda")
    create_function(client, "sns-sink", {"app.py": SINK}, Environment={"Variables": collector.variables})
    return client


def test_topic_lifecycle_attributes_and_listing(sns: Any) -> None:
    arn = sns.create_topic(Name="life")["TopicArn"]
    assert arn == TOPIC_PREFIX + "life"
    assert sns.create_topic(Name="life")["TopicArn"] == arn  # idempotent
    attributes = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert attributes["TopicArn"] == arn and attributes["Owner"] == "000000000000"
    assert attributes["SubscriptionsConfirmed"] == "0" and attributes["DisplayName"] == ""
    assert json.loads(attributes["Policy"])["Statement"][0]["Resource"] == arn
    sns.set_topic_attributes(TopicArn=arn, AttributeName="DisplayName", AttributeValue="Life")
    assert sns.get_topic_attributes(TopicArn=arn)["Attributes"]["DisplayName"] == "Life"
    assert {"TopicArn": arn} in sns.list_topics()["Topics"]
    sns.delete_topic(TopicArn=arn)
    assert {"TopicArn": arn} not in sns.list_topics()["Topics"]
    sns.delete_topic(TopicArn=arn)  # deleting again is not an error


def test_topic_errors(sns: Any) -> None:
    assert error_of(lambda: sns.create_topic(Name="bad name")) == (
        "InvalidParameter",
        "Invalid parameter: Topic Name",
        400,
    )
    fifo_message = (
        "Invalid parameter: Fifo Topic names must end with .fifo and must be made up of only uppercase and "
        "lowercase ASCII letters, numbers, underscores, and hyphens, and must be between 1 and 256 "
        "characters long."
    )
    assert (
        error_of(lambda: sns.create_topic(Name="nofifo", Attributes={"FifoTopic": "true"}))[1] == fifo_message
    )
    sns.create_topic(Name="differs", Attributes={"DisplayName": "a"})
    assert error_of(lambda: sns.create_topic(Name="differs", Attributes={"DisplayName": "b"})) == (
        "InvalidParameter",
        "Invalid parameter: Attributes Reason: Topic already exists with different attributes",
        400,
    )
    missing = TOPIC_PREFIX + "missing"
    assert error_of(lambda: sns.get_topic_attributes(TopicArn=missing)) == (
        "NotFound",
        "Topic does not exist",
        404,
    )
    assert error_of(lambda: sns.publish(TopicArn=missing, Message="x")) == (
        "NotFound",
        "Topic does not exist",
        404,
    )
    arn = sns.create_topic(Name="errs")["TopicArn"]
    assert error_of(
        lambda: sns.set_topic_attributes(TopicArn=arn, AttributeName="Nope", AttributeValue="x")
    ) == (
        "InvalidParameter",
        "Invalid parameter: AttributeName",
        400,
    )
    assert error_of(lambda: sns.publish(TopicArn=arn, Message="")) == (
        "InvalidParameter",
        "Invalid parameter: Empty message",
        400,
    )
    assert (
        error_of(lambda: sns.publish(TopicArn=arn, Message="x" * 262_145))[1]
        == "Invalid parameter: Message too long"
    )
    assert error_of(lambda: sns.publish(Message="x"))[1] == (
        "Invalid parameter: TopicArn or TargetArn Reason: no value for required parameter"
    )
    assert error_of(lambda: sns.publish(TopicArn=arn, Message="{}", MessageStructure="json"))[1] == (
        "Invalid parameter: Message Structure - No default entry in JSON message body"
    )
    assert error_of(lambda: sns.publish(TopicArn=arn, Message="{", MessageStructure="json"))[1] == (
        "Invalid parameter: Message Structure - JSON message body failed to parse"
    )
    bad_type = {"a": {"DataType": "Text", "StringValue": "x"}}
    assert error_of(lambda: sns.publish(TopicArn=arn, Message="x", MessageAttributes=bad_type)) == (
        "ParameterValueInvalid",
        "The message attribute 'a' has an invalid message attribute type, the set of supported type prefixes "
        "is Binary, Number, and String.",
        400,
    )
    bad_number = {"n": {"DataType": "Number", "StringValue": "ten"}}
    assert error_of(lambda: sns.publish(TopicArn=arn, Message="x", MessageAttributes=bad_number))[1] == (
        "Could not cast message attribute 'n' value to number."
    )
    assert error_of(lambda: sns.publish(TopicArn=arn, Message="x", MessageDeduplicationId="d"))[1] == (
        "Invalid parameter: MessageDeduplicationId Reason: The request includes MessageDeduplicationId "
        "parameter that is not valid for this topic type"
    )


def test_subscription_errors(sns: Any) -> None:
    arn = sns.create_topic(Name="suberrs")["TopicArn"]
    assert error_of(lambda: sns.subscribe(TopicArn=arn, Protocol="carrier-pigeon", Endpoint="x")) == (
        "InvalidParameter",
        "Invalid parameter: Amazon SNS does not support this protocol string: carrier-pigeon",
        400,
    )
    assert error_of(lambda: sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint="queue"))[1] == (
        "Invalid parameter: SQS endpoint ARN"
    )
    assert (
        error_of(lambda: sns.subscribe(TopicArn=TOPIC_PREFIX + "nope", Protocol="sqs", Endpoint="x"))[0]
        == "NotFound"
    )
    function = f"{ARN_PREFIX}sns-sink"
    assert (
        error_of(
            lambda: sns.subscribe(
                TopicArn=arn, Protocol="lambda", Endpoint=function, Attributes={"RawMessageDelivery": "true"}
            )
        )[1]
        == "Invalid parameter: Delivery protocol [lambda] does not support raw message delivery."
    )

    def queue_refusal(attributes: dict[str, str]) -> str:
        """The message of a refused subscription of queue ``q`` with ``attributes``."""
        return error_of(
            lambda: sns.subscribe(
                TopicArn=arn, Protocol="sqs", Endpoint=QUEUE_PREFIX + "q", Attributes=attributes
            )
        )[1]

    assert (
        queue_refusal({"FilterPolicy": '{"a": "x"}'})
        == 'Invalid parameter: FilterPolicy: "a" must be an object or an array'
    )
    six = json.dumps({f"k{i}": ["v"] for i in range(6)})
    assert (
        queue_refusal({"FilterPolicy": six})
        == "Invalid parameter: FilterPolicy: Filter policy can not have more than 5 keys"
    )
    assert (
        queue_refusal({"FilterPolicyScope": "Body"})
        == "Invalid parameter: FilterPolicyScope: Invalid value [Body]. "
        "Please use either MessageBody or MessageAttributes"
    )
    fifo_queue = QUEUE_PREFIX + "q.fifo"
    assert error_of(lambda: sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=fifo_queue))[1] == (
        "Invalid parameter: Invalid parameter: Endpoint Reason: "
        "FIFO SQS Queues can not be subscribed to standard SNS topics"
    )
    missing = f"{arn}:0b0b0b0b-0000-0000-0000-000000000000"
    assert error_of(lambda: sns.get_subscription_attributes(SubscriptionArn=missing)) == (
        "NotFound",
        "Subscription does not exist",
        404,
    )
    assert error_of(lambda: sns.unsubscribe(SubscriptionArn="nonsense"))[1] == (
        "Invalid parameter: SubscriptionArn Reason: An ARN must have at least 6 elements, not 1"
    )


def test_fan_out_to_a_function_and_queues_with_filter_policies(
    sns: Any, sqs: Any, lam: Any, collector: Collector
) -> None:
    topic = sns.create_topic(Name="orders")["TopicArn"]
    function = f"{ARN_PREFIX}sns-sink"
    lambda_sub = sns.subscribe(
        TopicArn=topic,
        Protocol="lambda",
        Endpoint=function,
        Attributes={"FilterPolicy": json.dumps({"kind": ["order"], "amount": [{"numeric": [">", 100]}]})},
    )["SubscriptionArn"]
    all_url, all_arn = queue(sqs, "orders-all")
    envelope_sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=all_arn)["SubscriptionArn"]
    raw_url, raw_arn = queue(sqs, "orders-raw")
    raw_sub = sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=raw_arn,
        Attributes={
            "RawMessageDelivery": "true",
            "FilterPolicyScope": "MessageBody",
            "FilterPolicy": json.dumps({"customer": {"tier": [{"prefix": "gold"}]}}),
        },
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]
    assert raw_sub.startswith(topic + ":")
    attributes = sns.get_subscription_attributes(SubscriptionArn=raw_sub)["Attributes"]
    assert attributes["RawMessageDelivery"] == "true" and attributes["FilterPolicyScope"] == "MessageBody"
    assert attributes["PendingConfirmation"] == "false" and attributes["Endpoint"] == raw_arn
    listed = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert {s["SubscriptionArn"] for s in listed} == {lambda_sub, envelope_sub, raw_sub}
    assert sns.get_topic_attributes(TopicArn=topic)["Attributes"]["SubscriptionsConfirmed"] == "3"

    big = json.dumps({"customer": {"tier": "gold-plus"}, "id": 1})
    kind_order = {
        "kind": {"DataType": "String", "StringValue": "order"},
        "amount": {"DataType": "Number", "StringValue": "250"},
    }
    first = sns.publish(TopicArn=topic, Message=big, Subject="New order", MessageAttributes=kind_order)[
        "MessageId"
    ]
    small = {
        "kind": {"DataType": "String", "StringValue": "order"},
        "amount": {"DataType": "Number", "StringValue": "5"},
    }
    sns.publish(TopicArn=topic, Message=json.dumps({"customer": {"tier": "silver"}}), MessageAttributes=small)

    record = wait_for(lambda: collector.records and collector.records[-1], message="the function's SNS event")
    assert list(record) == ["Records"] and len(record["Records"]) == 1
    event = record["Records"][0]
    assert event["EventSource"] == "aws:sns" and event["EventVersion"] == "1.0"
    assert event["EventSubscriptionArn"] == lambda_sub
    body = event["Sns"]
    assert body["Type"] == "Notification" and body["MessageId"] == first and body["TopicArn"] == topic
    assert body["Subject"] == "New order" and body["Message"] == big and body["SignatureVersion"] == "1"
    assert body["MessageAttributes"] == {
        "kind": {"Type": "String", "Value": "order"},
        "amount": {"Type": "Number", "Value": "250"},
    }
    assert body["Timestamp"].endswith("Z") and "SigningCertUrl" in body and "UnsubscribeUrl" in body

    envelopes = [json.loads(m["Body"]) for m in drain(sqs, all_url, 2)]
    assert [e["Type"] for e in envelopes] == ["Notification", "Notification"]
    assert envelopes[0]["MessageId"] == first and envelopes[0]["Subject"] == "New order"
    assert (
        envelopes[0]["Message"] == big
        and "SigningCertURL" in envelopes[0]
        and "UnsubscribeURL" in envelopes[0]
    )
    assert "Subject" not in envelopes[1]
    assert envelopes[0]["MessageAttributes"]["amount"] == {"Type": "Number", "Value": "250"}

    raw = drain(sqs, raw_url, 1)
    assert [m["Body"] for m in raw] == [big]
    assert raw[0]["MessageAttributes"]["kind"]["StringValue"] == "order"
    # Only the gold customer passed the body policy, only the big order the attribute policy.
    assert len(collector.records) == 1

    sns.set_subscription_attributes(
        SubscriptionArn=lambda_sub, AttributeName="FilterPolicy", AttributeValue="{}"
    )
    sns.unsubscribe(SubscriptionArn=envelope_sub)
    sns.publish(TopicArn=topic, Message="plain", MessageAttributes=small)
    wait_for(lambda: len(collector.records) == 2, message="the unfiltered event")
    assert collector.records[-1]["Records"][0]["Sns"]["Subject"] is None
    assert collector.records[-1]["Records"][0]["Sns"]["MessageAttributes"]["kind"]["Value"] == "order"
    assert not sqs.receive_message(QueueUrl=all_url, WaitTimeSeconds=0).get("Messages")


def test_fifo_topic_deduplicates_and_numbers(sns: Any, sqs: Any) -> None:
    topic = sns.create_topic(Name="jobs.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    url = sqs.create_queue(QueueName="jobs.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=QUEUE_PREFIX + "jobs.fifo")
    assert error_of(lambda: sns.publish(TopicArn=topic, Message="x"))[1] == (
        "Invalid parameter: The MessageGroupId parameter is required for FIFO topics"
    )
    assert error_of(lambda: sns.publish(TopicArn=topic, Message="x", MessageGroupId="g"))[1] == (
        "Invalid parameter: The topic should either have ContentBasedDeduplication enabled or "
        "MessageDeduplicationId provided explicitly"
    )
    one = sns.publish(TopicArn=topic, Message="a", MessageGroupId="g", MessageDeduplicationId="d1")
    again = sns.publish(TopicArn=topic, Message="a", MessageGroupId="g", MessageDeduplicationId="d1")
    two = sns.publish(TopicArn=topic, Message="b", MessageGroupId="g", MessageDeduplicationId="d2")
    assert again["MessageId"] == one["MessageId"]
    assert len(one["SequenceNumber"]) == 20 and two["SequenceNumber"] > one["SequenceNumber"]
    got = drain(sqs, url, 1)
    bodies = [json.loads(m["Body"])["Message"] for m in got]
    assert bodies[0] == "a"
    assert sns.get_topic_attributes(TopicArn=topic)["Attributes"]["FifoTopic"] == "true"


def test_fifo_deduplication_survives_a_restart(tmp_path_factory: pytest.TempPathFactory) -> None:
    data_dir = tmp_path_factory.mktemp("sns-restart") / "data"
    server = start_server(data_dir)
    try:
        sns, sqs = server.client("sns"), server.client("sqs")
        topic = sns.create_topic(Name="once.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
        url = sqs.create_queue(QueueName="once.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=QUEUE_PREFIX + "once.fifo")
        first = sns.publish(TopicArn=topic, Message="a", MessageGroupId="g", MessageDeduplicationId="d1")
    finally:
        stop_server(server)
    server = start_server(data_dir)
    try:
        sns, sqs = server.client("sns"), server.client("sqs")
        again = sns.publish(TopicArn=topic, Message="a", MessageGroupId="g", MessageDeduplicationId="d1")
        assert (again["MessageId"], again["SequenceNumber"]) == (first["MessageId"], first["SequenceNumber"])
        other = sns.publish(TopicArn=topic, Message="b", MessageGroupId="g", MessageDeduplicationId="d2")
        assert other["MessageId"] != first["MessageId"]
        bodies = [json.loads(m["Body"])["Message"] for m in drain(sqs, url, 2)]
        assert bodies == ["a", "b"]  # the retried "a" was not delivered twice
    finally:
        stop_server(server)


def test_publish_batch(sns: Any, sqs: Any) -> None:
    topic = sns.create_topic(Name="batch")["TopicArn"]
    url, arn = queue(sqs, "batch-q")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    answer = sns.publish_batch(
        TopicArn=topic,
        PublishBatchRequestEntries=[
            {"Id": "one", "Message": "m1"},
            {"Id": "two", "Message": ""},
            {"Id": "three", "Message": "m3"},
        ],
    )
    assert [s["Id"] for s in answer["Successful"]] == ["one", "three"]
    assert answer["Failed"] == [
        {
            "Id": "two",
            "Code": "InvalidParameter",
            "Message": "Invalid parameter: Empty message",
            "SenderFault": True,
        }
    ]
    assert sorted(m["Body"] for m in drain(sqs, url, 2)) == ["m1", "m3"]
    entries = [{"Id": f"e{i}", "Message": "x"} for i in range(11)]
    assert error_of(lambda: sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=entries)) == (
        "TooManyEntriesInBatchRequest",
        "The batch request contains more entries than permissible.",
        400,
    )
    same = [{"Id": "a", "Message": "x"}, {"Id": "a", "Message": "y"}]
    assert error_of(lambda: sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=same))[0] == (
        "BatchEntryIdsNotDistinct"
    )
    bad = [{"Id": "no spaces", "Message": "x"}]
    assert error_of(lambda: sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=bad))[0] == (
        "InvalidBatchEntryId"
    )


def test_tags(sns: Any) -> None:
    topic = sns.create_topic(Name="tagged", Tags=[{"Key": "team", "Value": "a"}])["TopicArn"]
    sns.tag_resource(ResourceArn=topic, Tags=[{"Key": "env", "Value": "dev"}])
    tags = {t["Key"]: t["Value"] for t in sns.list_tags_for_resource(ResourceArn=topic)["Tags"]}
    assert tags == {"team": "a", "env": "dev"}
    sns.untag_resource(ResourceArn=topic, TagKeys=["team"])
    assert sns.list_tags_for_resource(ResourceArn=topic)["Tags"] == [{"Key": "env", "Value": "dev"}]
    many = [{"Key": f"k{i}", "Value": "v"} for i in range(50)]
    assert error_of(lambda: sns.tag_resource(ResourceArn=topic, Tags=many)) == (
        "TagLimitExceeded",
        "Could not complete request: tag quota of per resource exceeded",
        400,
    )
    assert error_of(lambda: sns.list_tags_for_resource(ResourceArn=TOPIC_PREFIX + "none")) == (
        "ResourceNotFound",
        "Resource does not exist",
        404,
    )


class Endpoint:
    """An HTTP subscriber on loopback that keeps every POST (headers and body)."""

    def __init__(self) -> None:
        self.posts: list[tuple[dict[str, str], bytes]] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                endpoint.posts.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_an_http_endpoint_confirms_then_gets_notifications(sns: Any) -> None:
    endpoint = Endpoint()
    try:
        topic = sns.create_topic(Name="hooks")["TopicArn"]
        assert sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=endpoint.url)["SubscriptionArn"] == (
            "pending confirmation"
        )
        headers, body = wait_for(lambda: endpoint.posts and endpoint.posts[0], message="the confirmation")
        confirmation = json.loads(body)
        assert headers["x-amz-sns-message-type"] == "SubscriptionConfirmation"
        assert confirmation["Type"] == "SubscriptionConfirmation" and confirmation["TopicArn"] == topic
        assert "Action=ConfirmSubscription" in confirmation["SubscribeURL"]
        assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"][0]["SubscriptionArn"] == (
            "pending confirmation"
        )
        assert error_of(lambda: sns.confirm_subscription(TopicArn=topic, Token="wrong")) == (
            "InvalidParameter",
            "Invalid parameter: Token",
            400,
        )
        arn = sns.confirm_subscription(TopicArn=topic, Token=confirmation["Token"])["SubscriptionArn"]
        assert arn.startswith(topic + ":")
        message_id = sns.publish(TopicArn=topic, Message="hello", Subject="hi")["MessageId"]
        headers, body = wait_for(
            lambda: len(endpoint.posts) > 1 and endpoint.posts[1], message="the notification"
        )
        note = json.loads(body)
        assert headers["x-amz-sns-message-type"] == "Notification"
        assert headers["x-amz-sns-message-id"] == message_id and headers["x-amz-sns-subscription-arn"] == arn
        assert (note["Type"], note["Message"], note["Subject"], note["MessageId"]) == (
            "Notification",
            "hello",
            "hi",
            message_id,
        )
        sns.set_subscription_attributes(
            SubscriptionArn=arn, AttributeName="RawMessageDelivery", AttributeValue="true"
        )
        sns.publish(TopicArn=topic, Message="raw body")
        headers, body = wait_for(
            lambda: len(endpoint.posts) > 2 and endpoint.posts[2], message="the raw notification"
        )
        assert body == b"raw body" and headers["x-amz-sns-rawdelivery"] == "true"
    finally:
        endpoint.close()


def test_a_topic_is_an_asynchronous_invocation_destination(
    sns: Any, sqs: Any, lam: Any, collector: Collector
) -> None:
    create_function(lam, "sns-flaky", {"app.py": FLAKY}, Environment={"Variables": collector.variables})
    topic = sns.create_topic(Name="failures")["TopicArn"]
    url, arn = queue(sqs, "failures-q")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    lam.put_function_event_invoke_config(
        FunctionName="sns-flaky",
        MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": topic}},
    )
    answer = lam.invoke(
        FunctionName="sns-flaky", InvocationType="Event", Payload=json.dumps({"fail_times": 9})
    )
    record = json.loads(drain(sqs, url, 1)[0]["Body"])
    assert record["requestContext"]["requestId"] == answer["ResponseMetadata"]["RequestId"]
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestPayload"] == {"fail_times": 9}
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.put_function_event_invoke_config(
            FunctionName="sns-flaky",
            DestinationConfig={"OnFailure": {"Destination": TOPIC_PREFIX + "missing"}},
        )
