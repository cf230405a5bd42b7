"""Event buses and rules through boto3 ``events`` against a real server: buses,
rules, targets and their errors (AWS's codes and messages), PutEvents with
per-entry results, TestEventPattern, and a rule routing to a function and a queue
with input transformation, to a topic, and to another bus; queues, topics and
buses as asynchronous-invocation destinations."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import ARN_PREFIX, Server, create_function, start_server, stop_server
from tests.e2e.async_rig import FLAKY, SINK, Collector, wait_for
from tests.e2e.bus_rig import ACCOUNT_REGION, QUEUE_PREFIX, drain, error_of, queue

BUS_PREFIX = f"arn:aws:events:{ACCOUNT_REGION}:event-bus/"
RULE_PREFIX = f"arn:aws:events:{ACCOUNT_REGION}:rule/"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(
        tmp_path_factory.mktemp("events") / "data",
        "--retry-delay-scale",
        "0.001",
        env={"LAMBDALITE_KEEP_ALIVE_S": "60"},
    )
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def events(server: Server) -> Any:
    return server.client("events")


@pytest.fixture(scope="module")
def sqs(server: Server) -> Any:
    return server.client("sqs")


@pytest.fixture(scope="module")
def lam(server: Server, collector: Collector) -> Any:
    client = server.client("lambda")
    env = {"Variables": collector.variables}
    create_function(client, "bus-sink", {"app.py": SINK}, Environment=env)
    create_function(client, "bus-flaky", {"app.py": FLAKY}, Environment=env)
    return client


def entry(detail: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    return {"Source": "shop.orders", "DetailType": "Order Placed", "Detail": json.dumps(detail), **kwargs}


def test_buses(events: Any) -> None:
    default = events.describe_event_bus()
    assert default["Name"] == "default" and default["Arn"] == BUS_PREFIX + "default"
    created = events.create_event_bus(Name="shop", Description="orders")
    assert created["EventBusArn"] == BUS_PREFIX + "shop"
    assert events.describe_event_bus(Name="shop")["Description"] == "orders"
    assert {"default", "shop"} <= {b["Name"] for b in events.list_event_buses()["EventBuses"]}
    assert error_of(lambda: events.create_event_bus(Name="shop")) == (
        "ResourceAlreadyExistsException",
        "Event bus shop already exists.",
        400,
    )
    assert error_of(lambda: events.describe_event_bus(Name="nope")) == (
        "ResourceNotFoundException",
        "Event bus nope does not exist.",
        400,
    )
    assert error_of(lambda: events.delete_event_bus(Name="default")) == (
        "ValidationException",
        "Cannot delete event bus default.",
        400,
    )
    events.create_event_bus(Name="gone")
    events.delete_event_bus(Name="gone")
    assert "gone" not in {b["Name"] for b in events.list_event_buses()["EventBuses"]}


def test_rules_and_their_errors(events: Any) -> None:
    pattern = json.dumps({"source": ["shop.orders"]})
    arn = events.put_rule(Name="r1", EventPattern=pattern, Description="d")["RuleArn"]
    assert arn == RULE_PREFIX + "r1"
    rule = events.describe_rule(Name="r1")
    assert (rule["Name"], rule["State"], rule["EventPattern"], rule["EventBusName"]) == (
        "r1",
        "ENABLED",
        pattern,
        "default",
    )
    events.disable_rule(Name="r1")
    assert events.describe_rule(Name="r1")["State"] == "DISABLED"
    events.enable_rule(Name="r1")
    assert [r["Name"] for r in events.list_rules(NamePrefix="r1")["Rules"]] == ["r1"]
    events.create_event_bus(Name="custom")
    custom = events.put_rule(Name="r1", EventBusName="custom", EventPattern=pattern)["RuleArn"]
    assert custom == RULE_PREFIX + "custom/r1"
    assert (
        events.put_rule(Name="tick", ScheduleExpression="rate(5 minutes)")["RuleArn"] == RULE_PREFIX + "tick"
    )
    events.put_rule(Name="cron", ScheduleExpression="cron(0 12 * * ? *)")

    assert error_of(lambda: events.describe_rule(Name="nope")) == (
        "ResourceNotFoundException",
        "Rule nope does not exist on EventBus default.",
        400,
    )
    assert error_of(lambda: events.put_rule(Name="bad", EventPattern='{"source": "x"}')) == (
        "InvalidEventPatternException",
        'Event pattern is not valid. Reason: "source" must be an object or an array',
        400,
    )
    assert error_of(lambda: events.put_rule(Name="bad", EventPattern='{"detail": {}}'))[1] == (
        "Event pattern is not valid. Reason: Empty objects are not allowed"
    )
    assert error_of(lambda: events.put_rule(Name="bad")) == (
        "ValidationException",
        "Parameter(s) EventPattern or ScheduleExpression must be specified.",
        400,
    )
    assert error_of(lambda: events.put_rule(Name="bad", ScheduleExpression="rate(1 minutes)"))[1] == (
        "Parameter ScheduleExpression is not valid."
    )
    assert error_of(lambda: events.put_rule(Name="bad", ScheduleExpression="cron(0 12 * * * *)"))[1] == (
        "Parameter ScheduleExpression is not valid."
    )
    assert (
        error_of(
            lambda: events.put_rule(Name="bad", EventBusName="custom", ScheduleExpression="rate(1 minute)")
        )[1]
        == "ScheduleExpression is supported only on the default event bus."
    )
    assert error_of(lambda: events.put_rule(Name="bad", EventBusName="nobus", EventPattern=pattern)) == (
        "ResourceNotFoundException",
        "Event bus nobus does not exist.",
        400,
    )
    assert error_of(lambda: events.enable_rule(Name="nope"))[0] == "ResourceNotFoundException"
    events.delete_rule(Name="cron")
    events.delete_rule(Name="never-existed")


def test_targets_and_their_errors(events: Any) -> None:
    events.put_rule(Name="t1", EventPattern=json.dumps({"source": ["x"]}))
    targets = [{"Id": str(n), "Arn": f"{QUEUE_PREFIX}q{n}"} for n in range(5)]
    answer = events.put_targets(Rule="t1", Targets=targets)
    assert (answer["FailedEntryCount"], answer["FailedEntries"]) == (0, [])
    assert len(events.list_targets_by_rule(Rule="t1")["Targets"]) == 5
    assert error_of(
        lambda: events.put_targets(Rule="t1", Targets=[{"Id": "6", "Arn": f"{QUEUE_PREFIX}q6"}])
    ) == (
        "LimitExceededException",
        "The requested resource exceeds the maximum number allowed.",
        400,
    )
    assert error_of(lambda: events.delete_rule(Name="t1")) == (
        "ValidationException",
        "Rule can't be deleted since it has targets.",
        400,
    )
    both = [{"Id": "x", "Arn": f"{QUEUE_PREFIX}q", "Input": "{}", "InputPath": "$.detail"}]
    assert error_of(lambda: events.put_targets(Rule="t1", Targets=both)) == (
        "ValidationException",
        "Only one of Input, InputPath, or InputTransformer must be provided.",
        400,
    )
    assert error_of(lambda: events.put_targets(Rule="nope", Targets=targets))[1] == (
        "Rule nope does not exist on EventBus default."
    )
    removed = events.remove_targets(Rule="t1", Ids=["0", "1", "zz"])
    assert removed["FailedEntryCount"] == 1 and removed["FailedEntries"][0]["TargetId"] == "zz"
    assert events.list_rule_names_by_target(TargetArn=f"{QUEUE_PREFIX}q2")["RuleNames"] == ["t1"]
    events.delete_rule(Name="t1", Force=True)
    assert error_of(lambda: events.describe_rule(Name="t1"))[0] == "ResourceNotFoundException"


def test_put_events_results_and_limits(events: Any) -> None:
    answer = events.put_events(
        Entries=[
            entry({"n": 1}),
            {"Source": "s", "DetailType": "t", "Detail": "{not json"},
            {"DetailType": "t", "Detail": "{}"},
            entry({"n": 2}, EventBusName="nobus"),
        ]
    )
    assert answer["FailedEntryCount"] == 3
    results = answer["Entries"]
    assert len(results[0]["EventId"]) == 36
    assert results[1] == {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}
    assert results[2] == {
        "ErrorCode": "InvalidArgument",
        "ErrorMessage": "Parameter Source is not valid. Reason: Source is a required argument.",
    }
    assert results[3] == {"ErrorCode": "InvalidArgument", "ErrorMessage": "Event bus nobus does not exist."}
    huge = [entry({"blob": "x" * 200_000}), entry({"blob": "y" * 100_000})]
    assert error_of(lambda: events.put_events(Entries=huge)) == (
        "ValidationException",
        "Total size of the entries in the request is over the limit.",
        400,
    )


def test_test_event_pattern(events: Any) -> None:
    event = {
        "id": "1",
        "account": "000000000000",
        "source": "shop.orders",
        "time": "2026-12-07T18:00:00Z",
        "region": "us-east-1",
        "detail-type": "Order Placed",
        "resources": [],
        "detail": {"total": 120, "customer": {"tier": "gold"}},
    }
    pattern = {"detail": {"total": [{"numeric": [">", 100]}], "customer": {"tier": [{"prefix": "go"}]}}}
    assert (
        events.test_event_pattern(EventPattern=json.dumps(pattern), Event=json.dumps(event))["Result"] is True
    )
    pattern["detail"]["total"] = [{"numeric": ["<", 100]}]
    assert (
        events.test_event_pattern(EventPattern=json.dumps(pattern), Event=json.dumps(event))["Result"]
        is False
    )
    assert error_of(lambda: events.test_event_pattern(EventPattern='{"a": [[]]}', Event=json.dumps(event)))[
        0
    ] == ("InvalidEventPatternException")
    assert error_of(lambda: events.test_event_pattern(EventPattern='{"a": ["x"]}', Event='{"a": "x"}')) == (
        "ValidationException",
        "Parameter Event is not valid.",
        400,
    )


def test_a_rule_routes_to_a_function_a_queue_a_topic_and_another_bus(
    events: Any, sqs: Any, lam: Any, collector: Collector, server: Server
) -> None:
    sns = server.client("sns")
    events.create_event_bus(Name="orders")
    events.create_event_bus(Name="audit")
    transformed_url, transformed_arn = queue(sqs, "orders-transformed")
    whole_url, whole_arn = queue(sqs, "orders-whole")
    audit_url, audit_arn = queue(sqs, "orders-audit")
    topic = sns.create_topic(Name="orders-topic")["TopicArn"]
    topic_url, topic_queue = queue(sqs, "orders-topic-q")
    sns.subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=topic_queue, Attributes={"RawMessageDelivery": "true"}
    )

    pattern = {"source": ["shop.orders"], "detail": {"total": [{"numeric": [">=", 100]}]}}
    events.put_rule(Name="big-orders", EventBusName="orders", EventPattern=json.dumps(pattern))
    transformer = {
        "InputPathsMap": {"id": "$.detail.id", "tier": "$.detail.customer.tier", "total": "$.detail.total"},
        "InputTemplate": '{"order": <id>, "summary": "order <id> of a <tier> customer", "total": <total>, '
        '"rule": "<aws.events.rule-name>"}',
    }
    events.put_targets(
        Rule="big-orders",
        EventBusName="orders",
        Targets=[
            {"Id": "fn", "Arn": f"{ARN_PREFIX}bus-sink", "InputTransformer": transformer},
            {"Id": "q", "Arn": transformed_arn, "InputTransformer": transformer},
            {"Id": "whole", "Arn": whole_arn},
            {"Id": "topic", "Arn": topic, "InputPath": "$.detail.customer"},
            {"Id": "bus", "Arn": BUS_PREFIX + "audit"},
        ],
    )
    events.put_rule(
        Name="everything", EventBusName="audit", EventPattern=json.dumps({"source": ["shop.orders"]})
    )
    events.put_targets(
        Rule="everything",
        EventBusName="audit",
        Targets=[{"Id": "a", "Arn": audit_arn, "Input": '{"seen": true}'}],
    )

    answer = events.put_events(
        Entries=[
            entry({"id": "o-1", "total": 150, "customer": {"tier": "gold"}}, EventBusName="orders"),
            entry({"id": "o-2", "total": 20, "customer": {"tier": "silver"}}, EventBusName="orders"),
        ]
    )
    assert answer["FailedEntryCount"] == 0
    expected = {"order": "o-1", "summary": "order o-1 of a gold customer", "total": 150, "rule": "big-orders"}
    record = wait_for(lambda: collector.records and collector.records[-1], message="the function's event")
    assert record == expected
    assert [json.loads(m["Body"]) for m in drain(sqs, transformed_url, 1)] == [expected]
    whole = json.loads(drain(sqs, whole_url, 1)[0]["Body"])
    assert whole["id"] == answer["Entries"][0]["EventId"]
    assert (whole["source"], whole["detail-type"], whole["account"], whole["region"], whole["version"]) == (
        "shop.orders",
        "Order Placed",
        "000000000000",
        "us-east-1",
        "0",
    )
    assert whole["detail"]["id"] == "o-1" and whole["time"].endswith("Z") and whole["resources"] == []
    assert [json.loads(m["Body"]) for m in drain(sqs, topic_url, 1)] == [{"tier": "gold"}]
    assert [json.loads(m["Body"]) for m in drain(sqs, audit_url, 1)] == [{"seen": True}]
    assert len(collector.records) == 1


def test_a_missing_target_goes_to_its_dead_letter_queue_without_retries(events: Any, sqs: Any) -> None:
    dlq_url, dlq_arn = queue(sqs, "rule-dlq")
    events.put_rule(Name="to-nowhere", EventPattern=json.dumps({"source": ["nowhere"]}))
    target = {
        "Id": "gone",
        "Arn": f"{QUEUE_PREFIX}never-created",
        "DeadLetterConfig": {"Arn": dlq_arn},
        "RetryPolicy": {"MaximumRetryAttempts": 10, "MaximumEventAgeInSeconds": 60},
    }
    events.put_targets(Rule="to-nowhere", Targets=[target])
    events.put_events(Entries=[{"Source": "nowhere", "DetailType": "t", "Detail": '{"n": 1}'}])
    message = drain(sqs, dlq_url, 1)[0]
    assert json.loads(message["Body"])["source"] == "nowhere"
    attributes = {k: (v["DataType"], v["StringValue"]) for k, v in message["MessageAttributes"].items()}
    # No retry could make the queue exist: EventBridge sends the event on at once (no
    # EXHAUSTED_RETRY_CONDITION, no RETRY_ATTEMPTS).
    assert attributes == {
        "RULE_ARN": ("String", RULE_PREFIX + "to-nowhere"),
        "TARGET_ARN": ("String", f"{QUEUE_PREFIX}never-created"),
        "ERROR_CODE": ("String", "NO_RESOURCE"),
        "ERROR_MESSAGE": ("String", f"no queue {QUEUE_PREFIX}never-created exists"),
    }
    # A queue created afterwards does not get the event: it was not kept for a retry.
    url, _ = queue(sqs, "never-created")
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2).get("Messages") is None


def test_queues_topics_and_buses_are_destinations(events: Any, sqs: Any, lam: Any, server: Server) -> None:
    url, arn = queue(sqs, "destination-q")
    bus_url, bus_queue = queue(sqs, "destination-bus-q")
    events.create_event_bus(Name="results")
    events.put_rule(Name="failures", EventBusName="results", EventPattern=json.dumps({"source": ["lambda"]}))
    events.put_targets(Rule="failures", EventBusName="results", Targets=[{"Id": "q", "Arn": bus_queue}])
    lam.put_function_event_invoke_config(
        FunctionName="bus-flaky",
        MaximumRetryAttempts=0,
        DestinationConfig={
            "OnSuccess": {"Destination": arn},
            "OnFailure": {"Destination": BUS_PREFIX + "results"},
        },
    )
    lam.invoke(FunctionName="bus-flaky", InvocationType="Event", Payload=json.dumps({"fail_times": 0}))
    lam.invoke(FunctionName="bus-flaky", InvocationType="Event", Payload=json.dumps({"fail_times": 5}))
    success = json.loads(drain(sqs, url, 1)[0]["Body"])
    assert success["requestContext"]["condition"] == "Success"
    failure = json.loads(drain(sqs, bus_url, 1)[0]["Body"])
    assert failure["detail-type"] == "Lambda Function Invocation Result - Failure"
    assert (
        failure["source"] == "lambda"
        and failure["detail"]["requestContext"]["condition"] == "RetriesExhausted"
    )
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.put_function_event_invoke_config(
            FunctionName="bus-flaky",
            DestinationConfig={"OnSuccess": {"Destination": f"{QUEUE_PREFIX}missing"}},
        )
