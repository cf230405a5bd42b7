"""EventBridge Scheduler through boto3 ``scheduler`` against a real server: groups
and schedules with AWS's errors, a real ``at()`` schedule a few seconds ahead
firing a queue and a function, ActionAfterCompletion DELETE, a cron in a time zone
stored as given, and a schedule that comes due while the server is down firing
once when it is back (and a scheduled rule surviving the restart)."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import ARN_PREFIX, Server, create_function, start_server, stop_server
from tests.e2e.async_rig import SINK, Collector, wait_for
from tests.e2e.bus_rig import ACCOUNT_REGION, drain, error_of, queue

ROLE = "arn:aws:iam::000000000000:role/scheduler"
OFF = {"Mode": "OFF"}
SCHEDULE_PREFIX = f"arn:aws:scheduler:{ACCOUNT_REGION}:schedule/"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("scheduler") / "data", env={"LAMBDALITE_KEEP_ALIVE_S": "60"})
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def scheduler(server: Server) -> Any:
    return server.client("scheduler")


def in_seconds(seconds: float) -> str:
    moment = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)
    return f"at({moment.strftime('%Y-%m-%dT%H:%M:%S')})"


def test_groups_and_schedules_with_their_errors(scheduler: Any) -> None:
    arn = scheduler.create_schedule_group(Name="team")["ScheduleGroupArn"]
    assert arn == f"arn:aws:scheduler:{ACCOUNT_REGION}:schedule-group/team"
    assert scheduler.get_schedule_group(Name="team")["State"] == "ACTIVE"
    assert {"default", "team"} <= {g["Name"] for g in scheduler.list_schedule_groups()["ScheduleGroups"]}
    assert error_of(lambda: scheduler.create_schedule_group(Name="team")) == (
        "ConflictException",
        "Schedule group team already exists.",
        409,
    )
    target = {"Arn": f"arn:aws:sqs:{ACCOUNT_REGION}:nowhere", "RoleArn": ROLE}
    created = scheduler.create_schedule(
        Name="nightly",
        GroupName="team",
        ScheduleExpression="cron(30 2 * * ? *)",
        ScheduleExpressionTimezone="Europe/Berlin",
        FlexibleTimeWindow={"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15},
        Target=target,
        Description="backup",
    )
    assert created["ScheduleArn"] == SCHEDULE_PREFIX + "team/nightly"
    got = scheduler.get_schedule(Name="nightly", GroupName="team")
    assert (got["ScheduleExpressionTimezone"], got["State"], got["Description"]) == (
        "Europe/Berlin",
        "ENABLED",
        "backup",
    )
    assert got["Target"]["Arn"] == target["Arn"] and got["FlexibleTimeWindow"]["MaximumWindowInMinutes"] == 15
    scheduler.update_schedule(
        Name="nightly",
        GroupName="team",
        ScheduleExpression="rate(1 hour)",
        FlexibleTimeWindow=OFF,
        Target=target,
        State="DISABLED",
    )
    assert scheduler.get_schedule(Name="nightly", GroupName="team")["State"] == "DISABLED"
    listed = scheduler.list_schedules(GroupName="team")["Schedules"]
    assert [(s["Name"], s["State"], s["Target"]["Arn"]) for s in listed] == [
        ("nightly", "DISABLED", target["Arn"])
    ]
    assert error_of(
        lambda: scheduler.create_schedule(
            Name="nightly",
            GroupName="team",
            ScheduleExpression="rate(1 hour)",
            FlexibleTimeWindow=OFF,
            Target=target,
        )
    ) == ("ConflictException", "Schedule nightly already exists.", 409)
    assert error_of(
        lambda: scheduler.create_schedule(
            Name="bad", ScheduleExpression="every day", FlexibleTimeWindow=OFF, Target=target
        )
    ) == ("ValidationException", "Invalid Schedule Expression every day.", 400)
    assert error_of(
        lambda: scheduler.create_schedule(
            Name="bad",
            ScheduleExpression="rate(1 hour)",
            ScheduleExpressionTimezone="Mars/Olympus",
            FlexibleTimeWindow=OFF,
            Target=target,
        )
    ) == ("ValidationException", "Invalid time zone Mars/Olympus.", 400)
    assert (
        error_of(
            lambda: scheduler.create_schedule(
                Name="bad",
                ScheduleExpression="rate(1 hour)",
                FlexibleTimeWindow={"Mode": "FLEXIBLE"},
                Target=target,
            )
        )[1]
        == "MaximumWindowInMinutes must be between 1 and 1440 when Mode is FLEXIBLE."
    )
    assert error_of(
        lambda: scheduler.create_schedule(
            Name="bad",
            GroupName="nogroup",
            ScheduleExpression="rate(1 hour)",
            FlexibleTimeWindow=OFF,
            Target=target,
        )
    ) == ("ResourceNotFoundException", "Schedule group nogroup does not exist.", 404)
    assert error_of(lambda: scheduler.get_schedule(Name="nope")) == (
        "ResourceNotFoundException",
        "Schedule nope does not exist.",
        404,
    )
    scheduler.tag_resource(ResourceArn=arn, Tags=[{"Key": "k", "Value": "v"}])
    assert scheduler.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "k", "Value": "v"}]
    scheduler.untag_resource(ResourceArn=arn, TagKeys=["k"])
    assert scheduler.list_tags_for_resource(ResourceArn=arn)["Tags"] == []
    scheduler.delete_schedule(Name="nightly", GroupName="team")
    assert scheduler.list_schedules(GroupName="team")["Schedules"] == []
    scheduler.delete_schedule_group(Name="team")
    assert error_of(lambda: scheduler.get_schedule_group(Name="team"))[0] == "ResourceNotFoundException"


def test_an_at_schedule_fires_a_queue_and_a_function(
    scheduler: Any, server: Server, collector: Collector
) -> None:
    sqs = server.client("sqs")
    lam = server.client("lambda")
    create_function(lam, "tick-sink", {"app.py": SINK}, Environment={"Variables": collector.variables})
    url, arn = queue(sqs, "ticks")
    expression = in_seconds(3)
    scheduler.create_schedule(
        Name="once-q",
        ScheduleExpression=expression,
        FlexibleTimeWindow=OFF,
        Target={"Arn": arn, "RoleArn": ROLE, "Input": '{"hello": "queue"}'},
        ActionAfterCompletion="DELETE",
    )
    scheduler.create_schedule(
        Name="once-fn",
        ScheduleExpression=expression,
        FlexibleTimeWindow=OFF,
        Target={"Arn": f"{ARN_PREFIX}tick-sink", "RoleArn": ROLE, "Input": '{"hello": "function"}'},
    )
    due = dt.datetime.strptime(expression[3:-1], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.UTC).timestamp()
    message = drain(sqs, url, 1)[0]
    assert json.loads(message["Body"]) == {"hello": "queue"}
    assert time.time() >= due - 0.05
    assert wait_for(lambda: collector.records and collector.records[-1]) == {"hello": "function"}
    # ActionAfterCompletion DELETE removed the one-time schedule once it fired; the other stays.
    names = wait_for(
        lambda: (
            (n := [s["Name"] for s in scheduler.list_schedules()["Schedules"]]) and "once-q" not in n and n
        )
    )
    assert "once-fn" in names


def test_a_schedule_due_while_the_server_is_down_fires_once_at_start(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    data_dir = tmp_path_factory.mktemp("restart") / "data"
    server = start_server(data_dir)
    try:
        sqs = server.client("sqs")
        url, arn = queue(sqs, "late")
        server.client("scheduler").create_schedule(
            Name="while-down",
            ScheduleExpression=in_seconds(2),
            FlexibleTimeWindow=OFF,
            Target={"Arn": arn, "RoleArn": ROLE, "Input": '{"late": true}'},
        )
        events = server.client("events")
        events.put_rule(Name="hourly", ScheduleExpression="rate(1 hour)")
    finally:
        stop_server(server)
    time.sleep(3)
    server = start_server(data_dir)
    try:
        sqs = server.client("sqs")
        assert [json.loads(m["Body"]) for m in drain(sqs, url, 1)] == [{"late": True}]
        time.sleep(1.5)
        assert not sqs.receive_message(QueueUrl=url).get("Messages")
        assert server.client("events").describe_rule(Name="hourly")["ScheduleExpression"] == "rate(1 hour)"
    finally:
        stop_server(server)


def test_a_failing_target_is_retried_then_dead_lettered_per_its_retry_policy(
    scheduler: Any, server: Server
) -> None:
    sqs = server.client("sqs")
    dlq_url, dlq_arn = queue(sqs, "schedule-dlq")
    expression = in_seconds(2)
    policy = {"MaximumRetryAttempts": 1, "MaximumEventAgeInSeconds": 60}
    missing = f"arn:aws:sqs:{ACCOUNT_REGION}:never-there"
    scheduler.create_schedule(
        Name="to-nowhere",
        ScheduleExpression=expression,
        FlexibleTimeWindow=OFF,
        Target={"Arn": missing, "RoleArn": ROLE, "Input": '{"n": 1}', "RetryPolicy": policy}
        | {"DeadLetterConfig": {"Arn": dlq_arn}},
    )
    scheduler.create_schedule(
        Name="to-later",
        ScheduleExpression=expression,
        FlexibleTimeWindow=OFF,
        Target={
            "Arn": f"arn:aws:sqs:{ACCOUNT_REGION}:later-q",
            "RoleArn": ROLE,
            "Input": '{"n": 2}',
            "RetryPolicy": {"MaximumRetryAttempts": 10, "MaximumEventAgeInSeconds": 60},
        },
    )
    time.sleep(2.5)  # both fired and failed: the second's queue does not exist yet
    later_url, _ = queue(sqs, "later-q")
    assert [json.loads(m["Body"]) for m in drain(sqs, later_url, 1)] == [{"n": 2}]
    message = drain(sqs, dlq_url, 1)[0]
    assert json.loads(message["Body"]) == {"n": 1}
    attributes = {k: (v["DataType"], v["StringValue"]) for k, v in message["MessageAttributes"].items()}
    assert attributes == {
        "ERROR_CODE": ("String", "TargetNotFound"),
        "ERROR_MESSAGE": ("String", f"no queue {missing} exists"),
        "SCHEDULE_ARN": ("String", SCHEDULE_PREFIX + "default/to-nowhere"),
        "TARGET_ARN": ("String", missing),
        "EXHAUSTED_RETRY_CONDITION": ("String", "MaximumRetryAttempts"),
        "RETRY_ATTEMPTS": ("Number", "1"),
    }
