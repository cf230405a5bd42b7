"""LoggingConfig and TracingConfig through the public surface: stored and returned
as given, JSON records and platform events in the Logs API, level filtering, a
custom log group, and the X-Ray variables and trace header of an Active function."""

from __future__ import annotations

import json
import re
import shutil
from typing import Any

import pytest

from tests.conftest import Server, create_function

LOGS = """
import logging
log = logging.getLogger("orders")
def handler(event, context):
    print("plain print")
    log.debug("debug detail")
    log.info("took order %s", 7, extra={"orderId": 7})
    log.warning("stock low")
    try:
        1 / 0
    except ZeroDivisionError:
        log.exception("could not divide")
    return "ok"
"""
LEVEL_WITH_TEXT = (
    'LogLevel is not supported when LogFormat is set to "Text". '
    'Remove LogLevel from your request or change the LogFormat to "Json" and try again.'
)


@pytest.fixture(scope="module")
def logs(server: Server) -> Any:
    return server.client("logs")


def messages(logs: Any, group: str) -> list[str]:
    found = logs.filter_log_events(logGroupName=group)["events"]
    return [event["message"] for event in found]


def as_json(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines if line.startswith("{")]


def test_json_format_turns_records_and_platform_lines_into_awss_json(lam: Any, logs: Any) -> None:
    created = create_function(lam, "json-logs", {"app.py": LOGS}, LoggingConfig={"LogFormat": "JSON"})
    assert created["LoggingConfig"] == {
        "LogFormat": "JSON",
        "ApplicationLogLevel": "INFO",
        "SystemLogLevel": "INFO",
        "LogGroup": "/aws/lambda/json-logs",
    }
    request_id = lam.invoke(FunctionName="json-logs")["ResponseMetadata"]["RequestId"]
    lines = messages(logs, "/aws/lambda/json-logs")
    records = as_json(lines)
    types = [record.get("type") for record in records if "type" in record]
    assert types == ["platform.initStart", "platform.start", "platform.report"]  # runtimeDone is DEBUG
    start = next(r for r in records if r.get("type") == "platform.start")
    assert start["record"] == {"requestId": request_id, "version": "$LATEST"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", start["time"])
    report = next(r for r in records if r.get("type") == "platform.report")
    metrics = report["record"]["metrics"]
    assert report["record"]["status"] == "success" and report["record"]["requestId"] == request_id
    assert set(metrics) == {
        "durationMs",
        "billedDurationMs",
        "memorySizeMB",
        "maxMemoryUsedMB",
        "initDurationMs",
    }
    assert metrics["memorySizeMB"] == 128
    app = [r for r in records if "logger" in r]
    assert [(r["level"], r["message"]) for r in app] == [
        ("INFO", "took order 7"),
        ("WARNING", "stock low"),
        ("ERROR", "could not divide"),
    ]  # DEBUG is below the default INFO: filtered
    info = app[0]
    assert info["logger"] == "orders" and info["requestId"] == request_id and info["orderId"] == 7
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", info["timestamp"])
    error = app[2]
    assert error["errorType"] == "ZeroDivisionError" and error["errorMessage"] == "division by zero"
    assert isinstance(error["stackTrace"], list) and "1 / 0" in error["stackTrace"][-1]
    assert "plain print" in lines  # print is not a logging record: it stays text, level INFO
    assert not any(line.startswith(("START", "END", "REPORT", "INIT_START")) for line in lines)


def test_levels_filter_application_records_and_platform_events(lam: Any, logs: Any) -> None:
    config = {"LogFormat": "JSON", "ApplicationLogLevel": "WARN", "SystemLogLevel": "DEBUG"}
    create_function(lam, "json-levels", {"app.py": LOGS}, LoggingConfig=config)
    lam.invoke(FunctionName="json-levels")
    lines = messages(logs, "/aws/lambda/json-levels")
    records = as_json(lines)
    assert [r["level"] for r in records if "logger" in r] == ["WARNING", "ERROR"]
    assert "plain print" not in lines  # INFO, below WARN
    types = [r["type"] for r in records if "type" in r]
    assert types == ["platform.initStart", "platform.start", "platform.runtimeDone", "platform.report"]
    lam.update_function_configuration(
        FunctionName="json-levels", LoggingConfig={"ApplicationLogLevel": "DEBUG", "SystemLogLevel": "WARN"}
    )
    lam.get_waiter("function_updated_v2").wait(FunctionName="json-levels", WaiterConfig={"Delay": 0.1})
    before = len(lines)
    lam.invoke(FunctionName="json-levels")
    newer = messages(logs, "/aws/lambda/json-levels")[before:]
    assert not [r for r in as_json(newer) if "type" in r]  # WARN hides start and report
    assert "debug detail" in [r.get("message") for r in as_json(newer)]


def test_a_custom_log_group_receives_the_functions_logs(lam: Any, logs: Any) -> None:
    code = (
        "import os\n"
        "def handler(event, context):\n"
        "    print('to my group')\n"
        "    return os.environ['AWS_LAMBDA_LOG_GROUP_NAME']\n"
    )
    created = create_function(lam, "grouped", {"app.py": code}, LoggingConfig={"LogGroup": "cool_lambda"})
    assert created["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": "cool_lambda"}
    assert json.loads(lam.invoke(FunctionName="grouped")["Payload"].read()) == "cool_lambda"
    lines = messages(logs, "cool_lambda")
    assert "to my group" in lines and any(line.startswith("REPORT RequestId:") for line in lines)
    names = [g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePrefix="cool")["logGroups"]]
    assert names == ["cool_lambda"]


def test_configs_are_stored_as_given_and_text_drops_the_levels(lam: Any) -> None:
    create_function(lam, "switches", {"app.py": "def handler(e, c):\n    return 1\n"})
    got = lam.get_function_configuration(FunctionName="switches")
    assert got["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": "/aws/lambda/switches"}
    assert got["TracingConfig"] == {"Mode": "PassThrough"}
    lam.update_function_configuration(
        FunctionName="switches", LoggingConfig={"LogFormat": "JSON", "ApplicationLogLevel": "DEBUG"}
    )
    lam.get_waiter("function_updated_v2").wait(FunctionName="switches", WaiterConfig={"Delay": 0.1})
    assert lam.get_function(FunctionName="switches")["Configuration"]["LoggingConfig"] == {
        "LogFormat": "JSON",
        "ApplicationLogLevel": "DEBUG",
        "SystemLogLevel": "INFO",
        "LogGroup": "/aws/lambda/switches",
    }
    updated = lam.update_function_configuration(FunctionName="switches", LoggingConfig={"LogFormat": "Text"})
    assert updated["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": "/aws/lambda/switches"}


def test_a_level_with_the_text_format_is_refused_with_awss_message(lam: Any) -> None:
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as err:
        create_function(
            lam, "text-level", {"app.py": "x = 1\n"}, LoggingConfig={"ApplicationLogLevel": "DEBUG"}
        )
    assert err.value.response["Error"]["Message"] == LEVEL_WITH_TEXT
    create_function(lam, "text-level", {"app.py": "x = 1\n"})
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as err:
        lam.update_function_configuration(
            FunctionName="text-level", LoggingConfig={"LogFormat": "Text", "SystemLogLevel": "WARN"}
        )
    assert err.value.response["Error"]["Message"] == LEVEL_WITH_TEXT
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.update_function_configuration(FunctionName="text-level", LoggingConfig={"SystemLogLevel": "WARN"})
    assert lam.get_function_configuration(FunctionName="text-level")["LoggingConfig"]["LogFormat"] == "Text"


ENV = """
import os
def handler(event, context):
    names = ("PATH", "LD_LIBRARY_PATH", "LAMBDA_RUNTIME_DIR", "LAMBDA_TASK_ROOT", "_X_AMZN_TRACE_ID",
             "AWS_XRAY_DAEMON_ADDRESS", "_AWS_XRAY_DAEMON_ADDRESS", "_AWS_XRAY_DAEMON_PORT",
             "AWS_XRAY_CONTEXT_MISSING", "AWS_LAMBDA_LOG_FORMAT", "AWS_LAMBDA_LOG_LEVEL")
    return {name: os.environ.get(name) for name in names}
"""


def test_active_tracing_sets_the_xray_variables_and_a_sampled_header(lam: Any) -> None:
    created = create_function(lam, "traced", {"app.py": ENV}, TracingConfig={"Mode": "Active"})
    assert created["TracingConfig"] == {"Mode": "Active"}
    env = json.loads(lam.invoke(FunctionName="traced")["Payload"].read())
    assert re.fullmatch(
        r"Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=1;Lineage=[0-9a-f]{8}:[0-9]+",
        env["_X_AMZN_TRACE_ID"],
    )
    assert env["AWS_XRAY_DAEMON_ADDRESS"] == "127.0.0.1:2000"
    assert (env["_AWS_XRAY_DAEMON_ADDRESS"], env["_AWS_XRAY_DAEMON_PORT"]) == ("127.0.0.1", "2000")
    assert env["AWS_XRAY_CONTEXT_MISSING"] == "LOG_ERROR"
    assert env["PATH"].startswith("/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin")
    assert env["LD_LIBRARY_PATH"] == (
        "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib"
    )
    assert (env["LAMBDA_TASK_ROOT"], env["LAMBDA_RUNTIME_DIR"]) == ("/var/task", "/var/runtime")
    assert env["AWS_LAMBDA_LOG_FORMAT"] is None
    lam.update_function_configuration(
        FunctionName="traced", TracingConfig={"Mode": "PassThrough"}, LoggingConfig={"LogFormat": "JSON"}
    )
    lam.get_waiter("function_updated_v2").wait(FunctionName="traced", WaiterConfig={"Delay": 0.1})
    env = json.loads(lam.invoke(FunctionName="traced")["Payload"].read())
    assert ";Sampled=0;" in env["_X_AMZN_TRACE_ID"] + ";" and env["AWS_XRAY_DAEMON_ADDRESS"] is None
    assert (env["AWS_LAMBDA_LOG_FORMAT"], env["AWS_LAMBDA_LOG_LEVEL"]) == ("JSON", "INFO")


def test_an_invocation_continues_the_callers_trace(lam: Any) -> None:
    """AWS keeps the Root of the caller's X-Amzn-Trace-Id (one trace across services) and
    its sampling decision; the Parent is the invocation's own."""
    create_function(lam, "trace-kept", {"app.py": ENV})
    caller = "Root=1-67891233-abcdef012345678912345678;Parent=53995c3f42cd8ad8;Sampled=1"

    def add_trace_header(request: Any, **_: Any) -> None:
        request.headers["X-Amzn-Trace-Id"] = caller

    lam.meta.events.register("before-sign.lambda.Invoke", add_trace_header)
    try:
        env = json.loads(lam.invoke(FunctionName="trace-kept")["Payload"].read())
    finally:
        lam.meta.events.unregister("before-sign.lambda.Invoke", add_trace_header)
    assert re.fullmatch(
        r"Root=1-67891233-abcdef012345678912345678;Parent=[0-9a-f]{16};Sampled=1;Lineage=[0-9a-f]{8}:1",
        env["_X_AMZN_TRACE_ID"],
    )
    assert "53995c3f42cd8ad8" not in env["_X_AMZN_TRACE_ID"]


@pytest.mark.skipif(shutil.which("node") is None, reason="no node on PATH")
def test_node_console_writes_awss_json_records(lam: Any, logs: Any) -> None:
    code = (
        "exports.handler = async () => {\n"
        "  console.debug('hidden');\n"
        "  console.info('hello', 42);\n"
        "  console.warn({ orderId: 7 });\n"
        "  console.error(new TypeError('bad input'));\n"
        "  return 1;\n"
        "};\n"
    )
    create_function(
        lam,
        "json-node",
        {"index.js": code},
        Runtime="nodejs20.x",
        Handler="index.handler",
        LoggingConfig={"LogFormat": "JSON"},
    )
    request_id = lam.invoke(FunctionName="json-node")["ResponseMetadata"]["RequestId"]
    records = [r for r in as_json(messages(logs, "/aws/lambda/json-node")) if "level" in r]
    assert [(r["level"], r["message"]) for r in records[:2]] == [
        ("INFO", "hello 42"),
        ("WARN", {"orderId": 7}),
    ]
    assert all(r["requestId"] == request_id for r in records)
    error = records[2]["message"]
    assert (records[2]["level"], error["errorType"], error["errorMessage"]) == (
        "ERROR",
        "TypeError",
        "bad input",
    )
    assert error["stackTrace"][0] == "TypeError: bad input"


def test_json_errors_and_timeouts_are_records_and_report_statuses(lam: Any, logs: Any) -> None:
    code = (
        "import time\n"
        "def handler(event, context):\n"
        "    if event.get('sleep'):\n"
        "        time.sleep(5)\n"
        "    raise KeyError('missing')\n"
    )
    create_function(lam, "json-fails", {"app.py": code}, Timeout=1, LoggingConfig={"LogFormat": "JSON"})
    failed = lam.invoke(FunctionName="json-fails", Payload=b"{}")
    assert failed["FunctionError"] == "Unhandled"
    timed_out = lam.invoke(FunctionName="json-fails", Payload=b'{"sleep": true}')
    assert timed_out["FunctionError"] == "Unhandled"
    records = as_json(messages(logs, "/aws/lambda/json-fails"))
    (error,) = [r for r in records if r.get("errorType") == "KeyError"]
    assert (error["level"], error["errorMessage"], error["requestId"]) == (
        "ERROR",
        "'missing'",
        failed["ResponseMetadata"]["RequestId"],
    )
    assert isinstance(error["stackTrace"], list) and "raise KeyError" in error["stackTrace"][-1]
    reports = [r["record"] for r in records if r.get("type") == "platform.report"]
    assert [(r["status"], r.get("errorType")) for r in reports] == [
        ("error", None),
        ("timeout", "Sandbox.Timedout"),
    ]
    assert reports[1]["metrics"]["durationMs"] == 1000.0


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"LoggingConfig": {"LogFormat": "XML"}},
            "1 validation error detected: Value 'XML' at 'loggingConfig.logFormat' failed to satisfy "
            "constraint: Member must satisfy enum value set: [JSON, Text]",
        ),
        (
            {"LoggingConfig": {"LogGroup": "bad group!"}},
            "1 validation error detected: Value 'bad group!' at 'loggingConfig.logGroup' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+",
        ),
        (
            {"TracingConfig": {"Mode": "On"}},
            "1 validation error detected: Value 'On' at 'tracingConfig.mode' failed to satisfy "
            "constraint: Member must satisfy enum value set: [Active, PassThrough]",
        ),
    ],
)
def test_invalid_logging_and_tracing_values_get_awss_validation_errors(
    lam: Any, config: dict[str, Any], message: str
) -> None:
    if "invalid-config" not in [f["FunctionName"] for f in lam.list_functions()["Functions"]]:
        create_function(lam, "invalid-config", {"app.py": "x = 1\n"})
    with pytest.raises(lam.exceptions.ClientError) as err:
        lam.update_function_configuration(FunctionName="invalid-config", **config)
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert err.value.response["Error"]["Message"] == message
    got = lam.get_function_configuration(FunctionName="invalid-config")
    assert (got["LoggingConfig"]["LogFormat"], got["TracingConfig"]["Mode"]) == ("Text", "PassThrough")
