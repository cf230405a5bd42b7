"""Runtime versions: the matching interpreter when present, the nearest one with a
warning in the function's log otherwise, and a clear error in strict mode."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from lambdalite.runtimes.lookup import python_interpreters
from tests.conftest import create_function, start_server, stop_server

VERSION_CODE = "import sys\ndef handler(event, context):\n    return list(sys.version_info[:2])\n"
MISSING = next(
    (f"python3.{minor}" for minor in range(14, 8, -1) if (3, minor) not in python_interpreters()), None
)
needs_missing = pytest.mark.skipif(MISSING is None, reason="every python3.9-3.14 is installed here")


def log_messages(server: Any, name: str) -> list[str]:
    logs = server.client("logs")
    deadline = time.monotonic() + 5
    while True:
        try:
            events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
        except logs.exceptions.ResourceNotFoundException:
            events = []
        if events or time.monotonic() > deadline:
            return [event["message"] for event in events]
        time.sleep(0.2)


@pytest.mark.parametrize("minor", sorted(minor for major, minor in python_interpreters() if major == 3)[:2])
def test_installed_versions_run_on_their_own_interpreter(lam: Any, minor: int) -> None:
    create_function(lam, f"exact-py3{minor}", {"app.py": VERSION_CODE}, Runtime=f"python3.{minor}")
    body = json.loads(lam.invoke(FunctionName=f"exact-py3{minor}")["Payload"].read())
    assert body == [3, minor]


@needs_missing
def test_a_missing_version_runs_on_the_nearest_with_a_warning_in_the_log(server: Any, lam: Any) -> None:
    assert MISSING is not None
    create_function(lam, "nearest-py", {"app.py": VERSION_CODE}, Runtime=MISSING)
    response = lam.invoke(FunctionName="nearest-py")
    assert "FunctionError" not in response
    ran_on = json.loads(response["Payload"].read())
    assert ran_on[0] == 3 and f"python3.{ran_on[1]}" != MISSING
    assert any(
        f"{MISSING} is not installed here" in message for message in log_messages(server, "nearest-py")
    )


@needs_missing
def test_strict_runtimes_refuse_a_missing_interpreter(tmp_path: Path) -> None:
    assert MISSING is not None
    server = start_server(tmp_path / "data", "--strict-runtimes")
    try:
        lam = server.client()
        create_function(lam, "strict-py", {"app.py": VERSION_CODE}, Runtime=MISSING)
        response = lam.invoke(FunctionName="strict-py")
        body = json.loads(response["Payload"].read())
        assert response["FunctionError"] == "Unhandled"
        assert body["errorType"] == "Runtime.Unavailable"
        assert MISSING in body["errorMessage"]
    finally:
        stop_server(server)
