"""A minimal HTTP/1.1 keep-alive client on a raw socket, for latency measurements.

It sends one pre-built request at a time over one TCP connection with
TCP_NODELAY set (without it a request/response pair can stall ~40 ms on Nagle
plus delayed ACK) and reads exactly one response back: ``Content-Length`` or
``chunked`` bodies. It has no redirects, no TLS, no pipelining and no retries:
the smaller the client, the more of the measured time belongs to the server.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

RECV_SIZE = 65536


class HttpProtocolError(Exception):
    """The server sent something this client cannot read as one HTTP/1.1 response."""


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: dict[str, str]
    """Header names in lower case; a repeated header keeps its last value."""
    body: bytes


def build_request(method: str, host: str, port: int, path: str, body: bytes) -> bytes:
    """The exact bytes of one request; built once and sent many times."""
    head = (
        f"{method} {path} HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "\r\n"
    )
    return head.encode("ascii") + body


class KeepAliveClient:
    """One persistent connection; ``roundtrip`` is one request and its response."""

    def __init__(self, host: str, port: int, timeout_s: float = 30.0) -> None:
        self.host = host
        self.port = port
        self._sock = socket.create_connection((host, port), timeout=timeout_s)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buf = bytearray()

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> KeepAliveClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def request(self, method: str, path: str, body: bytes = b"") -> Response:
        return self.roundtrip(build_request(method, self.host, self.port, path, body))

    def roundtrip(self, request: bytes) -> Response:
        """Send ``request`` (from ``build_request``) and read its whole response."""
        self._sock.sendall(request)
        return self._read_response()

    def _fill(self) -> None:
        chunk = self._sock.recv(RECV_SIZE)
        if not chunk:
            raise HttpProtocolError("connection closed by the server")
        self._buf += chunk

    def _read_response(self) -> Response:
        while (end := self._buf.find(b"\r\n\r\n")) < 0:
            self._fill()
        head = bytes(self._buf[:end]).decode("latin-1")
        del self._buf[: end + 4]
        status_line, *header_lines = head.split("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise HttpProtocolError(f"bad status line: {status_line!r}")
        headers: dict[str, str] = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = self._read_chunked()
        else:
            body = self._read_exactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            self.close()
        return Response(int(parts[1]), headers, body)

    def _read_exactly(self, size: int) -> bytes:
        while len(self._buf) < size:
            self._fill()
        body = bytes(self._buf[:size])
        del self._buf[:size]
        return body

    def _read_line(self) -> bytes:
        while (end := self._buf.find(b"\r\n")) < 0:
            self._fill()
        line = bytes(self._buf[:end])
        del self._buf[: end + 2]
        return line

    def _read_chunked(self) -> bytes:
        body = bytearray()
        while True:
            size = int(self._read_line().split(b";", 1)[0], 16)
            if size == 0:
                while self._read_line():  # trailers end with an empty line
                    pass
                return bytes(body)
            body += self._read_exactly(size)
            self._read_line()  # the CRLF after each chunk


def timed_roundtrips(client: KeepAliveClient, request: bytes, count: int) -> tuple[list[int], list[Response]]:
    """Send ``request`` ``count`` times in sequence. Returns each latency in
    nanoseconds and the responses that were not 200 or carried a function error."""
    latencies: list[int] = []
    failures: list[Response] = []
    clock = time.perf_counter_ns
    for _ in range(count):
        start = clock()
        response = client.roundtrip(request)
        latencies.append(clock() - start)
        if response.status != 200 or "x-amz-function-error" in response.headers:
            failures.append(response)
    return latencies, failures
