"""Servers the benchmark starts, and how it makes sure they all stop.

Each server runs in its own session (so its process group holds it and what it
forks) with stdout+stderr in a log file that nobody has to drain. ``stop()``
ends the group (SIGTERM, then SIGKILL after a grace period) and then every
process that was a descendant when stop() began, because some servers start
children in sessions of their own (lambdalite's environments do) which the
group signal does not reach. Only processes this benchmark started are touched,
by their pid.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import psutil

TERM_GRACE_S = 5.0
REPO = Path(__file__).resolve().parents[1]
READY_LINE = "lambdalite listening on"
"""What ``lambdalite serve`` prints once it accepts connections."""


class ServiceError(Exception):
    """A server did not start, or did not become ready in time."""


NETWORK_LINE = "network of functions:"
"""The start-up line that says what network the server gives functions."""


def network_of_functions(server_log: Path) -> str:
    """The network the server gives functions, as its start-up line says (a
    namespace of its own per environment, the host's, or none); "unknown" when
    the log has no such line."""
    for line in server_log.read_text(errors="replace").splitlines():
        if line.startswith(NETWORK_LINE):
            return line.removeprefix(NETWORK_LINE).strip()
    return "unknown"


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Service:
    """One server process started by the benchmark."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.log_path = log_path
        self._log = log_path.open("wb")
        try:
            self.process = subprocess.Popen(
                list(argv),
                cwd=cwd,
                env={**os.environ, **(env or {})},
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            self._log.close()
            raise ServiceError(f"{name}: cannot start {argv[0]}: {exc}") from exc

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_until(self, ready: Callable[[], bool], timeout_s: float, what: str) -> None:
        """Poll ``ready`` until it is true; fail early if the process exits."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServiceError(
                    f"{self.name} exited with {self.process.returncode} before {what}:\n{self.log_tail()}"
                )
            with contextlib.suppress(OSError):
                if ready():
                    return
            time.sleep(0.05)
        raise ServiceError(f"{self.name}: no {what} within {timeout_s:.0f} s:\n{self.log_tail()}")

    def wait_for_line(self, marker: str, timeout_s: float) -> None:
        self.wait_until(lambda: marker in self.log_path.read_text(errors="replace"), timeout_s, repr(marker))

    def descendants(self) -> list[psutil.Process]:
        try:
            children: list[psutil.Process] = psutil.Process(self.pid).children(recursive=True)
        except psutil.Error:
            return []
        return children

    def stop(self) -> None:
        """End the server, its process group and all its descendants. Idempotent."""
        leftovers = self.descendants()
        if self.process.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self.process.wait(timeout=TERM_GRACE_S)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.process.wait(timeout=TERM_GRACE_S)
        else:
            self._signal_group(signal.SIGKILL)  # children of a dead leader may still run
        _, alive = psutil.wait_procs(leftovers, timeout=1.0)
        for proc in alive:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        psutil.wait_procs(alive, timeout=1.0)
        self._log.close()

    def _signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)


def start_lambdalite(
    workdir: Path, *flags: str, env: Mapping[str, str] | None = None, timeout_s: float = 60
) -> tuple[Service, int]:
    """``python -m lambdalite serve`` from this checkout on a free port, its data in
    ``workdir/data`` and its log in ``workdir/lambdalite.log``, once it listens:
    (the server, its port). The caller stops it."""
    port = free_port()
    service = Service(
        "lambdalite",
        [
            sys.executable,
            "-m",
            "lambdalite",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(workdir / "data"),
            *flags,
        ],
        log_path=workdir / "lambdalite.log",
        cwd=REPO,
        env=env,
    )
    try:
        service.wait_for_line(READY_LINE, timeout_s)
    except ServiceError:
        service.stop()
        raise
    return service, port


@contextlib.contextmanager
def lambdalite_running(workdir: Path, *flags: str, env: Mapping[str, str] | None = None) -> Iterator[int]:
    """``start_lambdalite`` for a ``with`` block: its port, the server stopped on every path."""
    service, port = start_lambdalite(workdir, *flags, env=env)
    try:
        yield port
    finally:
        service.stop()


HELLO_HANDLER = 'def handler(event, context):\n    return {"ok": True}\n'
"""The benchmarks' Python hello function (``app.handler``)."""


def hello_zip(source: str = HELLO_HANDLER) -> bytes:
    """A deployment package with ``source`` as app.py."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("app.py", source)
    return buffer.getvalue()


def lambda_client(port: int, host: str = "127.0.0.1") -> Any:
    """A boto3 Lambda client for a local server that never retries (a retried
    call would hide what the server answered and skew timings)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "lambda",
        endpoint_url=f"http://{host}:{port}",
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(
            retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=5, read_timeout=30
        ),
    )
