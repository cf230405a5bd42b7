"""Server records: written atomically, read back, stale ones told from live ones."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson

from lambdalite import discovery


def test_publish_find_and_withdraw(tmp_path: Path) -> None:
    env = {"XDG_RUNTIME_DIR": str(tmp_path / "run"), "LAMBDALITE_DATA_DIR": str(tmp_path / "data")}
    written = discovery.publish("http://127.0.0.1:9123", tmp_path / "data", env)
    assert written == [tmp_path / "data" / "server.json", tmp_path / "run" / "lambdalite" / "server.json"]
    assert (tmp_path / "run" / "lambdalite").stat().st_mode & 0o777 == 0o700
    assert discovery.find(env) == "http://127.0.0.1:9123"
    discovery.withdraw(written)
    assert not any(path.exists() for path in written)
    assert discovery.find(env) is None


def test_a_record_of_a_dead_or_reused_pid_is_stale(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    env = {"XDG_RUNTIME_DIR": str(tmp_path / "run"), "LAMBDALITE_DATA_DIR": str(tmp_path / "data")}
    (tmp_path / "data").mkdir()
    record = tmp_path / "data" / "server.json"
    record.write_bytes(orjson.dumps({"endpoint": "http://127.0.0.1:1", "pid": child.pid, "started": None}))
    assert discovery.find(env) is None
    # Our own pid, but a start time that is not ours: the pid was reused.
    record.write_bytes(orjson.dumps({"endpoint": "http://127.0.0.1:1", "pid": os.getpid(), "started": "1"}))
    assert discovery.find(env) is None
    started = discovery.process_start(os.getpid())
    record.write_bytes(
        orjson.dumps({"endpoint": "http://127.0.0.1:1", "pid": os.getpid(), "started": started})
    )
    assert discovery.find(env) == "http://127.0.0.1:1"
    record.write_bytes(b"{torn")
    assert discovery.find(env) is None


def test_withdraw_leaves_a_newer_servers_record(tmp_path: Path) -> None:
    env = {"XDG_RUNTIME_DIR": str(tmp_path / "run")}
    written = discovery.publish("http://127.0.0.1:9123", tmp_path / "data", env)
    written[1].write_bytes(orjson.dumps({"endpoint": "http://127.0.0.1:9124", "pid": 1, "started": None}))
    discovery.withdraw(written)
    assert not written[0].exists() and written[1].exists()


def test_a_runtime_directory_others_can_write_is_not_trusted(tmp_path: Path) -> None:
    shared = tmp_path / "run" / "lambdalite"
    shared.mkdir(parents=True)
    shared.chmod(0o777)
    env = {"XDG_RUNTIME_DIR": str(tmp_path / "run"), "LAMBDALITE_DATA_DIR": str(tmp_path / "data")}
    started = discovery.process_start(os.getpid())
    (shared / "server.json").write_bytes(
        orjson.dumps({"endpoint": "http://evil:1", "pid": os.getpid(), "started": started})
    )
    assert discovery.find(env) is None
    assert discovery.publish("http://127.0.0.1:9123", tmp_path / "data", env) == [
        tmp_path / "data" / "server.json"
    ]


def test_a_wildcard_bind_is_reached_through_loopback() -> None:
    assert discovery.client_endpoint("0.0.0.0", 9001) == "http://127.0.0.1:9001"
    assert discovery.client_endpoint("::", 9001) == "http://[::1]:9001"
    assert discovery.client_endpoint("10.1.2.3", 80) == "http://10.1.2.3:80"
