"""The Lambda Runtime API (2018-06-01), served to one execution environment.

Each environment gets its own listener on loopback, so a connection needs no
other identification: whatever arrives on that port speaks for that
environment. It stands on lambdalite's HTTP layer (``lambdalite.http``) with
plain functions as handlers: every route but ``next`` answers at once, with no
task, and ``next`` is a long poll answered by ``RuntimeApiConnection.send_event``.

A runtime that pipelines ``POST .../response`` and ``GET .../next`` in one write
gets the 202 together with its next event in one write (one wake-up instead of
two): the 202 is carried by the ``next`` long poll.

Routes (as AWS serves them):
    GET  /2018-06-01/runtime/invocation/next            long-poll for the next event
    POST /2018-06-01/runtime/invocation/{id}/response   the handler's result
    POST /2018-06-01/runtime/invocation/{id}/error      the handler's error
    POST /2018-06-01/runtime/init/error                 initialisation failed
"""

from __future__ import annotations

import asyncio
import socket
from typing import Protocol

import orjson

from lambdalite.http import Deferred, HttpRequest, HttpServer, Limits, Response

API_PREFIX = "/2018-06-01/runtime/"
MAX_RESPONSE_BYTES = 6 * 1024 * 1024 + 100
"""AWS accepts a function response of at most 6291556 bytes (6 MB plus a little framing)."""

ERROR_TYPE_HEADER = b"lambda-runtime-function-error-type"

ACCEPTED = (202, b'{"status":"OK"}')

LIMITS = Limits(idle_timeout_s=None, max_body=MAX_RESPONSE_BYTES)
"""No idle timeout: between an event and its response the runtime's connection is
quiet for as long as the function runs (up to 900 s)."""


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


class RuntimeApiConnection(Deferred):
    """A runtime's ``GET .../next``, waiting for an event. It carries the answers
    before it in the same read (the 202 of a pipelined POST .../response)."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(carry=True)

    def send_event(self, headers: bytes, payload: bytes) -> bool:
        """Answer the parked /next with an event. ``headers`` are complete
        ``Name: value\\r\\n`` lines. False if the connection is gone."""
        return self.send(Response(200, payload, raw_headers=headers))


class _Routes:
    """The Runtime API's one handler: a plain function per request."""

    __slots__ = ("_handler",)

    def __init__(self, handler: RuntimeApiHandler) -> None:
        self._handler = handler

    def __call__(self, request: HttpRequest) -> Response | Deferred:
        path = request.path
        if not path.startswith(API_PREFIX):
            return _error(404, "NotFound", "Not Found")
        route = path[len(API_PREFIX) :]
        method = request.method
        if route == "invocation/next":
            if method != "GET":
                return _error(405, "MethodNotAllowed", "Method Not Allowed")
            answer = RuntimeApiConnection()
            self._handler.on_next(answer)
            return answer
        if method != "POST":
            return _error(405, "MethodNotAllowed", "Method Not Allowed")
        error_type = request.headers.get(ERROR_TYPE_HEADER)
        kind = error_type.decode("latin-1") if error_type is not None else None
        if route == "init/error":
            status, body = self._handler.on_init_error(request.body, kind)
            return Response(status, body)
        parts = route.split("/")
        if len(parts) == 3 and parts[0] == "invocation":
            request_id = parts[1]
            if parts[2] == "response":
                if request.body_size > MAX_RESPONSE_BYTES:
                    status, body = self._handler.on_response_too_large(request_id)
                else:
                    status, body = self._handler.on_response(request_id, request.body)
                return Response(status, body)
            if parts[2] == "error":
                status, body = self._handler.on_error(request_id, request.body, kind)
                return Response(status, body)
        return _error(404, "NotFound", "Not Found")


def _error(status: int, error_type: str, message: str) -> Response:
    return Response(status, error_body(error_type, message))


def _layer_error(status: int, message: str) -> Response:
    kind = "InvalidRequest" if status == 400 else "RequestRejected"
    return _error(status, kind, message)


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


def server_for(handler: RuntimeApiHandler) -> HttpServer:
    """The HTTP server that answers the Runtime API for ``handler``."""
    return HttpServer(
        _Routes(handler),
        LIMITS,
        refuse_peer=lambda sock: not handler.accepts_peer(sock),
        error_answer=_layer_error,
    )


async def listen(handler: RuntimeApiHandler, listener: socket.socket) -> asyncio.Server:
    """Serve the Runtime API for ``handler`` on ``listener``, an already listening
    socket (``open_listener``, or the sandbox's for a function without network),
    which the returned server owns from now on."""
    return await server_for(handler).serve(listener)
