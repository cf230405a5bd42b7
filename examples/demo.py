"""What `make demo` runs: lambdalite with the example function deployed.

Starts `python -m lambdalite serve --data-dir ./data` (port 9001, or
LAMBDALITE_PORT), deploys examples/hello as the function `hello` with the
`lambdalite deploy` command, prints how to call it, and then stays in the
foreground until Ctrl-C, which it passes on to the server so in-flight
invocations finish cleanly.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
PORT = int(os.environ.get("LAMBDALITE_PORT", "9001"))
ENDPOINT = f"http://127.0.0.1:{PORT}"
# The runtime of the interpreter running the demo, which is certainly installed.
RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"


def main() -> int:
    if _port_open(PORT):
        print(f"something already listens on port {PORT}; stop it or set LAMBDALITE_PORT", file=sys.stderr)
        return 1
    # A session of its own: Ctrl-C reaches the demo only, and the demo decides what the server gets.
    server = subprocess.Popen(
        [sys.executable, "-m", "lambdalite", "serve", "--port", str(PORT), "--data-dir", "./data"],
        cwd=ROOT,
        start_new_session=True,
    )
    forward = _forwarder(server)
    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    if not _wait_listening(server, timeout_s=30):
        _stop(server)
        print("lambdalite did not start; its output is above", file=sys.stderr)
        return 1
    deployed = _lambdalite(
        "deploy",
        str(ROOT / "examples" / "hello"),
        "--name",
        "hello",
        "--runtime",
        RUNTIME,
        "--handler",
        "app.handler",
    )
    if deployed.returncode != 0:
        _stop(server)
        return 1
    print(_instructions(), flush=True)
    return server.wait()


def _lambdalite(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "lambdalite", *args, "--endpoint", ENDPOINT], cwd=ROOT)


def _instructions() -> str:
    payload = '{"name":"you"}'
    # The CLI finds the server on any port through the record `serve` leaves (lambdalite.discovery).
    return f"""
lambdalite is running at {ENDPOINT} with the function `hello` ({RUNTIME}).
Functions, code and logs are kept in ./data across runs (stop, then `rm -rf data` to start afresh).

  .venv/bin/lambdalite invoke hello --payload '{payload}' --tail
  .venv/bin/lambdalite logs hello --follow

  curl -s {ENDPOINT}/2015-03-31/functions/hello/invocations -d '{payload}'

  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1
  aws lambda invoke --endpoint-url {ENDPOINT} --function-name hello \\
    --cli-binary-format raw-in-base64-out --payload '{payload}' out.json && cat out.json
  (AWS CLI v1: leave out --cli-binary-format raw-in-base64-out)

Press Ctrl-C to stop.
"""


def _forwarder(server: subprocess.Popen[bytes]) -> Callable[[int, FrameType | None], None]:
    def forward(signum: int, _frame: FrameType | None) -> None:
        if server.poll() is None:
            server.send_signal(signum)

    return forward


def _stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def _wait_listening(server: subprocess.Popen[bytes], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            return False
        if _port_open(PORT):
            return True
        time.sleep(0.05)
    return False


if __name__ == "__main__":
    sys.exit(main())
