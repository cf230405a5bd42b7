"""The public port's HTTP layer against hostile and careless clients, on a real
`lambdalite serve` with small bounds (the same flags users have)."""

from __future__ import annotations

import contextlib
import resource
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import psutil
import pytest

from tests.conftest import Server, create_function, free_port, open_to_sandboxes, start_server, stop_server

HEAD_TIMEOUT_S = 0.5
IDLE_TIMEOUT_S = 1.0
MAX_CONNECTIONS = 30
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("lambdalite-http") / "data"
    srv = start_server(
        data_dir,
        "--http-head-timeout",
        str(HEAD_TIMEOUT_S),
        "--http-idle-timeout",
        str(IDLE_TIMEOUT_S),
        "--http-max-connections",
        str(MAX_CONNECTIONS),
    )
    yield srv
    stop_server(srv)


def connect(server: Server) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes the connection."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def error_type(answer: bytes) -> bytes:
    for line in answer.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.lower() == b"x-amzn-errortype":
            return value.strip()
    return b""


def invoke_request(name: str, payload: bytes = b"{}") -> bytes:
    return (
        b"POST /2015-03-31/functions/%s/invocations HTTP/1.1\r\nHost: localhost\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (name.encode(), len(payload), payload)
    )


LIST = b"GET /2015-03-31/functions/ HTTP/1.1\r\nHost: localhost\r\n\r\n"


def test_a_slow_header_client_is_cut_off_with_408(server: Server) -> None:
    with connect(server) as sock:
        sock.sendall(b"GET /2015-03-31/functions/ HTTP/1.1\r\nHost: loc")
        started = time.monotonic()
        answer = read_all(sock)
        elapsed = time.monotonic() - started
    assert status_of(answer) == 408
    assert error_type(answer) == b"RequestTimeoutException"
    assert b"Connection: close" in answer
    assert HEAD_TIMEOUT_S * 0.9 <= elapsed < HEAD_TIMEOUT_S + 3


def test_an_idle_connection_is_closed_but_one_waiting_on_an_invoke_is_not(server: Server, lam: Any) -> None:
    create_function(
        lam,
        "sleeper",
        {"app.py": "import time\ndef handler(e, c):\n    time.sleep(2.5)\n    return 'rested'\n"},
    )
    with connect(server) as idle, connect(server) as busy:
        idle.sendall(LIST)
        assert status_of(idle.recv(65536)) == 200
        busy.sendall(invoke_request("sleeper"))
        started = time.monotonic()
        assert idle.recv(65536) == b""  # closed by the server, unanswered: it asked nothing
        assert IDLE_TIMEOUT_S * 0.9 <= time.monotonic() - started < IDLE_TIMEOUT_S + 2
        answer = busy.recv(65536)
        assert status_of(answer) == 200
        assert answer.endswith(b'"rested"')
        assert time.monotonic() - started >= 2.4


@pytest.mark.parametrize(
    "head",
    [
        b"GET /2015-03-31/functions/ HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n",
        b"GET /2015-03-31/functions/ HTTP/1.1\r\n"
        + b"".join(b"X-%d: 1\r\n" % i for i in range(501))
        + b"\r\n",
    ],
    ids=["64KB", "500-lines"],
)
def test_oversized_headers_get_431(server: Server, head: bytes) -> None:
    with connect(server) as sock:
        sock.sendall(head)
        answer = read_all(sock)
    assert status_of(answer) == 431
    assert error_type(answer) == b"RequestHeaderFieldsTooLargeException"


def test_headers_just_within_the_bounds_are_served(server: Server) -> None:
    head = b"GET /2015-03-31/functions/ HTTP/1.1\r\nHost: x\r\n" + b"".join(
        b"X-%d: %s\r\n" % (i, b"a" * 100) for i in range(400)
    )
    with connect(server) as sock:
        sock.sendall(head + b"Connection: close\r\n\r\n")
        assert status_of(read_all(sock)) == 200


def test_a_half_closed_invoke_is_answered(server: Server, lam: Any) -> None:
    create_function(lam, "echoer", {"app.py": "def handler(e, c):\n    return e\n"})
    with connect(server) as sock:
        sock.sendall(invoke_request("echoer", b'{"half": "closed"}'))
        sock.shutdown(socket.SHUT_WR)
        answer = read_all(sock)
    assert status_of(answer) == 200
    assert orjson.loads(answer.split(b"\r\n\r\n", 1)[1]) == {"half": "closed"}


def test_connections_beyond_the_bound_get_503_and_the_server_goes_on(server: Server, lam: Any) -> None:
    opened = [connect(server) for _ in range(MAX_CONNECTIONS + 5)]
    try:
        refused = 0
        for sock in opened[MAX_CONNECTIONS - 5 :]:
            sock.settimeout(0.5)
            try:
                answer = sock.recv(65536)
            except TimeoutError:
                continue
            if not answer:
                continue  # one within the bound, closed as idle meanwhile
            assert status_of(answer) == 503
            assert error_type(answer) == b"ServiceUnavailableException"
            refused += 1
        assert refused >= 5
    finally:
        for sock in opened:
            sock.close()
    time.sleep(0.2)
    assert lam.list_functions()["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_a_client_that_pipelines_without_reading_does_not_grow_the_servers_memory(
    server: Server, lam: Any
) -> None:
    for n in range(5):
        create_function(lam, f"listed-{n}", {"app.py": "def handler(e, c):\n    return 1\n"})
    process = psutil.Process(server.process.pid)
    before = process.memory_info().rss
    sock = connect(server)
    sock.settimeout(None)
    requests = LIST * 50_000  # each answer is a few KB: ~150 MB if the server buffered them

    def send() -> None:
        # The test closes the socket while the server is not reading.
        with contextlib.suppress(OSError):
            sock.sendall(requests)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    peak = before
    for _ in range(30):
        time.sleep(0.1)
        peak = max(peak, process.memory_info().rss)
    sock.close()
    sender.join(10)
    assert peak - before < 40 * 1024 * 1024, f"RSS grew by {(peak - before) >> 20} MB"
    assert lam.list_functions()["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_a_1gb_streamed_upload_keeps_the_servers_memory_flat(tmp_path: Path) -> None:
    port = free_port()
    sink = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "http_sink.py"), str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert sink.stdout is not None
        assert sink.stdout.readline().strip() == "sink listening"
        process = psutil.Process(sink.pid)
        before = process.memory_info().rss
        size = 1 << 30
        block = b"\xa5" * (1 << 20)
        peak = before
        with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
            sock.sendall(b"PUT /sink HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size)
            for n in range(size // len(block)):
                sock.sendall(block)
                if n % 64 == 0:
                    peak = max(peak, process.memory_info().rss)
            answer = read_answer(sock)
        assert status_of(answer) == 200
        assert answer.split(b"\r\n\r\n", 1)[1] == b"%d" % size
        assert peak - before < 32 * 1024 * 1024, f"RSS grew by {(peak - before) >> 20} MB"
    finally:
        sink.terminate()
        sink.wait(10)


def read_answer(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def test_a_flood_of_connections_at_the_descriptor_limit_leaves_the_server_working(
    tmp_path: Path,
) -> None:
    """With 256 descriptors, connections are bounded below the limit: a flood gets 503s,
    and the descriptors kept in reserve let a client already connected start and run a
    function in the middle of it (an environment needs descriptors of its own)."""
    # So few descriptors fail the namespace probe: the process level serves.
    srv = start_server(
        open_to_sandboxes(tmp_path / "d"),
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256)),
    )
    flood: list[socket.socket] = []
    try:
        lam = srv.client("lambda", max_pool_connections=1)
        lam.list_functions()  # its one keep-alive connection is open before the flood
        flood = [socket.create_connection(("127.0.0.1", srv.port), timeout=5) for _ in range(400)]
        refused = 0
        for sock in flood[-100:]:
            sock.settimeout(2)
            with contextlib.suppress(TimeoutError):
                answer = sock.recv(65536)
                if answer and status_of(answer) == 503:
                    refused += 1
        assert refused == 100
        create_function(lam, "still-here", {"app.py": "def handler(e, c):\n    return 'up'\n"})
        assert lam.invoke(FunctionName="still-here")["Payload"].read() == b'"up"'
    finally:
        for sock in flood:
            sock.close()
        stop_server(srv)
