"""Server lifecycle: restarts keep functions, shutdown leaves nothing behind,
idle environments expire, updates retire old environments, the node throttles."""

from __future__ import annotations

import json
import signal
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.conftest import create_function, start_server, stop_server

ENV_CODE = """
import os, time, uuid
# A token per environment: pids are not comparable across isolation levels.
ENVIRONMENT = uuid.uuid4().hex
def handler(event, context):
    time.sleep(event.get('sleep', 0))
    return {'env': ENVIRONMENT, 'v': os.environ.get("VAL")}
"""


def call(lam: Any, name: str, payload: Any = None) -> Any:
    response = lam.invoke(FunctionName=name, Payload=json.dumps(payload or {}).encode())
    return json.loads(response["Payload"].read())


def runtime_children(pid: int) -> list[psutil.Process]:
    return psutil.Process(pid).children(recursive=True)


def environment_pids(server_pid: int) -> set[int]:
    """Host pids of every environment's processes: the server's descendants,
    less the zygotes (long-lived, shared by all environments of an interpreter)."""
    zygotes = set()
    for child in psutil.Process(server_pid).children():
        try:
            if "_zygote_main" in " ".join(child.cmdline()):
                zygotes.add(child.pid)
        except psutil.Error:
            continue
    return {process.pid for process in runtime_children(server_pid)} - zygotes


def wait_until_gone(pids: set[int], timeout_s: float) -> set[int]:
    """The pids of ``pids`` still alive (zombies count as gone) after waiting."""
    deadline = time.monotonic() + timeout_s
    while True:
        alive = set()
        for pid in pids:
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    alive.add(pid)
            except psutil.NoSuchProcess:
                continue
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


def test_restart_keeps_functions_and_code(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_server(data)
    try:
        lam = server.client()
        create_function(lam, "keep-me", {"app.py": ENV_CODE}, Environment={"Variables": {"VAL": "kept"}})
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
    create_function(lam, "slow", {"app.py": ENV_CODE}, Timeout=10)
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
    assert "env" in result["body"], "the in-flight invocation finished before shutdown"
    _gone, alive = psutil.wait_procs(runtimes, timeout=5)
    assert not alive, f"runtime processes survived shutdown: {alive}"
    assert "lambdalite stopped" in server.output()


def test_idle_environments_stop_after_keep_alive(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", "--keep-alive", "1")
    try:
        lam = server.client()
        create_function(lam, "idle", {"app.py": ENV_CODE})
        first = call(lam, "idle")["env"]
        environment = environment_pids(server.process.pid)
        assert environment
        assert not wait_until_gone(environment, timeout_s=10)
        assert call(lam, "idle")["env"] != first
    finally:
        stop_server(server)


def test_new_configuration_gets_a_new_environment_and_the_old_one_stops(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data")
    try:
        lam = server.client()
        create_function(lam, "retire", {"app.py": ENV_CODE}, Environment={"Variables": {"VAL": "one"}})
        first = call(lam, "retire")
        assert first["v"] == "one"
        old_environment = environment_pids(server.process.pid)
        assert old_environment
        lam.update_function_configuration(FunctionName="retire", Environment={"Variables": {"VAL": "two"}})
        lam.get_waiter("function_updated_v2").wait(FunctionName="retire", WaiterConfig={"Delay": 1})
        second = call(lam, "retire")
        assert second["v"] == "two"
        assert second["env"] != first["env"]
        assert not wait_until_gone(old_environment, timeout_s=5)
    finally:
        stop_server(server)


def test_beyond_the_concurrency_limit_invokes_get_429(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", "--max-concurrency", "2")
    try:
        lam = server.client()
        create_function(lam, "busy", {"app.py": ENV_CODE}, Timeout=10)
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
        assert "env" in call(lam, "busy")
    finally:
        stop_server(server)


def test_a_timed_out_invocation_leaves_no_background_process(lam: Any) -> None:
    # The background process carries a marker in its argv, so the host can find
    # it whatever pid namespace it was started in.
    marker = f"lambdalite-orphan-{uuid.uuid4().hex}"
    code = f"""
import subprocess, sys, time
def handler(event, context):
    subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)', {marker!r}])
    time.sleep(30)
"""
    create_function(lam, "orphan", {"app.py": code}, Timeout=1)
    body = call(lam, "orphan")
    assert body["errorType"] == "Sandbox.Timedout"

    def orphans() -> set[int]:
        found = set()
        for process in psutil.process_iter(["cmdline"]):
            if marker in (process.info["cmdline"] or []):
                found.add(process.pid)
        return found

    assert not wait_until_gone(orphans(), timeout_s=5)
