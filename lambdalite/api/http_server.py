"""A lean HTTP/1.1 server on httptools, serving lambdalite's one public port.

Why not uvicorn: Invoke is the hot path, and an ASGI server costs there what a
warm invocation costs in total. uvicorn builds a scope and a receive/send
pair per request and writes a response's head and body in two syscalls (two
wake-ups of the client); this server hands a parsed request to one coroutine
and writes each response with one call. What it supports is what AWS clients
send: keep-alive, pipelined requests (answered in order), Content-Length and
chunked bodies, ``Expect: 100-continue``.

Contract: ``HttpServer(handler)`` calls ``await handler(request)`` once per
request, one at a time per connection, and writes the returned ``Response``.
The handler must not raise; whatever it does raise is answered with a bare
500 and logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import logging
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import cast
from urllib.parse import unquote

import httptools

from lambdalite.api.wire import Response

log = logging.getLogger("lambdalite.http")

_REASONS = {status.value: status.phrase.encode() for status in http.HTTPStatus}
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_SMALL_BODY = 64 * 1024
"""Below this a response is joined into one buffer; above it, written as two
(copying megabytes to save one syscall is a bad trade)."""


@dataclass(slots=True)
class HttpRequest:
    method: str
    path: str
    """Percent-decoded path, without the query string."""
    query: bytes
    headers: dict[bytes, bytes]
    """Lower-cased names; a repeated header keeps its last value."""
    body: bytes
    body_size: int
    """The size the client sent; ``body`` is empty when it passed the server's limit."""
    raw_path: bytes = b"/"
    """The path as sent, still percent-encoded."""
    repeated: list[tuple[bytes, bytes]] | None = None
    """The earlier values of headers sent more than once (lower-cased names, in
    order; ``headers`` has the last value), or None when no header repeated."""
    client: str = ""
    """The client's IP address."""


Handler = Callable[[HttpRequest], Awaitable[Response]]


def encode_response(response: Response, keep_alive: bool) -> list[bytes]:
    """The wire form of ``response`` as one or two buffers."""
    status = response.status
    lines = [
        b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n"
        % (status, _REASONS.get(status, b"Unknown"), response.content_type, len(response.body))
    ]
    lines.extend(b"%s: %s\r\n" % (name, value) for name, value in response.headers)
    if not keep_alive:
        lines.append(b"Connection: close\r\n")
    lines.append(b"\r\n")
    head = b"".join(lines)
    if len(response.body) < _SMALL_BODY:
        return [head + response.body]
    return [head, response.body]


class HttpConnection(asyncio.Protocol):
    """One client connection: parses requests, serves them in order."""

    def __init__(self, server: HttpServer) -> None:
        self._server = server
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._queue: deque[tuple[HttpRequest, bool]] = deque()
        self._busy = False
        self._url = b""
        self._headers: dict[bytes, bytes] = {}
        self._repeated: list[tuple[bytes, bytes]] | None = None
        self._body: list[bytes] = []
        self._body_size = 0
        self._client = ""

    @property
    def idle(self) -> bool:
        return not self._busy and not self._queue

    # -- asyncio.Protocol ---------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and peer:
            self._client = str(peer[0])
        sock = transport.get_extra_info("socket")
        if sock is not None:
            refuse = self._server.refuse_peer
            if refuse is not None and refuse(sock):
                transport.close()
                return
            # Without this a small response can wait 40 ms on Nagle + delayed ACK.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._queue.clear()
        self._server.connections.discard(self)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(400)
        except httptools.HttpParserError:
            self._fail(400)

    def _fail(self, status: int) -> None:
        if self._transport is not None:
            self._transport.write(
                b"HTTP/1.1 %d %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                % (status, _REASONS[status])
            )
        self.close()

    # -- httptools callbacks ------------------------------------------------
    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = {}
        self._repeated = None
        self._body = []
        self._body_size = 0

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.lower()
        headers = self._headers
        if key in headers:
            # Rare (Function URLs join repeats): kept aside so the common case stays one dict store.
            if self._repeated is None:
                self._repeated = []
            self._repeated.append((key, headers[key]))
        headers[key] = value

    def on_headers_complete(self) -> None:
        if self._headers.get(b"expect", b"").lower() == b"100-continue" and self._transport is not None:
            self._transport.write(_CONTINUE)

    def on_body(self, body: bytes) -> None:
        self._body_size += len(body)
        # Past the limit keep counting, stop buffering: the handler answers 413.
        if self._body_size <= self._server.max_body:
            self._body.append(body)

    def on_message_complete(self) -> None:
        url = httptools.parse_url(self._url)
        raw_path = url.path or b"/"
        path = unquote(raw_path.decode("latin-1")) if b"%" in raw_path else raw_path.decode("latin-1")
        too_large = self._body_size > self._server.max_body
        request = HttpRequest(
            method=self._parser.get_method().decode("latin-1"),
            path=path,
            query=url.query or b"",
            headers=self._headers,
            body=b"" if too_large else b"".join(self._body),
            body_size=self._body_size,
            raw_path=raw_path,
            repeated=self._repeated,
            client=self._client,
        )
        self._queue.append((request, self._parser.should_keep_alive()))
        if not self._busy:
            self._busy = True
            self._server.track(asyncio.ensure_future(self._serve_queue()))

    # -- serving ------------------------------------------------------------
    async def _serve_queue(self) -> None:
        try:
            while self._queue and self._transport is not None:
                request, keep_alive = self._queue.popleft()
                try:
                    response = await self._server.handler(request)
                except Exception:
                    log.exception("unhandled error serving %s %s", request.method, request.path)
                    response = Response(500, b"")
                keep_alive = keep_alive and not self._server.closing
                transport = self._transport
                if transport is None:
                    return
                transport.writelines(encode_response(response, keep_alive))
                if not keep_alive:
                    self.close()
                    return
        finally:
            self._busy = False

    def close(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()


class HttpServer:
    """Owns the listening socket and every connection."""

    def __init__(
        self, handler: Handler, max_body: int, refuse_peer: Callable[[socket.socket], bool] | None = None
    ) -> None:
        """``refuse_peer``: asked once per new connection; True closes it unserved."""
        self.handler = handler
        self.max_body = max_body
        self.refuse_peer = refuse_peer
        self.connections: set[HttpConnection] = set()
        self.closing = False
        self._server: asyncio.Server | None = None
        self._in_flight: set[asyncio.Future[None]] = set()

    def track(self, future: asyncio.Future[None]) -> None:
        self._in_flight.add(future)
        future.add_done_callback(self._in_flight.discard)

    async def start(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: HttpConnection(self), host, port, reuse_address=True, backlog=4096
        )

    async def shutdown(self, grace_s: float) -> None:
        """Stop accepting, let requests in progress finish for up to
        ``grace_s`` seconds, then close every connection."""
        self.closing = True
        if self._server is not None:
            self._server.close()
        for connection in list(self.connections):
            if connection.idle:
                connection.close()
        deadline = time.monotonic() + grace_s
        while self._in_flight and time.monotonic() < deadline:
            await asyncio.wait(set(self._in_flight), timeout=max(0.0, deadline - time.monotonic()))
        for connection in list(self.connections):
            connection.close()
        for future in list(self._in_flight):
            future.cancel()
