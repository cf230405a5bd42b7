"""The Lambda Runtime API (2018-06-01), served to one execution environment.

Each environment gets its own listener on loopback, so a connection needs no
other identification: whatever arrives on that port speaks for that
environment. This is a raw asyncio protocol over httptools rather than an ASGI
app because it sits on the hot path of every invocation twice (the response
POST and the next GET); a framework here would cost more than the runtime.

Routes (as AWS serves them):
    GET  /2018-06-01/runtime/invocation/next            long-poll for the next event
    POST /2018-06-01/runtime/invocation/{id}/response   the handler's result
    POST /2018-06-01/runtime/invocation/{id}/error      the handler's error
    POST /2018-06-01/runtime/init/error                 initialisation failed
"""

from __future__ import annotations

import asyncio
import socket
from typing import Protocol, cast

import httptools
import orjson

API_PREFIX = b"/2018-06-01/runtime/"
MAX_RESPONSE_BYTES = 6 * 1024 * 1024 + 100
"""AWS accepts a function response of at most 6291556 bytes (6 MB plus a little framing)."""

ERROR_TYPE_HEADER = b"lambda-runtime-function-error-type"

_REASONS = {
    200: b"OK",
    202: b"Accepted",
    400: b"Bad Request",
    403: b"Forbidden",
    404: b"Not Found",
    405: b"Method Not Allowed",
    413: b"Request Entity Too Large",
    500: b"Internal Server Error",
}
ACCEPTED = (202, b'{"status":"OK"}')


def error_body(error_type: str, message: str) -> bytes:
    return orjson.dumps({"errorMessage": message, "errorType": error_type})


class RuntimeApiHandler(Protocol):
    """What the environment behind a Runtime API listener must answer.

    Each ``on_*`` returns (status, JSON body) to send to the runtime, except
    on_next, which answers later through ``RuntimeApiConnection.send_event``."""

    def accepts_peer(self, connection: socket.socket) -> bool:
        """May whoever is at the other end of ``connection`` use this API?"""
        ...

    def on_next(self, connection: RuntimeApiConnection) -> None: ...

    def on_response(self, request_id: str, body: bytes) -> tuple[int, bytes]: ...

    def on_response_too_large(self, request_id: str) -> tuple[int, bytes]: ...

    def on_error(self, request_id: str, body: bytes, error_type: str | None) -> tuple[int, bytes]: ...

    def on_init_error(self, body: bytes, error_type: str | None) -> tuple[int, bytes]: ...


class RuntimeApiConnection(asyncio.Protocol):
    """One HTTP/1.1 keep-alive connection from a runtime. Requests are handled
    strictly one after another, as runtimes send them."""

    __slots__ = (
        "_body",
        "_body_size",
        "_error_type",
        "_handler",
        "_held",
        "_in_batch",
        "_parked",
        "_parser",
        "_transport",
        "_url",
    )

    def __init__(self, handler: RuntimeApiHandler) -> None:
        self._handler = handler
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._url = b""
        self._body: list[bytes] = []
        self._body_size = 0
        self._error_type: str | None = None
        self._in_batch = False
        self._held: list[bytes] = []
        """Answers written while parsing one read; see data_received."""
        self._parked = False

    # -- asyncio.Protocol ---------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but quack alike.
        self._transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            if not self._handler.accepts_peer(sock):
                transport.close()
                return
            # Without this a small response can wait 40 ms on Nagle + delayed ACK.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        # A runtime that pipelines ``POST .../response`` and ``GET .../next``
        # in one write gets the 202 together with its next event: one wake-up
        # instead of two. Any other answer goes out as soon as the read is parsed.
        self._in_batch = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self._in_batch = False
            self._held.append(_http(400, error_body("InvalidRequest", "Malformed HTTP request")))
            self._flush()
            self.close()
            return
        self._in_batch = False
        if self._held and not self._parked:
            self._flush()

    def _flush(self) -> None:
        held, self._held = self._held, []
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.write(b"".join(held))

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None

    # -- httptools callbacks ------------------------------------------------
    def on_message_begin(self) -> None:
        self._url = b""
        self._body = []
        self._body_size = 0
        self._error_type = None

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == ERROR_TYPE_HEADER:
            self._error_type = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self._body_size += len(body)
        # Past the limit we keep counting but stop buffering: the runtime may
        # stream a huge body and we must not hold it in memory.
        if self._body_size <= MAX_RESPONSE_BYTES:
            self._body.append(body)

    def on_message_complete(self) -> None:
        status, body = self._dispatch()
        if status:
            self._write(status, body)

    # -- routing ------------------------------------------------------------
    def _dispatch(self) -> tuple[int, bytes]:
        url = self._url
        method = self._parser.get_method()
        if not url.startswith(API_PREFIX):
            return 404, error_body("NotFound", "Not Found")
        route = url[len(API_PREFIX) :].split(b"?", 1)[0]
        if route == b"invocation/next":
            if method != b"GET":
                return 405, error_body("MethodNotAllowed", "Method Not Allowed")
            self._parked = True
            self._handler.on_next(self)
            return 0, b""  # answered by send_event() when an invocation arrives
        if method != b"POST":
            return 405, error_body("MethodNotAllowed", "Method Not Allowed")
        if route == b"init/error":
            return self._handler.on_init_error(b"".join(self._body), self._error_type)
        parts = route.split(b"/")
        if len(parts) == 3 and parts[0] == b"invocation":
            request_id = parts[1].decode("latin-1")
            if parts[2] == b"response":
                if self._body_size > MAX_RESPONSE_BYTES:
                    return self._handler.on_response_too_large(request_id)
                return self._handler.on_response(request_id, b"".join(self._body))
            if parts[2] == b"error":
                return self._handler.on_error(request_id, b"".join(self._body), self._error_type)
        return 404, error_body("NotFound", "Not Found")

    # -- writing ------------------------------------------------------------
    def send_event(self, headers: bytes, payload: bytes) -> bool:
        """Answer a parked /next with an event. ``headers`` are complete
        ``Name: value\\r\\n`` lines. False if the connection is gone."""
        transport = self._transport
        if transport is None or transport.is_closing():
            return False
        self._parked = False
        event = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n%sContent-Length: %d\r\n\r\n" % (
            headers,
            len(payload),
        )
        held, self._held = self._held, []
        transport.writelines([*held, event, payload])
        return True

    def _write(self, status: int, body: bytes) -> None:
        self._held.append(_http(status, body))
        if not self._in_batch:
            self._flush()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


def _http(status: int, body: bytes) -> bytes:
    return b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
        status,
        _REASONS.get(status, b"Error"),
        len(body),
        body,
    )


BACKLOG = 16
"""Connections a listener holds before they are accepted (a runtime opens one or two)."""


def open_listener(host: str = "127.0.0.1") -> socket.socket:
    """A socket listening on a free loopback port, before anyone serves it:
    connections wait in its backlog until ``listen(handler, listener)``.
    (Not ``create_server(start_serving=False)``: uvloop then binds without
    listening, and with SO_REUSEADDR a second environment could bind the same
    port and take the first one's connections.)"""
    listener = socket.create_server((host, 0), backlog=BACKLOG)
    listener.setblocking(False)
    return listener


async def listen(handler: RuntimeApiHandler, listener: socket.socket) -> asyncio.Server:
    """Serve the Runtime API for ``handler`` on ``listener``, an already listening
    socket (``open_listener``, or the sandbox's for a function without network),
    which the returned server owns from now on."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: RuntimeApiConnection(handler), sock=listener)
