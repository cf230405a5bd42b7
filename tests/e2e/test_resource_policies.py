"""Queue and topic policies under ``--auth sigv4``, driven by boto3: a same-account
caller is allowed by its identity policy or by the queue's (topic's) policy, an explicit
deny in either refuses; AddPermission and RemovePermission edit the policy; services
(SNS delivering to a queue, EventBridge sending to a queue or publishing to a topic)
need the resource's policy, with ``aws:SourceArn`` naming the topic or rule. Refusals
carry SQS's and SNS's codes and words."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from botocore.exceptions import ClientError

from tests.conftest import ACCOUNT, REGION, Server, start_server, stop_server
from tests.e2e.test_iam import admin, allow, client, document, new_user, refused

QUEUES = f"arn:aws:sqs:{REGION}:{ACCOUNT}:"
TOPICS = f"arn:aws:sns:{REGION}:{ACCOUNT}:"
RULES = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("policies") / "data", "--auth", "sigv4")
    yield server
    stop_server(server)


def user_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:user/{name}"


def sqs_refusal(user: str, action: str, resource: str, ending: str = "") -> tuple[int, str, str]:
    """SQS's refusal: AccessDenied, the action in lower case."""
    action = action.lower()
    ending = ending or f"because no identity-based policy allows the {action} action"
    return (
        403,
        "AccessDenied",
        f"User: {user_arn(user)} is not authorized to perform: {action} on resource: {resource} {ending}",
    )


def grant(principal: Any, action: Any, resource: str, effect: str = "Allow", **extra: Any) -> dict[str, Any]:
    return {"Effect": effect, "Principal": principal, "Action": action, "Resource": resource, **extra}


def received(sqs: Any, url: str, wait_s: int = 2) -> list[str]:
    answer = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=wait_s, MaxNumberOfMessages=10)
    return [message["Body"] for message in answer.get("Messages", [])]


def test_a_queue_policy_allows_what_no_identity_policy_does(server: Server) -> None:
    owner = admin(server, "sqs")
    url = owner.create_queue(QueueName="inbox")["QueueUrl"]
    arn = QUEUES + "inbox"
    sqs = client(server, "sqs", new_user(server, "ursula"))
    assert refused(sqs.send_message, QueueUrl=url, MessageBody="x") == sqs_refusal(
        "ursula", "sqs:SendMessage", arn
    )
    policy = document(grant({"AWS": user_arn("ursula")}, "sqs:SendMessage", arn))
    owner.set_queue_attributes(QueueUrl=url, Attributes={"Policy": policy})
    sqs.send_message(QueueUrl=url, MessageBody="one")
    # A batch is authorized as sqs:SendMessage.
    batch = sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "two"}])
    assert [entry["Id"] for entry in batch["Successful"]] == ["a"]
    assert refused(sqs.receive_message, QueueUrl=url) == sqs_refusal("ursula", "sqs:ReceiveMessage", arn)
    # The policy grants nothing the queue policy cannot: SetQueueAttributes is the caller's own business.
    everything = document(grant({"AWS": user_arn("ursula")}, "sqs:*", arn))
    owner.set_queue_attributes(QueueUrl=url, Attributes={"Policy": everything})
    assert sorted(received(sqs, url)) == ["one", "two"]
    assert refused(sqs.set_queue_attributes, QueueUrl=url, Attributes={"DelaySeconds": "1"}) == sqs_refusal(
        "ursula", "sqs:SetQueueAttributes", arn
    )


def test_an_explicit_deny_in_either_policy_refuses(server: Server) -> None:
    owner = admin(server, "sqs")
    url = owner.create_queue(QueueName="guarded")["QueueUrl"]
    arn = QUEUES + "guarded"
    sqs = client(server, "sqs", new_user(server, "victor", allow("sqs:*", arn)))
    sqs.send_message(QueueUrl=url, MessageBody="fine")
    deny = grant({"AWS": user_arn("victor")}, "sqs:SendMessage", arn, "Deny")
    owner.set_queue_attributes(QueueUrl=url, Attributes={"Policy": document(deny)})
    assert refused(sqs.send_message, QueueUrl=url, MessageBody="x") == sqs_refusal(
        "victor", "sqs:SendMessage", arn, "with an explicit deny in a resource-based policy"
    )
    assert received(sqs, url, 0) == ["fine"]
    # A document that is not a policy is refused as AWS refuses it.
    assert refused(owner.set_queue_attributes, QueueUrl=url, Attributes={"Policy": '{"Statement": 3}'}) == (
        400,
        "InvalidAttributeValue",
        "Invalid value for the parameter Policy.",
    )


def test_add_and_remove_permission_edit_the_queue_policy(server: Server) -> None:
    owner = admin(server, "sqs")
    url = owner.create_queue(QueueName="shared")["QueueUrl"]
    arn = QUEUES + "shared"
    sqs = client(server, "sqs", new_user(server, "wendy"))
    owner.add_permission(QueueUrl=url, Label="readers", AWSAccountIds=[ACCOUNT], Actions=["ReceiveMessage"])
    policy = orjson.loads(
        owner.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"]
    )
    assert policy["Statement"] == [
        {
            "Sid": "readers",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "SQS:ReceiveMessage",
            "Resource": arn,
        }
    ]
    assert received(sqs, url, 0) == []
    assert refused(
        owner.add_permission, QueueUrl=url, Label="readers", AWSAccountIds=[ACCOUNT], Actions=["SendMessage"]
    ) == (
        400,
        "InvalidParameterValue",
        "Value readers for parameter Label is invalid. Reason: Already exists.",
    )
    assert refused(
        owner.add_permission, QueueUrl=url, Label="fliers", AWSAccountIds=[ACCOUNT], Actions=["Fly"]
    ) == (
        400,
        "InvalidParameterValue",
        "Value SQS:Fly for parameter ActionName is invalid. "
        "Reason: Please refer to the appropriate WSDL for a list of valid actions.",
    )
    owner.remove_permission(QueueUrl=url, Label="readers")
    assert refused(sqs.receive_message, QueueUrl=url) == sqs_refusal("wendy", "sqs:ReceiveMessage", arn)
    assert refused(owner.remove_permission, QueueUrl=url, Label="readers") == (
        400,
        "InvalidParameterValue",
        "Value readers for parameter Label is invalid. Reason: can't find label on existing policy.",
    )


def test_a_topic_policy_allows_publishing_and_refusals_are_authorization_errors(server: Server) -> None:
    owner = admin(server, "sns")
    topic = owner.create_topic(Name="news")["TopicArn"]
    sns = client(server, "sns", new_user(server, "xena"))
    assert refused(sns.publish, TopicArn=topic, Message="x") == (
        403,
        "AuthorizationError",
        f"User: {user_arn('xena')} is not authorized to perform: SNS:Publish on resource: {topic} "
        "because no identity-based policy allows the SNS:Publish action",
    )
    owner.add_permission(TopicArn=topic, Label="publishers", AWSAccountId=[ACCOUNT], ActionName=["Publish"])
    assert sns.publish(TopicArn=topic, Message="hello")["MessageId"]
    sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[{"Id": "1", "Message": "m"}])
    # The default statement is kept beside the new one.
    statements = orjson.loads(owner.get_topic_attributes(TopicArn=topic)["Attributes"]["Policy"])["Statement"]
    assert [statement["Sid"] for statement in statements] == ["__default_statement_ID", "publishers"]
    assert refused(
        owner.add_permission,
        TopicArn=topic,
        Label="publishers",
        AWSAccountId=[ACCOUNT],
        ActionName=["Publish"],
    ) == (400, "InvalidParameter", "Invalid parameter: Statement already exists")
    assert refused(sns.get_topic_attributes, TopicArn=topic)[:2] == (403, "AuthorizationError")
    owner.remove_permission(TopicArn=topic, Label="publishers")
    assert refused(sns.publish, TopicArn=topic, Message="x")[:2] == (403, "AuthorizationError")


def test_a_topic_delivers_to_a_queue_whose_policy_allows_it(server: Server) -> None:
    sns, sqs = admin(server, "sns"), admin(server, "sqs")
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    url = sqs.create_queue(QueueName="alert-inbox")["QueueUrl"]
    arn = QUEUES + "alert-inbox"
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    sns.publish(TopicArn=topic, Message="dropped: no queue policy")
    assert received(sqs, url, 1) == []
    from_other = grant(
        {"Service": "sns.amazonaws.com"},
        "sqs:SendMessage",
        arn,
        Condition={"ArnEquals": {"aws:SourceArn": TOPICS + "other"}},
    )
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": document(from_other)})
    sns.publish(TopicArn=topic, Message="dropped: another topic's")
    assert received(sqs, url, 1) == []
    from_alerts = {**from_other, "Condition": {"ArnEquals": {"aws:SourceArn": topic}}}
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": document(from_alerts)})
    sns.publish(TopicArn=topic, Message="delivered")
    assert received(sqs, url) == ["delivered"]


def test_a_rule_sends_to_a_queue_and_publishes_to_a_topic_their_policies_allow(server: Server) -> None:
    events, sns, sqs = admin(server, "events"), admin(server, "sns"), admin(server, "sqs")
    url = sqs.create_queue(QueueName="rule-inbox")["QueueUrl"]
    queue = QUEUES + "rule-inbox"
    topic = sns.create_topic(Name="rule-topic")["TopicArn"]
    fanned = sqs.create_queue(QueueName="rule-topic-inbox")["QueueUrl"]
    fanned_arn = QUEUES + "rule-topic-inbox"
    sns.subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=fanned_arn, Attributes={"RawMessageDelivery": "true"}
    )
    from_topic = grant(
        {"Service": "sns.amazonaws.com"},
        "sqs:SendMessage",
        fanned_arn,
        Condition={"ArnEquals": {"aws:SourceArn": topic}},
    )
    sqs.set_queue_attributes(QueueUrl=fanned, Attributes={"Policy": document(from_topic)})
    events.put_rule(Name="orders", EventPattern=orjson.dumps({"source": ["shop"]}).decode())
    events.put_targets(
        Rule="orders",
        Targets=[
            {"Id": "queue", "Arn": queue, "Input": '"to-queue"'},
            {"Id": "topic", "Arn": topic, "Input": '"to-topic"'},
        ],
    )
    entry = {"Source": "shop", "DetailType": "order", "Detail": "{}"}
    events.put_events(Entries=[entry])
    assert received(sqs, url, 1) == [] and received(sqs, fanned, 0) == []
    rule = RULES + "orders"
    from_rule = {"Condition": {"ArnEquals": {"aws:SourceArn": rule}}}
    sqs.set_queue_attributes(
        QueueUrl=url,
        Attributes={
            "Policy": document(
                grant({"Service": "events.amazonaws.com"}, "sqs:SendMessage", queue, **from_rule)
            )
        },
    )
    sns.set_topic_attributes(
        TopicArn=topic,
        AttributeName="Policy",
        AttributeValue=document(
            grant({"Service": "events.amazonaws.com"}, "sns:Publish", topic, **from_rule)
        ),
    )
    events.put_events(Entries=[entry])
    assert received(sqs, url) == ['"to-queue"']
    deadline = time.monotonic() + 5
    bodies: list[str] = []
    while not bodies and time.monotonic() < deadline:
        bodies = received(sqs, fanned, 1)
    assert bodies == ['"to-topic"']


def test_a_bucket_notifies_a_queue_whose_policy_allows_s3_for_it(server: Server) -> None:
    s3, sqs = admin(server, "s3"), admin(server, "sqs")
    s3.create_bucket(Bucket="photos")
    url = sqs.create_queue(QueueName="photo-events")["QueueUrl"]
    queue = QUEUES + "photo-events"
    config = {"QueueConfigurations": [{"QueueArn": queue, "Events": ["s3:ObjectCreated:*"]}]}
    with pytest.raises(ClientError) as caught:
        s3.put_bucket_notification_configuration(Bucket="photos", NotificationConfiguration=config)
    error = caught.value.response["Error"]
    assert (error["Code"], error["ArgumentName1"], error["ArgumentValue1"]) == (
        "InvalidArgument",
        queue,
        "Permissions on the destination queue do not allow S3 to publish notifications from this bucket",
    )
    from_bucket = {"Condition": {"ArnLike": {"aws:SourceArn": "arn:aws:s3:::photos"}}}
    allowed = document(grant({"Service": "s3.amazonaws.com"}, "sqs:SendMessage", queue, **from_bucket))
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": allowed})
    s3.put_bucket_notification_configuration(Bucket="photos", NotificationConfiguration=config)
    assert [orjson.loads(body)["Event"] for body in received(sqs, url)] == ["s3:TestEvent"]
    s3.put_object(Bucket="photos", Key="cat.jpg", Body=b"meow")
    (record,) = [orjson.loads(body)["Records"][0] for body in received(sqs, url, 5)]
    assert (record["eventName"], record["s3"]["object"]["key"]) == ("ObjectCreated:Put", "cat.jpg")
    # Once the policy no longer lets S3 in, the bucket's records are dropped (as AWS drops them).
    other_bucket = {"Condition": {"ArnLike": {"aws:SourceArn": "arn:aws:s3:::other"}}}
    elsewhere = document(grant({"Service": "s3.amazonaws.com"}, "sqs:SendMessage", queue, **other_bucket))
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": elsewhere})
    s3.put_object(Bucket="photos", Key="dog.jpg", Body=b"woof")
    assert received(sqs, url, 2) == []


def test_a_denied_target_sends_its_event_to_the_dead_letter_queue_at_once(server: Server) -> None:
    events, sqs = admin(server, "events"), admin(server, "sqs")
    sqs.create_queue(QueueName="locked")
    dlq_url = sqs.create_queue(QueueName="locked-dlq")["QueueUrl"]
    rule = RULES + "locked-out"
    from_rule = {"Condition": {"ArnEquals": {"aws:SourceArn": rule}}}
    dlq_policy = grant(
        {"Service": "events.amazonaws.com"}, "sqs:SendMessage", QUEUES + "locked-dlq", **from_rule
    )
    sqs.set_queue_attributes(QueueUrl=dlq_url, Attributes={"Policy": document(dlq_policy)})
    events.put_rule(Name="locked-out", EventPattern=orjson.dumps({"source": ["vault"]}).decode())
    target = {"Id": "q", "Arn": QUEUES + "locked", "DeadLetterConfig": {"Arn": QUEUES + "locked-dlq"}}
    events.put_targets(Rule="locked-out", Targets=[target])
    events.put_events(Entries=[{"Source": "vault", "DetailType": "open", "Detail": "{}"}])
    answer = sqs.receive_message(QueueUrl=dlq_url, WaitTimeSeconds=5, MessageAttributeNames=["All"])
    (message,) = answer["Messages"]
    attributes = {name: value["StringValue"] for name, value in message["MessageAttributes"].items()}
    assert attributes["ERROR_CODE"] == "NO_PERMISSIONS" and "RETRY_ATTEMPTS" not in attributes
    assert attributes["ERROR_MESSAGE"] == (
        f"cannot send to {QUEUES}locked: User: events.amazonaws.com is not authorized to perform: "
        f"sqs:sendmessage on resource: {QUEUES}locked because no resource-based policy allows the "
        "sqs:sendmessage action"
    )
