"""A fake Lambda Runtime API (2018-06-01) for testing bootstraps, and a runner
that starts a real bootstrap process against it.

The fake hands out queued events on GET .../invocation/next (blocking while the
queue is empty, as the real API does) and records every response, invocation
error and init error with its headers.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import textwrap
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

PREFIX = "/2018-06-01/runtime"


@dataclass
class Posted:
    """One POST from the runtime: ``kind`` is response, error or init_error."""

    kind: str
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class FakeRuntimeApi:
    events: queue.Queue[tuple[str, bytes, dict[str, str]] | None] = field(default_factory=queue.Queue)
    posted: dict[str, Posted] = field(default_factory=dict)
    init_error: Posted | None = None
    changed: threading.Condition = field(default_factory=threading.Condition)
    server: ThreadingHTTPServer | None = None

    def start(self) -> FakeRuntimeApi:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path != f"{PREFIX}/invocation/next":
                    return self._reply(404)
                item = api.events.get()
                if item is None:  # shutting down: leave the runtime waiting
                    api.events.put(None)
                    return None
                request_id, payload, headers = item
                headers = {"Lambda-Runtime-Aws-Request-Id": request_id, **headers}
                return self._reply(200, payload, headers)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                posted_headers = {k.lower(): v for k, v in self.headers.items()}
                parts = self.path.removeprefix(PREFIX).strip("/").split("/")
                with api.changed:
                    if parts == ["init", "error"]:
                        api.init_error = Posted("init_error", body, posted_headers)
                    elif len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
                        api.posted[parts[1]] = Posted(parts[2], body, posted_headers)
                    else:
                        return self._reply(404)
                    api.changed.notify_all()
                return self._reply(202, b'{"status":"OK"}', {"Content-Type": "application/json"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True).start()
        return self

    @property
    def address(self) -> str:
        assert self.server is not None
        return f"127.0.0.1:{self.server.server_port}"

    def queue_event(
        self, event: Any, request_id: str | None = None, headers: dict[str, str] | None = None
    ) -> str:
        request_id = request_id or str(uuid.uuid4())
        payload = event if isinstance(event, bytes) else json.dumps(event).encode()
        defaults = {
            "Lambda-Runtime-Deadline-Ms": "9999999999999",
            "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:000000000000:function:fn",
            "Content-Type": "application/json",
        }
        self.events.put((request_id, payload, {**defaults, **(headers or {})}))
        return request_id

    def wait(
        self, request_ids: list[str], timeout: float = 15.0, process: subprocess.Popen[bytes] | None = None
    ) -> None:
        """Until every request id has an answer, the runtime reported an init error, or it exited."""

        def done() -> bool:
            exited = process is not None and process.poll() is not None
            return exited or self.init_error is not None or all(r in self.posted for r in request_ids)

        deadline = time.monotonic() + timeout
        with self.changed:
            # Short waits: a process that exits does not notify the condition.
            while not done() and time.monotonic() < deadline:
                self.changed.wait(0.01)

    def stop(self) -> None:
        self.events.put(None)
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@dataclass
class Run:
    api: FakeRuntimeApi
    stdout: str
    stderr: str
    returncode: int | None


def run_bootstrap(
    argv: list[str],
    task_root: Path,
    handler: str,
    events: list[Any] | None = None,
    env: dict[str, str] | None = None,
    event_headers: list[dict[str, str]] | None = None,
    timeout: float = 15.0,
) -> tuple[Run, list[str]]:
    """Start ``argv`` as a runtime for ``handler`` in ``task_root``, feed it ``events``
    and wait for all answers (or an init error, or its exit); then stop it."""
    api = FakeRuntimeApi().start()
    request_ids = [
        api.queue_event(event, headers=(event_headers or [{}] * len(events or []))[i])
        for i, event in enumerate(events or [])
    ]
    environ = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_LAMBDA_RUNTIME_API": api.address,
        "_HANDLER": handler,
        "LAMBDA_TASK_ROOT": str(task_root),
        "AWS_LAMBDA_FUNCTION_NAME": "fn",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/fn",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2024/01/01/[$LATEST]abc",
        "AWS_REGION": "us-east-1",
        **(env or {}),
    }
    process = subprocess.Popen(
        argv, cwd=task_root, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        api.wait(request_ids, timeout=timeout, process=process)
        try:
            returncode: int | None = process.wait(timeout=0.5 if api.init_error else 0.05)
        except subprocess.TimeoutExpired:
            returncode = None
    finally:
        if process.poll() is None:
            process.kill()
        stdout, stderr = process.communicate()
        api.stop()
    # surrogateescape: framed log records (dataplane.output) carry binary lengths.
    return Run(api, stdout.decode(errors="surrogateescape"), stderr.decode(), returncode), request_ids


def write(root: Path, files: dict[str, str]) -> Path:
    """Write a function package (dedented sources) under ``root``."""
    for name, text in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text))
    return root
