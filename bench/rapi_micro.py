"""What one Runtime API exchange and one public-port request cost in protocol code alone.

    .venv/bin/python bench/rapi_micro.py [--old DIR] [--n N] [--rounds R]

No sockets and no event-loop wake-ups: each server's connection protocol is fed
bytes by hand and writes to a fake transport, so the figure is the Python cost
of parsing, routing and answering, which is what the end-to-end benchmark
(bench/invoke_bench.py) cannot separate from the kernel and the other processes.

runtime exchange
    what a warm invoke costs the Runtime API: the environment answers the parked
    ``GET .../next`` with an event, then the runtime pipelines ``POST
    .../{id}/response`` and the next ``GET .../next`` in one read (as our Python
    bootstrap does); the 202 and the next event go out in one write.
public request
    ``POST /2015-03-31/functions/hello/invocations`` on the public port's HTTP
    server, answered by a coroutine that returns a fixed 200 (no router, no
    invoker: the server's own cost per request, task included).

``--old DIR`` measures another checkout (e.g. ``git worktree add /tmp/rapi-old
38bf205``) too, each tree in its own interpreter, interleaved round by round;
it prints the fastest and the median round's µs per exchange of each, and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

REQUEST_ID = "8476a536-e9f4-11e8-9739-2dfe598c3fcd"
HOST = b"Host: 127.0.0.1:9001\r\n"
RESPONSE = b'{"ok": true}'
EXCHANGE = (
    b"POST /2018-06-01/runtime/invocation/%s/response HTTP/1.1\r\n%sContent-Type: application/json\r\n"
    b"Content-Length: %d\r\n\r\n%sGET /2018-06-01/runtime/invocation/next HTTP/1.1\r\n%s"
    b"Content-Length: 0\r\n\r\n" % (REQUEST_ID.encode(), HOST, len(RESPONSE), RESPONSE, HOST)
)
FIRST_NEXT = b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\n%sContent-Length: 0\r\n\r\n" % HOST
EVENT_HEADERS = (
    b"Lambda-Runtime-Aws-Request-Id: %s\r\nLambda-Runtime-Deadline-Ms: 1765112345678\r\n"
    b"Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:000000000000:function:hello\r\n"
    b"Lambda-Runtime-Trace-Id: Root=1-6935a1b2-8476a536e9f411e897392dfe;Sampled=0\r\n" % REQUEST_ID.encode()
)
EVENT_FIELDS = (
    REQUEST_ID,
    1765112345678,
    "arn:aws:lambda:us-east-1:000000000000:function:hello",
    "Root=1-6935a1b2-8476a536e9f411e897392dfe;Sampled=0",
    None,
    None,
)
"""The same event as ``send_event``'s fields (since it builds the head itself)."""
EVENT = b"{}"
INVOKE = (
    b"POST /2015-03-31/functions/hello/invocations HTTP/1.1\r\nHost: 127.0.0.1:9000\r\n"
    b"Accept-Encoding: identity\r\nUser-Agent: Boto3/1.35.0 md/Botocore#1.35.0 Python/3.11\r\n"
    b"X-Amz-Date: 20261207T170000Z\r\nX-Amz-Content-SHA256: UNSIGNED-PAYLOAD\r\n"
    b"Authorization: AWS4-HMAC-SHA256 Credential=test/20261207/us-east-1/lambda/aws4_request, "
    b"SignedHeaders=host;x-amz-date, Signature=0123456789abcdef\r\n"
    b"amz-sdk-invocation-id: 5f0d7c4e-0000-4000-8000-000000000000\r\namz-sdk-request: attempt=1\r\n"
    b"Content-Length: 2\r\n\r\n{}"
)


class FakeTransport:
    """Enough of an asyncio transport for a connection protocol; counts writes."""

    def __init__(self) -> None:
        self.writes = 0
        self.written = 0
        self.wrote: asyncio.Future[None] | None = None

    def write(self, data: bytes) -> None:
        self.writes += 1
        self.written += len(data)
        if self.wrote is not None and not self.wrote.done():
            self.wrote.set_result(None)

    def writelines(self, buffers: list[bytes]) -> None:
        self.write(b"".join(buffers))

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        raise AssertionError("the benchmark's connection was closed")


class FakeEnvironment:
    """A Runtime API handler that accepts every response and parks every /next."""

    def __init__(self, accepted: tuple[int, bytes]) -> None:
        self.parked: Any = None
        self.accepted = accepted
        self.responses = 0

    def accepts_peer(self, connection: object) -> bool:
        return True

    def on_next(self, connection: Any) -> None:
        self.parked = connection

    def on_response(self, request_id: str, body: bytes) -> tuple[int, bytes]:
        self.responses += 1
        return self.accepted

    def on_response_too_large(self, request_id: str) -> tuple[int, bytes]:
        raise AssertionError("too large")

    def on_error(self, request_id: str, body: bytes, error_type: str | None) -> tuple[int, bytes]:
        raise AssertionError(body)

    def on_init_error(self, body: bytes, error_type: str | None) -> tuple[int, bytes]:
        raise AssertionError(body)


def runtime_exchange_us(n: int) -> float:
    """µs per exchange (event out, then POST response + GET next in), in this tree."""
    runtime_api = importlib.import_module("lambdalite.dataplane.runtime_api")
    environment = FakeEnvironment(runtime_api.ACCEPTED)
    transport = FakeTransport()

    async def run() -> float:
        if hasattr(runtime_api, "server_for"):
            connection = runtime_api.server_for(environment).connection()
        else:
            connection = runtime_api.RuntimeApiConnection(environment)
        connection.connection_made(transport)
        connection.data_received(FIRST_NEXT)
        feed = connection.data_received
        # Older trees take the encoded headers, newer ones the event's fields.
        fields = (
            (EVENT_HEADERS,)
            if "headers" in inspect.signature(connection.send_event).parameters
            else EVENT_FIELDS
        )
        started = time.perf_counter()
        for _ in range(n):
            environment.parked.send_event(*fields, EVENT)
            feed(EXCHANGE)
        elapsed = time.perf_counter() - started
        # Every exchange answered: one write for the event, one for 202 + the next event
        # is carried by that write (the 202 waits for the event), so one write each.
        assert environment.responses == n, environment.responses
        assert transport.writes == n, transport.writes
        return elapsed / n * 1e6

    return asyncio.run(run())


def public_request_us(n: int) -> float:
    """µs per request on the public port's HTTP server, answered by a coroutine."""
    transport = FakeTransport()

    try:
        http = importlib.import_module("lambdalite.http")
        response = http.Response(200, b'{"ok":true}', [(b"X-Amz-Executed-Version", b"$LATEST")])
    except ModuleNotFoundError:  # the tree before the shared HTTP layer
        http = importlib.import_module("lambdalite.api.http_server")
        wire = importlib.import_module("lambdalite.api.wire")
        response = wire.Response(200, b'{"ok":true}', [(b"X-Amz-Executed-Version", b"$LATEST")])

    async def handler(request: Any) -> Any:
        return response

    async def run() -> float:
        loop = asyncio.get_running_loop()
        if hasattr(http, "Limits"):
            connection = http.HttpServer(handler, http.Limits()).connection()
        else:
            connection = http.HttpConnection(http.HttpServer(handler, 6 * 1024 * 1024))
        connection.connection_made(transport)
        started = time.perf_counter()
        for _ in range(n):
            transport.wrote = loop.create_future()
            connection.data_received(INVOKE)
            await transport.wrote
        elapsed = time.perf_counter() - started
        assert transport.writes == n, transport.writes
        return elapsed / n * 1e6

    return asyncio.run(run())


def measure(tree: Path, n: int) -> dict[str, float]:
    """Both figures for ``tree``, in a fresh interpreter that imports lambdalite from it."""
    code = (
        f"import sys; sys.path.insert(0, {str(tree)!r}); sys.path.insert(1, {str(REPO / 'bench')!r}); "
        "import json, rapi_micro as m; "
        f"print(json.dumps({{'runtime': m.runtime_exchange_us({n}), 'public': m.public_request_us({n})}}))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=tree)
    figures: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--old", type=Path, help="another checkout to measure beside this one")
    parser.add_argument("--n", type=int, default=20000, help="exchanges per measurement")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    trees = {"new": REPO}
    if args.old is not None:
        trees["old"] = args.old.resolve()
    samples: dict[str, dict[str, list[float]]] = {name: {"runtime": [], "public": []} for name in trees}
    for _ in range(args.rounds):
        for name, tree in trees.items():
            for key, value in measure(tree, args.n).items():
                samples[name][key].append(value)
    # The fastest round is the one least disturbed by other work on the machine; the
    # median shows how much the rest were.
    for key, label in (("runtime", "runtime exchange"), ("public", "public request")):
        for how, pick in (("fastest", min), ("median", statistics.median)):
            figures = {name: pick(samples[name][key]) for name in trees}
            line = f"{label:17} {how:8}" + "  ".join(f"{name} {figures[name]:6.2f} µs" for name in trees)
            if "old" in figures:
                line += f"  new/old {figures['new'] / figures['old']:.2f}"
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
