"""The `lambdalite` command line against a real server: output, exit codes, and one-line errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
import zipfile
from io import BytesIO
from pathlib import Path
from typing import Any

import orjson
import pytest

from lambdalite.cli import package
from tests.conftest import ARN_PREFIX, Server, create_function, free_port, zip_files

ROOT = Path(__file__).resolve().parents[2]
HELLO = ROOT / "examples" / "hello"


def lambdalite(server: Server | str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    endpoint = server if isinstance(server, str) else server.endpoint
    return subprocess.run(
        [sys.executable, "-m", "lambdalite", *args, "--endpoint", endpoint],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "NO_COLOR": "1"},
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    for fragment in fragments:
        assert fragment in errors[0]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_deploy_creates_then_updates(server: Server, lam: Any) -> None:
    name = unique("hello")
    created = lambdalite(
        server, "deploy", str(HELLO), "--name", name, "--runtime", "python3.11", "--handler", "app.handler"
    )
    assert created.returncode == 0, created.stderr
    assert f"created {name}" in created.stdout and "Active" in created.stdout
    assert f"{ARN_PREFIX}{name}" in created.stdout

    updated = lambdalite(
        server,
        *("deploy", str(HELLO), "--name", name, "--runtime", "python3.11", "--handler", "app.handler"),
        *("--memory", "256", "--timeout", "10", "--env", "GREETING=hi", "--env", "EQ=a=b"),
    )
    assert updated.returncode == 0, updated.stderr
    assert f"updated {name}" in updated.stdout
    config = lam.get_function_configuration(FunctionName=name)
    assert (config["MemorySize"], config["Timeout"]) == (256, 10)
    assert config["Environment"]["Variables"] == {"GREETING": "hi", "EQ": "a=b"}


def test_deploy_takes_a_zip_file(server: Server, lam: Any, tmp_path: Path) -> None:
    name = unique("zipped")
    archive = tmp_path / "code.zip"
    archive.write_bytes(zip_files({"app.py": "def handler(event, context):\n    return 'zipped'\n"}))
    result = lambdalite(
        server, "deploy", str(archive), "--name", name, "--runtime", "python3.11", "--handler", "app.handler"
    )
    assert result.returncode == 0, result.stderr
    assert lam.invoke(FunctionName=name)["Payload"].read() == b'"zipped"'


def test_deploy_errors_are_one_line(server: Server, tmp_path: Path) -> None:
    missing = lambdalite(
        server, "deploy", str(tmp_path / "nope"), "--name", "x", "--runtime", "python3.11", "--handler", "a.b"
    )
    assert_one_line_error(missing, "does not exist")
    bad_env = lambdalite(
        server,
        "deploy",
        str(HELLO),
        "--name",
        "x",
        "--runtime",
        "python3.11",
        "--handler",
        "a.b",
        "--env",
        "NOEQ",
    )
    assert_one_line_error(bad_env, "KEY=VALUE")
    bad_runtime = lambdalite(
        server, "deploy", str(HELLO), "--name", unique("bad"), "--runtime", "cobol85", "--handler", "a.b"
    )
    assert_one_line_error(bad_runtime, "InvalidParameterValueException")


def test_package_keeps_modes_and_skips_bytecode(tmp_path: Path) -> None:
    (tmp_path / "bootstrap").write_text("#!/bin/sh\n")
    (tmp_path / "bootstrap").chmod(0o755)
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "mod.py").write_text("X = 1\n")
    (tmp_path / "lib" / "__pycache__").mkdir()
    (tmp_path / "lib" / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"\0")
    with zipfile.ZipFile(BytesIO(package(tmp_path))) as archive:
        assert sorted(archive.namelist()) == ["bootstrap", "lib/mod.py"]
        assert (archive.getinfo("bootstrap").external_attr >> 16) & 0o777 == 0o755


def test_invoke_prints_the_response_and_the_log_tail(server: Server) -> None:
    name = unique("hello")
    lambdalite(
        server, "deploy", str(HELLO), "--name", name, "--runtime", "python3.11", "--handler", "app.handler"
    )
    result = lambdalite(server, "invoke", name, "--payload", '{"name": "you"}', "--tail")
    assert result.returncode == 0, result.stderr
    response = orjson.loads(result.stdout)
    assert response["message"] == "Hello, you!" and response["function"] == name
    assert "START RequestId:" in result.stderr and "REPORT RequestId:" in result.stderr
    assert "greeting you" in result.stderr


def test_invoke_reads_the_payload_from_a_file(server: Server, lam: Any, tmp_path: Path) -> None:
    name = unique("echo")
    create_function(lam, name, {"app.py": "def handler(event, context):\n    return event\n"})
    event = tmp_path / "event.json"
    event.write_text('{"from": "file"}')
    result = lambdalite(server, "invoke", name, "--payload", f"@{event}")
    assert result.returncode == 0, result.stderr
    assert orjson.loads(result.stdout) == {"from": "file"}


def test_a_function_error_exits_1_and_shows_the_error(server: Server, lam: Any) -> None:
    name = unique("boom")
    create_function(lam, name, {"app.py": "def handler(event, context):\n    raise ValueError('kaputt')\n"})
    result = lambdalite(server, "invoke", name)
    assert_one_line_error(result, "Unhandled", "ValueError", "kaputt")


def test_invoke_errors_are_one_line(server: Server, tmp_path: Path) -> None:
    assert_one_line_error(
        lambdalite(server, "invoke", "no-such-function"),
        "ResourceNotFoundException",
        f"Function not found: {ARN_PREFIX}no-such-function",
    )
    assert_one_line_error(
        lambdalite(server, "invoke", "x", "--payload", "{not json"), "payload is not valid JSON"
    )
    assert_one_line_error(
        lambdalite(server, "invoke", "x", "--payload", f"@{tmp_path / 'none.json'}"), "cannot read"
    )


def test_ls_lists_functions(server: Server, lam: Any) -> None:
    name = unique("listed")
    create_function(lam, name, {"app.py": "def handler(e, c):\n    return 1\n"}, MemorySize=512)
    result = lambdalite(server, "ls")
    assert result.returncode == 0, result.stderr
    (row,) = [line for line in result.stdout.splitlines() if name in line]
    assert "python3.11" in row and "512 MB" in row and "3 s" in row


def test_rm_deletes_and_a_missing_function_is_an_error(server: Server, lam: Any) -> None:
    name = unique("doomed")
    create_function(lam, name, {"app.py": "def handler(e, c):\n    return 1\n"})
    result = lambdalite(server, "rm", name)
    assert result.returncode == 0, result.stderr
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName=name)
    assert_one_line_error(lambdalite(server, "rm", name), "ResourceNotFoundException")


def test_logs_prints_the_functions_log_lines(server: Server, lam: Any) -> None:
    name = unique("logged")
    create_function(
        lam, name, {"app.py": "def handler(e, c):\n    print('hello from', e['who'])\n    return 1\n"}
    )
    request_id = lam.invoke(FunctionName=name, Payload=b'{"who": "the test"}')["ResponseMetadata"][
        "RequestId"
    ]
    time.sleep(0.5)  # the server flushes logs every ~200 ms
    result = lambdalite(server, "logs", name, "--since", "5m")
    assert result.returncode == 0, result.stderr
    assert f"START RequestId: {request_id}" in result.stdout
    assert "hello from the test" in result.stdout
    assert f"REPORT RequestId: {request_id}" in result.stdout
    assert_one_line_error(lambdalite(server, "logs", unique("never-ran")), "does not exist")
    assert_one_line_error(lambdalite(server, "logs", name, "--since", "yesterday-ish"), "--since")


def test_logs_filter_takes_awss_filter_patterns(server: Server, lam: Any) -> None:
    name = unique("filtered")
    code = "import json\ndef handler(e, c):\n    print(json.dumps(e))\n    return 1\n"
    create_function(lam, name, {"app.py": code})
    for level, latency in (("ERROR", 50), ("INFO", 500), ("ERROR", 900)):
        lam.invoke(FunctionName=name, Payload=orjson.dumps({"level": level, "latency": latency}))
    time.sleep(0.5)  # the server flushes logs every ~200 ms
    result = lambdalite(server, "logs", name, "--filter", '{ $.level = "ERROR" && $.latency > 100 }')
    assert result.returncode == 0, result.stderr
    assert [line.split(" ", 2)[2] for line in result.stdout.splitlines()] == [
        '{"level": "ERROR", "latency": 900}'
    ]
    assert_one_line_error(
        lambdalite(server, "logs", name, "--filter", "{ $.level = "),
        "InvalidParameterException: If a filter pattern starts with '{' it must end with '}'",
    )


def test_logs_follow_prints_each_event_once(server: Server, lam: Any) -> None:
    name = unique("followed")
    create_function(lam, name, {"app.py": "def handler(e, c):\n    print('event', e['n'])\n    return 1\n"})
    follower = subprocess.Popen(
        [sys.executable, "-m", "lambdalite", "logs", name, "--follow", "--endpoint", server.endpoint],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    try:
        for n in range(3):
            lam.invoke(FunctionName=name, Payload=orjson.dumps({"n": n}))
            time.sleep(0.4)
        time.sleep(1.5)  # at least two more polls, which must not repeat anything
    finally:
        follower.send_signal(signal.SIGINT)
        stdout, stderr = follower.communicate(timeout=20)
    assert "Traceback" not in stderr
    for n in range(3):
        assert stdout.count(f"event {n}\n") == 1, stdout
    assert stdout.count("START RequestId:") == 3


def test_an_unreachable_server_is_one_line_for_every_command() -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    for args in (["ls"], ["invoke", "x"], ["rm", "x"], ["logs", "x"]):
        assert_one_line_error(lambdalite(endpoint, *args), f"cannot reach lambdalite at {endpoint}")


def doctor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lambdalite", "doctor", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "NO_COLOR": "1"},
    )


def test_doctor_names_the_level_serve_chose_and_what_it_protects(server: Server) -> None:
    result = doctor()
    assert result.returncode == 0, result.stderr
    [level_line] = [line for line in result.stdout.splitlines() if line.startswith("isolation level: ")]
    level = level_line.split()[2]
    assert f"isolation: {level}," in server.output()  # probed the way serve builds its sandbox
    assert f"\n{level} level protects: " in result.stdout
    assert f"\n{level} level does not protect: " in result.stdout or "level not as root" in result.stdout


def test_doctor_at_process_level_says_what_is_left_unprotected() -> None:
    result = doctor("--isolation", "process")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "isolation level: process (namespace level turned off by configuration)"
    assert any(line.startswith("process level protects: own session and process group") for line in lines)
    if os.geteuid() == 0:
        assert any(
            line.startswith("process level as root: each environment has its own uid") for line in lines
        )
        assert any(line.startswith("process level does not protect: ") for line in lines)
    else:
        [limit] = [line for line in lines if line.startswith("process level not as root: ")]
        assert "signal or trace the server" in limit


def test_doctor_refuses_an_unknown_level() -> None:
    result = doctor("--isolation", "vm")
    assert result.returncode == 1
    assert result.stderr.strip() == "error: unknown isolation level 'vm': use process, namespace or auto"
