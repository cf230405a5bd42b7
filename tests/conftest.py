"""Shared fixtures: a real `lambdalite serve` on a free port, and boto3 clients for it."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

REGION = "us-east-1"
ACCOUNT = "000000000000"
ARN_PREFIX = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/lambda-role"


def service_missing(what: str, problem: object) -> NoReturn:
    """A loopback service a test needs (NATS, Redis, RabbitMQ...) is not there: a failure
    when LAMBDALITE_REQUIRE_SERVICES=1 (as .ci/run sets it), a skip otherwise."""
    if os.environ.get("LAMBDALITE_REQUIRE_SERVICES") == "1":
        pytest.fail(f"LAMBDALITE_REQUIRE_SERVICES=1 but {what} is not reachable: {problem}")
    pytest.skip(f"no {what}: {problem}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    endpoint: str
    port: int
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    def client(self, service: str = "lambda", **config: Any) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(retries={"mode": "standard", "total_max_attempts": 1}, read_timeout=120, **config),
        )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


READY_LINE = "lambdalite listening on"
"""The server's last start-up line."""


def open_to_sandboxes(data_dir: Path) -> Path:
    """``data_dir``, with its parents below the temporary directory (pytest's are
    0700) opened to others: as root, the process level runs functions as uids of
    their own, and refuses one rather than run it as root when they cannot reach
    its code."""
    for directory in data_dir.parents:
        if not str(directory).startswith(tempfile.gettempdir() + "/"):
            break
        if directory.exists() and directory.stat().st_uid == os.geteuid():
            directory.chmod(directory.stat().st_mode | 0o055)
    return data_dir


def start_server(
    data_dir: Path,
    *extra: str,
    env: dict[str, str] | None = None,
    preexec_fn: Callable[[], None] | None = None,
) -> Server:
    """Start `lambdalite serve` and wait until it accepts connections and has printed
    its start-up lines (the ready line comes last; ``preexec_fn`` runs in the child
    before exec, e.g. to lower its limits)."""
    port = free_port()
    log_path = data_dir.parent / f"server-{port}.log"
    log = open(log_path, "wb")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lambdalite",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
            *extra,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
        preexec_fn=preexec_fn,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log_path.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                pass
        except OSError:
            time.sleep(0.05)
            continue
        if READY_LINE in log_path.read_text(errors="replace"):
            break
        time.sleep(0.01)
    else:
        process.kill()
        raise RuntimeError(f"server did not start:\n{log_path.read_text()}")
    return Server(endpoint, port, data_dir, process, log_path)


def stop_server(server: Server) -> int:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
    return server.process.returncode


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("lambdalite") / "data"
    srv = start_server(data_dir, env={"LAMBDALITE_KEEP_ALIVE_S": "60"})
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def lam(server: Server) -> Any:
    return server.client("lambda")


def zip_files(files: dict[str, str | bytes], modes: dict[str, int] | None = None) -> bytes:
    """A zip of the given files; ``modes`` sets unix permissions (e.g. 0o755 for a bootstrap)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.external_attr = ((modes or {}).get(name, 0o644) | 0o100000) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, content)
    return buffer.getvalue()


def create_function(lam: Any, name: str, files: dict[str, str | bytes], **kwargs: Any) -> dict[str, Any]:
    """Create a function and wait until it is Active."""
    params: dict[str, Any] = {
        "FunctionName": name,
        "Runtime": "python3.11",
        "Role": ROLE,
        "Handler": "app.handler",
        "Code": {"ZipFile": zip_files(files, kwargs.pop("modes", None))},
    }
    params.update(kwargs)
    response: dict[str, Any] = lam.create_function(**params)
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1})
    return response


def error_of(code: str, call: Callable[[], Any]) -> tuple[int, str]:
    """(HTTP status, message) of a call that must fail with AWS error ``code``."""
    with pytest.raises(ClientError) as err:
        call()
    response = err.value.response
    assert response["Error"]["Code"] == code
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Message"]
