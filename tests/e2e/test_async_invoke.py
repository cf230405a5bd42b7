"""Asynchronous invocation through boto3 against a real server: 202 after a durable
write, AWS's retries (scaled by --retry-delay-scale 0.01: 60 s -> 0.6 s), event
age, reserved concurrency, destinations with AWS's exact record, InvokeAsync,
the event invoke config operations with AWS's errors, the CLI and the backlog.

Functions report each run and each record to a collector over loopback HTTP
(``tests.e2e.async_rig``): the collector counts runs per request id."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ARN_PREFIX, Server, create_function, start_server, stop_server
from tests.e2e.async_rig import FLAKY, SINK, Collector, wait_for

SINK_ARN = f"{ARN_PREFIX}sink"
NO_CONFIG = "The function {arn} doesn't have an EventInvokeConfig"
NO_FUNCTION = "The function doesn't exist."


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("async") / "data"
    srv = start_server(data_dir, "--retry-delay-scale", "0.01", env={"LAMBDALITE_KEEP_ALIVE_S": "60"})
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def lam(server: Server, collector: Collector) -> Any:
    client = server.client("lambda", parameter_validation=False)
    env = {"Variables": collector.variables}
    for name, source in (
        ("flaky", FLAKY),
        ("sink", SINK),
        ("held", FLAKY),
        ("zero", FLAKY),
        ("plain", FLAKY),
    ):
        create_function(client, name, {"app.py": source}, Environment=env, Timeout=30)
    return client


def event(lam: Any, name: str, payload: dict[str, Any], **kwargs: Any) -> str:
    response = lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps(payload), **kwargs)
    assert response["StatusCode"] == 202
    return str(response["ResponseMetadata"]["RequestId"])


def record_without_timestamp(collector: Collector, request_id: str) -> dict[str, Any]:
    record = wait_for(lambda: collector.record_for(request_id), message=f"the record of {request_id}")
    timestamp = record.pop("timestamp")
    assert timestamp.endswith("Z") and timestamp[10] == "T" and len(timestamp) == 24
    return dict(record)


def error_of(call: Any) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as err:
        call()
    response = err.value.response
    return (
        response["Error"]["Code"],
        response["Error"]["Message"],
        response["ResponseMetadata"]["HTTPStatusCode"],
    )


# -- accepting -----------------------------------------------------------------


def test_an_event_invoke_is_202_with_an_empty_body_and_runs_once_with_its_request_id(
    lam: Any, collector: Collector
) -> None:
    response = lam.invoke(FunctionName="plain", InvocationType="Event", Payload=b'{"hello": 1}')
    assert response["StatusCode"] == 202
    assert response["Payload"].read() == b""
    request_id = response["ResponseMetadata"]["RequestId"]
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"] == request_id
    wait_for(lambda: collector.runs[request_id] == 1, message="the run")
    time.sleep(0.3)
    assert collector.runs[request_id] == 1
    logs = lam_logs(lam)

    def lines() -> list[str]:
        found = logs.filter_log_events(logGroupName="/aws/lambda/plain")["events"]
        return [e["message"].split(" ", 1)[0] for e in found if request_id in e["message"]]

    assert wait_for(lambda: len(lines()) >= 3 and lines(), message="START/END/REPORT") == [
        "START",
        "END",
        "REPORT",
    ]


def lam_logs(lam: Any) -> Any:
    import boto3

    return boto3.client(
        "logs",
        endpoint_url=lam.meta.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def test_an_event_payload_over_1_mb_is_refused_with_awss_error(lam: Any) -> None:
    big = json.dumps({"x": "a" * 1_048_600})
    code, message, status = error_of(
        lambda: lam.invoke(FunctionName="plain", InvocationType="Event", Payload=big)
    )
    assert (code, status) == ("RequestEntityTooLargeException", 413)
    assert message == "Request must be smaller than 1048576 bytes for the InvokeFunction operation"


def test_invoke_async_is_accepted_with_status_202_and_limited_to_256_kb(
    lam: Any, collector: Collector
) -> None:
    response = lam.invoke_async(FunctionName="plain", InvokeArgs=b'{"legacy": true}')
    assert response["Status"] == 202
    request_id = response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    wait_for(lambda: collector.runs[request_id] == 1, message="the legacy event's run")
    code, message, status = error_of(
        lambda: lam.invoke_async(FunctionName="plain", InvokeArgs=json.dumps({"x": "a" * 262_200}).encode())
    )
    assert (code, status) == ("RequestEntityTooLargeException", 413)
    assert message == "Request must be smaller than 262144 bytes for the InvokeAsync operation"


def test_an_event_for_a_missing_function_is_404(lam: Any) -> None:
    code, message, status = error_of(
        lambda: lam.invoke(FunctionName="nope", InvocationType="Event", Payload=b"{}")
    )
    assert (code, status) == ("ResourceNotFoundException", 404)
    assert message == f"Function not found: {ARN_PREFIX}nope"


# -- retries and destinations ----------------------------------------------------


def test_a_handler_failing_twice_runs_three_times_and_its_success_reaches_on_success(
    lam: Any, collector: Collector
) -> None:
    lam.put_function_event_invoke_config(
        FunctionName="flaky", DestinationConfig={"OnSuccess": {"Destination": SINK_ARN}, "OnFailure": {}}
    )
    try:
        request_id = event(lam, "flaky", {"fail_times": 2})
        record = record_without_timestamp(collector, request_id)
        assert collector.runs[request_id] == 3
        assert record == {
            "version": "1.0",
            "requestContext": {
                "requestId": request_id,
                "functionArn": f"{ARN_PREFIX}flaky:$LATEST",
                "condition": "Success",
                "approximateInvokeCount": 3,
            },
            "requestPayload": {"fail_times": 2},
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST"},
            "responsePayload": {"runs": 3},
        }
    finally:
        lam.delete_function_event_invoke_config(FunctionName="flaky")


def test_with_maximum_retry_attempts_0_a_failure_runs_once_and_goes_to_on_failure(
    lam: Any, collector: Collector
) -> None:
    lam.put_function_event_invoke_config(
        FunctionName="flaky",
        MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": SINK_ARN}},
    )
    try:
        request_id = event(lam, "flaky", {"fail_times": 5})
        record = record_without_timestamp(collector, request_id)
        time.sleep(0.7)  # a retry would come 0.6 s later
        assert collector.runs[request_id] == 1
        payload = record.pop("responsePayload")
        assert payload["errorMessage"] == "failing run 1"
        assert payload["errorType"] == "RuntimeError"
        assert record == {
            "version": "1.0",
            "requestContext": {
                "requestId": request_id,
                "functionArn": f"{ARN_PREFIX}flaky:$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": 1,
            },
            "requestPayload": {"fail_times": 5},
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled",
            },
        }
    finally:
        lam.delete_function_event_invoke_config(FunctionName="flaky")


def test_a_version_alias_invoke_follows_the_aliass_config_and_names_it(
    lam: Any, collector: Collector
) -> None:
    version = lam.publish_version(FunctionName="flaky")["Version"]
    lam.create_alias(FunctionName="flaky", Name="live", FunctionVersion=version)
    lam.put_function_event_invoke_config(
        FunctionName="flaky",
        Qualifier="live",
        MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": SINK_ARN}},
    )
    request_id = event(lam, "flaky", {"fail_times": 5}, Qualifier="live")
    record = record_without_timestamp(collector, request_id)
    assert collector.runs[request_id] == 2
    assert record["requestContext"]["functionArn"] == f"{ARN_PREFIX}flaky:live"
    assert record["requestContext"]["approximateInvokeCount"] == 2
    assert record["responseContext"]["executedVersion"] == version


def test_a_throttled_event_backs_off_then_expires_to_on_failure_with_event_age_exceeded(
    lam: Any, collector: Collector
) -> None:
    lam.put_function_concurrency(FunctionName="held", ReservedConcurrentExecutions=1)
    lam.put_function_event_invoke_config(
        FunctionName="held",
        MaximumEventAgeInSeconds=60,  # 0.6 s at this scale
        DestinationConfig={"OnFailure": {"Destination": SINK_ARN}},
    )
    holder = threading.Thread(
        target=lambda: lam.invoke(FunctionName="held", Payload=json.dumps({"sleep": 3}).encode())
    )
    holder.start()
    try:
        # The long invoke holds the only slot from its report on.
        wait_for(lambda: {"sleep": 3} in collector.events, message="the holder")
        request_id = event(lam, "held", {"late": True})
        record = record_without_timestamp(collector, request_id)
        assert collector.runs[request_id] == 0
        assert record == {
            "version": "1.0",
            "requestContext": {
                "requestId": request_id,
                "functionArn": f"{ARN_PREFIX}held:$LATEST",
                "condition": "EventAgeExceeded",
                "approximateInvokeCount": 0,
            },
            "requestPayload": {"late": True},
            "responseContext": {"statusCode": 429},
        }
    finally:
        holder.join()


def test_reserved_concurrency_0_sends_new_events_straight_to_on_failure(
    lam: Any, collector: Collector
) -> None:
    lam.put_function_concurrency(FunctionName="zero", ReservedConcurrentExecutions=0)
    lam.put_function_event_invoke_config(
        FunctionName="zero", DestinationConfig={"OnFailure": {"Destination": SINK_ARN}}
    )
    request_id = event(lam, "zero", {"z": 0})
    record = record_without_timestamp(collector, request_id)
    assert collector.runs[request_id] == 0
    assert record == {
        "version": "1.0",
        "requestContext": {
            "requestId": request_id,
            "functionArn": f"{ARN_PREFIX}zero:$LATEST",
            "condition": "ZeroReservedConcurrency",
            "approximateInvokeCount": 0,
        },
        "requestPayload": {"z": 0},
    }


# -- the event invoke config operations ------------------------------------------------


def test_event_invoke_configs_on_latest_a_version_and_an_alias(lam: Any) -> None:
    create_function(lam, "configs", {"app.py": "def handler(e, c):\n    return e\n"})
    version = lam.publish_version(FunctionName="configs")["Version"]
    lam.create_alias(FunctionName="configs", Name="prod", FunctionVersion=version)
    put = lam.put_function_event_invoke_config(FunctionName="configs", MaximumRetryAttempts=0)
    assert put["FunctionArn"] == f"{ARN_PREFIX}configs:$LATEST"
    assert put["DestinationConfig"] == {"OnSuccess": {}, "OnFailure": {}}
    assert "MaximumEventAgeInSeconds" not in put
    lam.put_function_event_invoke_config(
        FunctionName="configs", Qualifier=version, MaximumEventAgeInSeconds=120
    )
    lam.put_function_event_invoke_config(FunctionName="configs:prod", MaximumRetryAttempts=1)
    updated = lam.update_function_event_invoke_config(FunctionName="configs", MaximumEventAgeInSeconds=60)
    assert (updated["MaximumRetryAttempts"], updated["MaximumEventAgeInSeconds"]) == (0, 60)
    replaced = lam.put_function_event_invoke_config(FunctionName="configs", MaximumEventAgeInSeconds=61)
    assert "MaximumRetryAttempts" not in replaced  # Put replaces, Update merges
    got = lam.get_function_event_invoke_config(FunctionName="configs", Qualifier="prod")
    assert got["FunctionArn"] == f"{ARN_PREFIX}configs:prod"
    listed = lam.list_function_event_invoke_configs(FunctionName="configs")["FunctionEventInvokeConfigs"]
    assert [c["FunctionArn"].rsplit(":", 1)[1] for c in listed] == ["$LATEST", version, "prod"]
    first = lam.list_function_event_invoke_configs(FunctionName="configs", MaxItems=2)
    rest = lam.list_function_event_invoke_configs(FunctionName="configs", Marker=first["NextMarker"])
    assert len(first["FunctionEventInvokeConfigs"]) == 2 and len(rest["FunctionEventInvokeConfigs"]) == 1
    for qualifier in ("$LATEST", version, "prod"):
        lam.delete_function_event_invoke_config(FunctionName="configs", Qualifier=qualifier)
    assert lam.list_function_event_invoke_configs(FunctionName="configs")["FunctionEventInvokeConfigs"] == []


@pytest.mark.parametrize(
    "operation, kwargs, expected",
    [
        (
            "put_function_event_invoke_config",
            {"FunctionName": "plain"},
            (
                "InvalidParameterValueException",
                "You must specify at least one of error handling or destination setting.",
            ),
        ),
        (
            "put_function_event_invoke_config",
            {"FunctionName": "nope", "MaximumRetryAttempts": 1},
            ("ResourceNotFoundException", NO_FUNCTION),
        ),
        (
            "put_function_event_invoke_config",
            {"FunctionName": "plain", "Qualifier": "nosuchalias", "MaximumRetryAttempts": 1},
            ("ResourceNotFoundException", NO_FUNCTION),
        ),
        (
            "put_function_event_invoke_config",
            {"FunctionName": "plain:$LATEST", "Qualifier": "1", "MaximumRetryAttempts": 1},
            (
                "InvalidParameterValueException",
                "The derived qualifier from the function name does not match the specified qualifier.",
            ),
        ),
        (
            "put_function_event_invoke_config",
            {
                "FunctionName": "plain",
                "DestinationConfig": {"OnSuccess": {"Destination": f"{ARN_PREFIX}nope"}},
            },
            ("InvalidParameterValueException", f"The destination ARN {ARN_PREFIX}nope is invalid."),
        ),
        (
            "put_function_event_invoke_config",
            {
                "FunctionName": "plain",
                "DestinationConfig": {"OnFailure": {"Destination": f"{ARN_PREFIX}plain"}},
            },
            ("InvalidParameterValueException", "You can't specify the function as a destination for itself."),
        ),
        (
            "put_function_event_invoke_config",
            {
                "FunctionName": "plain",
                "DestinationConfig": {
                    "OnSuccess": {"Destination": "arn:aws:iam:us-east-1:000000000000:function:x"}
                },
            },
            (
                "InvalidParameterValueException",
                "The provided destination config DestinationConfig(onSuccess=OnSuccess("
                "destination=arn:aws:iam:us-east-1:000000000000:function:x), onFailure=null) is invalid.",
            ),
        ),
        (
            "put_function_event_invoke_config",
            {
                "FunctionName": "plain",
                "DestinationConfig": {"OnFailure": {"Destination": "arn:aws:sqs:us-east-1:000000000000:q"}},
            },
            (
                "InvalidParameterValueException",
                "The destination ARN arn:aws:sqs:us-east-1:000000000000:q is invalid.",
            ),
        ),
        (
            "put_function_event_invoke_config",
            {"FunctionName": "plain", "MaximumRetryAttempts": 3},
            (
                "ValidationException",
                "1 validation error detected: Value '3' at 'maximumRetryAttempts' failed to satisfy "
                "constraint: Member must have value less than or equal to 2",
            ),
        ),
        (
            "put_function_event_invoke_config",
            {"FunctionName": "plain", "MaximumEventAgeInSeconds": 59},
            (
                "ValidationException",
                "1 validation error detected: Value '59' at 'maximumEventAgeInSeconds' failed to satisfy "
                "constraint: Member must have value greater than or equal to 60",
            ),
        ),
        (
            "update_function_event_invoke_config",
            {"FunctionName": "nope", "MaximumRetryAttempts": 0},
            ("ResourceNotFoundException", NO_FUNCTION),
        ),
        (
            "update_function_event_invoke_config",
            {"FunctionName": "plain", "MaximumRetryAttempts": 0},
            ("ResourceNotFoundException", NO_CONFIG.format(arn=f"{ARN_PREFIX}plain:$LATEST")),
        ),
        (
            "get_function_event_invoke_config",
            {"FunctionName": "nope"},
            ("ResourceNotFoundException", NO_CONFIG.format(arn=f"{ARN_PREFIX}nope:$LATEST")),
        ),
        (
            "get_function_event_invoke_config",
            {"FunctionName": "plain", "Qualifier": "1221"},
            ("ResourceNotFoundException", NO_CONFIG.format(arn=f"{ARN_PREFIX}plain:1221")),
        ),
        (
            "delete_function_event_invoke_config",
            {"FunctionName": "plain"},
            ("ResourceNotFoundException", NO_CONFIG.format(arn=f"{ARN_PREFIX}plain:$LATEST")),
        ),
        (
            "list_function_event_invoke_configs",
            {"FunctionName": "nope"},
            ("ResourceNotFoundException", NO_FUNCTION),
        ),
    ],
)
def test_event_invoke_config_errors_are_awss(
    lam: Any, operation: str, kwargs: dict[str, Any], expected: tuple[str, str]
) -> None:
    code, message, status = error_of(lambda: getattr(lam, operation)(**kwargs))
    assert (code, message) == expected
    assert status == {"ResourceNotFoundException": 404}.get(code, 400)


def test_a_config_goes_with_its_function(lam: Any) -> None:
    create_function(lam, "doomed", {"app.py": "def handler(e, c):\n    return e\n"})
    lam.put_function_event_invoke_config(FunctionName="doomed", MaximumRetryAttempts=1)
    lam.delete_function(FunctionName="doomed")
    create_function(lam, "doomed", {"app.py": "def handler(e, c):\n    return e\n"})
    code, _, _ = error_of(lambda: lam.get_function_event_invoke_config(FunctionName="doomed"))
    assert code == "ResourceNotFoundException"


# -- the CLI and the backlog -------------------------------------------------------------


def test_the_cli_queues_an_event_and_shows_the_backlog(
    server: Server, lam: Any, collector: Collector
) -> None:
    env = {"LAMBDALITE_ENDPOINT": server.endpoint, "PATH": "/usr/bin:/bin"}
    queued = subprocess.run(
        [sys.executable, "-m", "lambdalite", "invoke", "plain", "--async", "--payload", '{"cli": 1}'],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert queued.returncode == 0, queued.stderr
    request_id = queued.stdout.split()[1]
    assert "status 202" in queued.stdout
    wait_for(lambda: collector.runs[request_id] == 1, message="the CLI's event")
    backlog = json.loads(urllib.request.urlopen(f"{server.endpoint}/_lambdalite/async/plain").read())
    plain = backlog["Functions"]["plain"]
    assert plain["Delivered"] >= 1 and plain["Waiting"] == 0 and plain["Failed"] == 0
    shown = subprocess.run(
        [sys.executable, "-m", "lambdalite", "backlog"], capture_output=True, text=True, env=env, timeout=60
    )
    assert shown.returncode == 0, shown.stderr
    assert "plain" in shown.stdout and "delivered" in shown.stdout


def test_a_destination_that_is_gone_is_an_error_in_the_backlog_not_a_crash(
    server: Server, lam: Any, collector: Collector
) -> None:
    create_function(lam, "brief-sink", {"app.py": SINK}, Environment={"Variables": collector.variables})
    lam.put_function_event_invoke_config(
        FunctionName="plain", DestinationConfig={"OnSuccess": {"Destination": f"{ARN_PREFIX}brief-sink"}}
    )
    try:
        lam.delete_function(FunctionName="brief-sink")
        request_id = event(lam, "plain", {"orphan": True})
        wait_for(lambda: collector.runs[request_id] == 1, message="the run")

        def errors() -> dict[str, Any]:
            answer = urllib.request.urlopen(f"{server.endpoint}/_lambdalite/async/plain").read()
            plain: dict[str, Any] = json.loads(answer)["Functions"]["plain"]
            return plain if plain["DestinationErrors"] else {}

        plain = wait_for(errors, message="the destination error")
        assert (
            plain["LastError"]
            == f"delivery to {ARN_PREFIX}brief-sink failed: no destination {ARN_PREFIX}brief-sink exists"
        )
        assert "brief-sink failed" in server.output()
        assert event(lam, "plain", {"still": "serving"})
    finally:
        lam.delete_function_event_invoke_config(FunctionName="plain")
