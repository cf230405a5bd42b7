"""Server lifecycle: restarts keep functions, shutdown leaves nothing behind,
idle environments expire, updates retire old environments, the node throttles."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.conftest import create_function, start_server, stop_server

PID_CODE = """
import os, time
def handler(event, context):
    time.sleep(event.get('sleep', 0))
    return {'pid': os.getpid(), 'v': os.environ.get("VAL")}
"""


def call(lam: Any, name: str, payload: Any = None) -> Any:
    response = lam.invoke(FunctionName=name, Payload=json.dumps(payload or {}).encode())
    return json.loads(response["Payload"].read())


def runtime_children(pid: int) -> list[psutil.Process]:
    return psutil.Process(pid).children(recursive=True)


def test_restart_keeps_functions_and_code(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_server(data)
    try:
        lam = server.client()
        create_function(lam, "keep-me", {"app.py": PID_CODE}, Environment={"Variables": {"VAL": "kept"}})
        before = lam.get_function_configuration(FunctionName="keep-me")
    finally:
        assert stop_server(server) == 0
    server = start_server(data)
    try:
        lam = server.client()
        after = lam.get_function_configuration(FunctionName="keep-me")
        assert after == {**after, "RevisionId": before["RevisionId"], "CodeSha256": before["CodeSha256"]}
        assert call(lam, "keep-me")["v"] == "kept"
    finally:
        stop_server(server)


def test_sigterm_finishes_in_flight_invocations_and_leaves_no_process(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data")
    lam = server.client()
    create_function(lam, "slow", {"app.py": PID_CODE}, Timeout=10)
    call(lam, "slow")
    runtimes = runtime_children(server.process.pid)
    assert runtimes
    result: dict[str, Any] = {}

    def in_flight() -> None:
        result["body"] = call(lam, "slow", {"sleep": 1.0})

    thread = threading.Thread(target=in_flight)
    thread.start()
    time.sleep(0.3)
    server.process.send_signal(signal.SIGTERM)
    thread.join(timeout=20)
    assert server.process.wait(timeout=20) == 0
    assert "pid" in result["body"], "the in-flight invocation finished before shutdown"
    _gone, alive = psutil.wait_procs(runtimes, timeout=5)
    assert not alive, f"runtime processes survived shutdown: {alive}"
    assert "lambdalite stopped" in server.output()


def test_idle_environments_stop_after_keep_alive(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", "--keep-alive", "1")
    try:
        lam = server.client()
        create_function(lam, "idle", {"app.py": PID_CODE})
        pid = call(lam, "idle")["pid"]
        assert psutil.pid_exists(pid)
        deadline = time.monotonic() + 10
        while psutil.pid_exists(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not psutil.pid_exists(pid)
        assert call(lam, "idle")["pid"] != pid
    finally:
        stop_server(server)


def test_new_configuration_gets_a_new_environment_and_the_old_one_stops(lam: Any) -> None:
    create_function(lam, "retire", {"app.py": PID_CODE}, Environment={"Variables": {"VAL": "one"}})
    first = call(lam, "retire")
    assert first["v"] == "one"
    lam.update_function_configuration(FunctionName="retire", Environment={"Variables": {"VAL": "two"}})
    lam.get_waiter("function_updated_v2").wait(FunctionName="retire", WaiterConfig={"Delay": 1})
    second = call(lam, "retire")
    assert second["v"] == "two"
    assert second["pid"] != first["pid"]
    deadline = time.monotonic() + 5
    while psutil.pid_exists(first["pid"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not psutil.pid_exists(first["pid"])


def test_beyond_the_concurrency_limit_invokes_get_429(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", "--max-concurrency", "2")
    try:
        lam = server.client()
        create_function(lam, "busy", {"app.py": PID_CODE}, Timeout=10)
        threads = [threading.Thread(target=call, args=(lam, "busy", {"sleep": 1.5})) for _ in range(2)]
        for thread in threads:
            thread.start()
        time.sleep(0.8)
        with pytest.raises(lam.exceptions.TooManyRequestsException) as err:
            call(lam, "busy")
        assert err.value.response["Error"]["Message"] == "Rate Exceeded."
        assert err.value.response["Reason"] == "ConcurrentInvocationLimitExceeded"
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
        for thread in threads:
            thread.join()
        assert "pid" in call(lam, "busy")
    finally:
        stop_server(server)


def test_a_timed_out_invocation_leaves_no_background_process(lam: Any, tmp_path: Path) -> None:
    marker = tmp_path / "child.pid"
    code = f"""
import subprocess, sys, time
def handler(event, context):
    child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])
    open({str(marker)!r}, 'w').write(str(child.pid))
    time.sleep(30)
"""
    create_function(lam, "orphan", {"app.py": code}, Timeout=1)
    body = call(lam, "orphan")
    assert body["errorType"] == "Sandbox.Timedout"
    child = int(marker.read_text())
    deadline = time.monotonic() + 5
    while psutil.pid_exists(child) and time.monotonic() < deadline:
        try:
            if psutil.Process(child).status() == psutil.STATUS_ZOMBIE:
                break
        except psutil.NoSuchProcess:
            break
        time.sleep(0.1)
    assert not psutil.pid_exists(child) or psutil.Process(child).status() == psutil.STATUS_ZOMBIE
    assert os.path.exists(marker)
