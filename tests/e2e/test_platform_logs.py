"""The log stream as AWS writes it, read back through the Logs API: a runtime's
multi-line record is one event, INIT_START names the runtime version, and a
timeout bills exactly the timeout."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from typing import Any

import pytest

from lambdalite.runtimes.lookup import python_interpreters
from tests.conftest import Server, create_function

RAISES = """
import logging
def handler(event, context):
    print("first\\nsecond")
    logging.getLogger().error("two\\nlines")
    raise ValueError("boom")
"""


@pytest.fixture(scope="module")
def logs(server: Server) -> Any:
    return server.client("logs")


def events_of(logs: Any, name: str) -> list[str]:
    group = f"/aws/lambda/{name}"
    streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert len(streams) == 1
    events = logs.get_log_events(
        logGroupName=group, logStreamName=streams[0]["logStreamName"], startFromHead=True
    )["events"]
    return [event["message"] for event in events]


def test_a_python_traceback_is_one_event_and_printed_lines_stay_apart(lam: Any, logs: Any) -> None:
    create_function(lam, "raises-py", {"app.py": RAISES})
    response = lam.invoke(FunctionName="raises-py", Payload=b"{}")
    assert response["FunctionError"] == "Unhandled"
    messages = events_of(logs, "raises-py")
    tracebacks = [m for m in messages if m.startswith("[ERROR] ValueError")]
    assert tracebacks == [
        "[ERROR] ValueError: boom\nTraceback (most recent call last):\n"
        '  File "/var/task/app.py", line 6, in handler\n    raise ValueError("boom")'
    ]
    assert "first" in messages and "second" in messages  # print: one event per line, as on AWS
    (record,) = [m for m in messages if m.startswith("[ERROR]\t")]
    assert re.fullmatch(r"\[ERROR\]\t\S+Z\t[0-9a-f-]{36}\ttwo\nlines", record)
    found = logs.filter_log_events(logGroupName="/aws/lambda/raises-py", filterPattern="Traceback")["events"]
    assert [event["message"] for event in found] == tracebacks


def test_the_function_does_not_see_the_platforms_framing_variable(lam: Any) -> None:
    code = "import os\ndef handler(event, ctx):\n    return [k for k in os.environ if 'LAMBDALITE' in k]\n"
    create_function(lam, "env-py", {"app.py": code})
    assert json.loads(lam.invoke(FunctionName="env-py")["Payload"].read()) == []


@pytest.mark.skipif(shutil.which("node") is None, reason="no node on PATH")
def test_a_node_error_record_is_one_event(lam: Any, logs: Any) -> None:
    code = (
        "exports.handler = async () => {\n"
        "  console.error('multi\\nline');\n"
        "  throw new TypeError('bad');\n"
        "};\n"
    )
    create_function(lam, "raises-node", {"index.js": code}, Runtime="nodejs20.x", Handler="index.handler")
    response = lam.invoke(FunctionName="raises-node", Payload=b"{}")
    assert response["FunctionError"] == "Unhandled"
    messages = events_of(logs, "raises-node")
    assert any(m.endswith("\tERROR\tmulti\nline") for m in messages), messages
    (invoke_error,) = [m for m in messages if "\tERROR\tInvoke Error \t" in m]
    assert json.loads(invoke_error.split("\t", 4)[4])["errorType"] == "TypeError"


def test_init_start_names_the_runtime_version_of_the_interpreter_used(lam: Any, logs: Any) -> None:
    interpreter = python_interpreters().get((3, 11))
    if interpreter is None:
        pytest.skip("python3.11 is not installed")
    create_function(lam, "version-py", {"app.py": "def handler(event, context):\n    return 1\n"})
    lam.invoke(FunctionName="version-py")
    first = events_of(logs, "version-py")[0]
    match = re.fullmatch(
        r"INIT_START Runtime Version: python:3\.11\.v(\d+)\t"
        r"Runtime Version ARN: arn:aws:lambda:us-east-1::runtime:([0-9a-f]{64})",
        first,
    )
    assert match is not None, first
    micro = subprocess.run(
        [str(interpreter), "-c", "import sys; print(sys.version_info[2])"], capture_output=True, text=True
    ).stdout.strip()
    assert match.group(1) == micro


def test_a_timeout_bills_exactly_the_timeout(lam: Any, logs: Any) -> None:
    code = "import time\ndef handler(event, context):\n    time.sleep(10)\n"
    create_function(lam, "slow-bill-py", {"app.py": code}, Timeout=2)
    response = lam.invoke(FunctionName="slow-bill-py")
    request_id = response["ResponseMetadata"]["RequestId"]
    assert response["FunctionError"] == "Unhandled"
    (report,) = [m for m in events_of(logs, "slow-bill-py") if m.startswith("REPORT")]
    assert report.startswith(
        f"REPORT RequestId: {request_id}\tDuration: 2000.00 ms\tBilled Duration: 2000 ms\t"
    )
    assert "\tStatus: timeout" in report, report
    # Measured before the kill: a Python runtime's resident memory, not what its cgroup kept.
    assert int(re.search(r"\tMax Memory Used: (\d+) MB", report).group(1)) >= 5, report  # type: ignore[union-attr]
