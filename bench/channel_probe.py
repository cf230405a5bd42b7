"""What one server -> runtime -> server round trip costs on each candidate channel.

    .venv/bin/python bench/channel_probe.py [--trips N] [--rounds R]

The choice behind ``lambdalite/dataplane/runtime_channel.py``. A uvloop server
and a forked blocking "runtime" pass a warm invoke's messages back and forth
(the server writes an event of about 400 bytes; the runtime reads it whole and
answers; the server reads the answer whole and writes the next event), over:

tcp-http     loopback TCP with TCP_NODELAY and HTTP framing (the Runtime API as
             our bootstrap uses it: a pipelined POST response + GET next)
unix-http    a Unix stream socket pair, the same HTTP bytes
unix-frame   a Unix stream socket pair, compact framing (the event's bytes behind
             a length, the response behind a 41-byte head)
pipe-frame   two pipes, compact framing

For each: round trips per second, and CPU per round trip of the server and of
the runtime (user + system), the figure that survives a shared machine. The
median of the rounds is printed; rounds interleave the channels.

``--bootstrap python`` (or ``node``, or both) measures the hop a warm invoke really
takes instead: lambdalite's ``RuntimeChannel`` on uvloop, with the runtime's output
pipe read as the environment reads it (``OutputSplitter``), and our bootstrap
running a handler that returns ``{"ok": true}``. The server hands out each event
from a task woken by the previous response, as ``Environment.invoke`` does. It
prints round trips per second, the p50 and p99 of one round trip, and the CPU per
round trip of each side.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import shutil
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import uvloop
from rapi_micro import FakeEnvironment

from lambdalite.dataplane.output import OutputSplitter
from lambdalite.dataplane.runtime_channel import RuntimeChannel, open_channel
from lambdalite.runtimes.lookup import NODE_BOOTSTRAP, PYTHON_BOOTSTRAP

EVENT_BODY = b'{"name": "lambdalite", "n": 1}'
HTTP_EVENT_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    b"Lambda-Runtime-Aws-Request-Id: 8f3a2b1c-1234-4567-89ab-0123456789ab\r\n"
    b"Lambda-Runtime-Deadline-Ms: 1765000000000\r\n"
    b"Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:000000000000:function:hello\r\n"
    b"Lambda-Runtime-Trace-Id: Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0\r\n"
    b"Content-Length: %d\r\n\r\n"
)
HTTP_EVENT = HTTP_EVENT_HEAD % len(EVENT_BODY) + EVENT_BODY
FRAME_EVENT = len(HTTP_EVENT).to_bytes(4, "big") + HTTP_EVENT
RESULT = b'{"ok": true}'
HTTP_ANSWER = (
    b"POST /2018-06-01/runtime/invocation/8f3a2b1c-1234-4567-89ab-0123456789ab/response HTTP/1.1\r\n"
    b"Host: 127.0.0.1:9001\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
    b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: 127.0.0.1:9001\r\nContent-Length: 0\r\n\r\n"
) % (len(RESULT), RESULT)
FRAME_ANSWER = b"r" + len(RESULT).to_bytes(4, "big") + b"8f3a2b1c-1234-4567-89ab-0123456789ab    " + RESULT

CHANNELS = ("tcp-http", "unix-http", "unix-frame", "pipe-frame")


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _runtime(read_fd: int, write_fd: int, event_size: int, answer: bytes) -> None:
    """The forked runtime: read each event whole, answer it; exits at EOF."""
    pending = 0
    while True:
        while pending < event_size:
            data = os.read(read_fd, 65536)
            if not data:
                os._exit(0)
            pending += len(data)
        pending -= event_size
        os.write(write_fd, answer)


def _fork_runtime(channel: str, event_size: int, answer: bytes) -> tuple[int, int, int, Callable[[], None]]:
    """Start the runtime on ``channel``: (pid, server read fd, server write fd, close)."""
    if channel == "tcp-http":
        listener = socket.create_server(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        pid = os.fork()
        if pid == 0:
            client = socket.create_connection(("127.0.0.1", port))
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            _runtime(client.fileno(), client.fileno(), event_size, answer)
        server, _ = listener.accept()
        listener.close()
        server.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return pid, server.fileno(), server.fileno(), server.close
    if channel.startswith("unix"):
        ours, theirs = socket.socketpair()
        pid = os.fork()
        if pid == 0:
            ours.close()
            _runtime(theirs.fileno(), theirs.fileno(), event_size, answer)
        theirs.close()
        return pid, ours.fileno(), ours.fileno(), ours.close
    events_read, events_write = os.pipe()
    answers_read, answers_write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(events_write)
        os.close(answers_read)
        _runtime(events_read, answers_write, event_size, answer)
    os.close(events_read)
    os.close(answers_write)

    def close() -> None:
        os.close(events_write)
        os.close(answers_read)

    return pid, answers_read, events_write, close


async def _measure(channel: str, trips: int) -> tuple[float, float, float]:
    """(round trips/s, server CPU us/trip, runtime CPU us/trip) for ``channel``."""
    loop = asyncio.get_running_loop()
    framed = channel.endswith("frame")
    event = FRAME_EVENT if framed else HTTP_EVENT
    answer = FRAME_ANSWER if framed else HTTP_ANSWER
    pid, read_fd, write_fd, close = _fork_runtime(channel, len(event), answer)
    os.set_blocking(read_fd, False)
    done: asyncio.Future[None] = loop.create_future()
    state = {"trips": 0, "pending": 0}

    def readable() -> None:
        # The server's side: gather the answer, then hand out the next event.
        state["pending"] += len(os.read(read_fd, 65536))
        if state["pending"] < len(answer):
            return
        state["pending"] -= len(answer)
        state["trips"] += 1
        if state["trips"] == trips:
            loop.remove_reader(read_fd)
            done.set_result(None)
            return
        os.write(write_fd, event)

    server_before, runtime_before = _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    loop.add_reader(read_fd, readable)
    os.write(write_fd, event)
    await done
    elapsed = time.perf_counter() - started
    server = _cpu(resource.RUSAGE_SELF) - server_before
    close()
    os.waitpid(pid, 0)  # the runtime ends at EOF: its CPU is counted once reaped
    runtime = _cpu(resource.RUSAGE_CHILDREN) - runtime_before
    return trips / elapsed, server / trips * 1e6, runtime / trips * 1e6


HANDLERS = {
    "python": ("app.py", "def handler(event, context):\n    return {'ok': True}\n"),
    "node": ("app.js", "exports.handler = async () => ({ ok: true });\n"),
}
ARN = "arn:aws:lambda:us-east-1:000000000000:function:hello"
TRACE = "Root=1-6935a1b2-8476a536e9f411e897392dfe;Parent=53995c3f42cd8ad8;Sampled=0"


class _Hop(FakeEnvironment):
    """The environment's side of the hop: parks the channel on ``next`` and
    completes the trip in progress on its response."""

    def __init__(self) -> None:
        super().__init__((202, b""))
        self.ready: asyncio.Future[None] | None = None
        self.answered: asyncio.Future[bytes] | None = None

    def on_next(self, connection: Any) -> None:
        self.parked = connection
        if self.ready is not None and not self.ready.done():
            self.ready.set_result(None)

    def on_response(self, request_id: str, body: bytes) -> tuple[int, bytes]:
        if self.answered is not None and not self.answered.done():
            self.answered.set_result(body)
        return self.accepted


def _bootstrap_command(language: str, python: str) -> list[str]:
    if language == "python":
        return [python, str(PYTHON_BOOTSTRAP)]
    return ["node", str(NODE_BOOTSTRAP)]


async def _measure_bootstrap(language: str, trips: int, task_root: Path, python: str) -> tuple[float, ...]:
    """(round trips/s, p50 us, p99 us, server CPU us/trip, runtime CPU us/trip)."""
    loop = asyncio.get_running_loop()
    hop = _Hop()
    hop.ready = loop.create_future()
    ours, theirs = open_channel()
    channel = RuntimeChannel(loop, hop, *ours)
    output_read, output_write = os.pipe2(os.O_CLOEXEC)
    os.set_blocking(output_read, False)
    splitter = OutputSplitter(output_read)
    lines: list[str] = []
    loop.add_reader(output_read, lambda: lines.extend(text for _, text in splitter.read_available()[0]))
    environ = {
        "PATH": os.environ.get("PATH", ""),
        "_HANDLER": "app.handler",
        "LAMBDA_TASK_ROOT": str(task_root),
        "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9",
        "AWS_LAMBDA_FUNCTION_NAME": "hello",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "_LAMBDALITE_LOG_FRAMES": "1",
        "_LAMBDALITE_RUNTIME_CHANNEL": "{},{}".format(*theirs),
    }
    process = await asyncio.create_subprocess_exec(
        *_bootstrap_command(language, python),
        cwd=task_root,
        env=environ,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=output_write,
        stderr=output_write,
        pass_fds=theirs,
    )
    for fd in (*theirs, output_write):
        os.close(fd)
    try:
        await asyncio.wait_for(hop.ready, 30)
        runtime = psutil.Process(process.pid)
        samples: list[float] = []
        payload = b'{"name": "lambdalite"}'

        async def trip() -> None:
            hop.answered = answered = loop.create_future()
            parked, hop.parked = hop.parked, None
            assert parked is not None and parked.send_event(
                str(uuid.uuid4()), int(time.time() * 1000) + 3000, ARN, TRACE, None, None, payload
            )
            assert (await answered).replace(b" ", b"") == b'{"ok":true}', lines

        for _ in range(min(trips // 10, 1000)):  # warm up: the bootstrap's first trips cost more
            await trip()
        server_before, runtime_times = _cpu(resource.RUSAGE_SELF), runtime.cpu_times()
        started = time.perf_counter()
        for _ in range(trips):
            begun = time.perf_counter()
            await trip()
            samples.append(time.perf_counter() - begun)
        elapsed = time.perf_counter() - started
        server = _cpu(resource.RUSAGE_SELF) - server_before
        after = runtime.cpu_times()
        runtime_cpu = after.user + after.system - runtime_times.user - runtime_times.system
    finally:
        channel.close()
        loop.remove_reader(output_read)
        os.close(output_read)
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
    samples.sort()
    return (
        trips / elapsed,
        samples[len(samples) // 2] * 1e6,
        samples[len(samples) * 99 // 100] * 1e6,
        server / trips * 1e6,
        runtime_cpu / trips * 1e6,
    )


def bootstrap_main(languages: list[str], trips: int, rounds: int, python: str) -> None:
    with tempfile.TemporaryDirectory() as directory:
        task_root = Path(directory)
        for name, code in HANDLERS.values():
            (task_root / name).write_text(code)
        results: dict[str, list[tuple[float, ...]]] = {language: [] for language in languages}
        for _ in range(rounds):
            for language in languages:
                results[language].append(uvloop.run(_measure_bootstrap(language, trips, task_root, python)))
    header = f"{'bootstrap':10s} {'trips/s':>9s} {'p50 us':>8s} {'p99 us':>8s}"
    header += f" {'server us':>10s} {'runtime us':>11s}"
    print(f"{header}   (median of {rounds} rounds)")
    for language, rounds_of in results.items():
        rate, p50, p99, server, runtime = (
            statistics.median(values) for values in zip(*rounds_of, strict=True)
        )
        print(f"{language:10s} {rate:9,.0f} {p50:8.1f} {p99:8.1f} {server:10.1f} {runtime:11.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trips", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--bootstrap",
        choices=("python", "node", "both"),
        help="measure the real hop through RuntimeChannel and this bootstrap instead",
    )
    parser.add_argument(
        "--python",
        default=shutil.which("python3.11") or sys.executable,
        help="the interpreter the Python bootstrap runs on (default python3.11, the benchmarks' runtime)",
    )
    args = parser.parse_args()
    if args.bootstrap:
        languages = ["python", "node"] if args.bootstrap == "both" else [args.bootstrap]
        bootstrap_main(languages, args.trips, args.rounds, args.python)
        return
    results: dict[str, list[tuple[float, float, float]]] = {channel: [] for channel in CHANNELS}
    for _ in range(args.rounds):
        for channel in CHANNELS:
            results[channel].append(uvloop.run(_measure(channel, args.trips)))
    header = f"{'channel':12s} {'trips/s':>9s} {'server us':>10s} {'runtime us':>11s}"
    print(f"{header}   (median of {args.rounds} rounds)")
    for channel, rounds in results.items():
        rate, server, runtime = (statistics.median(values) for values in zip(*rounds, strict=True))
        print(f"{channel:12s} {rate:9,.0f} {server:10.1f} {runtime:11.1f}")


if __name__ == "__main__":
    main()
