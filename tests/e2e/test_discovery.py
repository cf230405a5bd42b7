"""The CLI finds a local server on any port without --endpoint, through the records
`lambdalite serve` leaves; a clean stop removes them and a killed server's are ignored."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from lambdalite import discovery
from tests.conftest import start_server, stop_server


def cli(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lambdalite", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def await_records(*paths: Path) -> None:
    """The server writes its records just after it starts accepting connections, which is
    when ``start_server`` returns: wait for them briefly."""
    deadline = time.monotonic() + 10
    while not all(path.exists() for path in paths) and time.monotonic() < deadline:
        time.sleep(0.02)


def client_env(runtime: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"LAMBDALITE_ENDPOINT", "LAMBDALITE_DATA_DIR"}}
    return {**env, "XDG_RUNTIME_DIR": str(runtime), "NO_COLOR": "1"}


def test_the_cli_finds_a_server_on_a_non_default_port_and_forgets_it_at_a_clean_stop(tmp_path: Path) -> None:
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    project = tmp_path / "project"
    project.mkdir()
    server = start_server(project / "data", env={"XDG_RUNTIME_DIR": str(runtime)})
    try:
        records = [project / "data" / "server.json", runtime / "lambdalite" / "server.json"]
        await_records(*records)
        for record in records:
            found = discovery.read(record)
            assert found is not None and found.endpoint == server.endpoint and found.pid == server.process.pid
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        other_runtime = tmp_path / "other-run"
        other_runtime.mkdir(mode=0o700)
        # From the project directory: ./data's record (the per-user one is someone else's).
        result = cli("ls", cwd=project, env=client_env(other_runtime))
        assert result.returncode == 0, result.stderr
        assert "no functions yet" in result.stderr
        # From anywhere: the per-user record.
        result = cli("ls", cwd=elsewhere, env=client_env(runtime))
        assert result.returncode == 0, result.stderr
        assert "no functions yet" in result.stderr
    finally:
        assert stop_server(server) == 0
    assert not any(record.exists() for record in records)


def test_a_killed_servers_record_is_ignored(tmp_path: Path) -> None:
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    server = start_server(tmp_path / "data", env={"XDG_RUNTIME_DIR": str(runtime)})
    env = {"XDG_RUNTIME_DIR": str(runtime), "LAMBDALITE_DATA_DIR": str(tmp_path / "data")}
    await_records(tmp_path / "data" / "server.json", runtime / "lambdalite" / "server.json")
    assert discovery.find(env) == server.endpoint
    server.process.send_signal(signal.SIGKILL)
    server.process.wait()
    stop_server(server)
    assert (runtime / "lambdalite" / "server.json").exists()  # nothing removed it ...
    assert discovery.find(env) is None  # ... but its server is gone
