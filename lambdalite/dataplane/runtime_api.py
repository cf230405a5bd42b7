"""The Lambda Runtime API (2018-06-01), served to one execution environment.

Each environment gets its own listener on loopback, so a connection needs no
other identification: whatever arrives on that port speaks for that
environment. It stands on lambdalite's HTTP layer (``lambdalite.http``): each
connection is an ``HttpConnection`` that answers its own requests (the layer
keeps the limits, the order, flow control and the one write per read); every
route but ``next`` answers at once, and ``next`` is a long poll that parks the
connection until ``RuntimeApiConnection.send_event``. Only the error-type header
is kept, and the constant answers (202, 404, 405) are encoded once.

A runtime that pipelines ``POST .../response`` and ``GET .../next`` in one write
gets the 202 together with its next event in one write (one wake-up instead of
two): the 202 is carried by the ``next`` long poll. lambdalite's own bootstraps
are given a cheaper door beside this one (``runtime_channel``); every other
runtime (AWS's runtime interface clients, custom runtimes) uses this API.

Routes (as AWS serves them):
    GET  /2018-06-01/runtime/invocation/next            long-poll for the next event
    POST /2018-06-01/runtime/invocation/{id}/response   the handler's result
    POST /2018-06-01/runtime/invocation/{id}/error      the handler's error
    POST /2018-06-01/runtime/init/error                 initialisation failed
"""

from __future__ import annotations

import asyncio
import socket
from typing import Protocol, TypeVar

import orjson

from lambdalite.http import HttpConnection, HttpRequest, HttpServer, Limits, Response, prepared

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


RuntimeEvent = tuple[str, int, str, str, str | None, str | None, bytes]
"""One invocation as a runtime is handed it, through either door (``send_event``'s
arguments): request id, deadline (epoch ms), invoked ARN, trace id, client context,
Cognito identity (None when absent), payload."""

Parked = TypeVar("Parked", contravariant=True)
"""Where a runtime waits for its next event: a ``RuntimeApiConnection``, or a
``runtime_channel.RuntimeChannel``; both have the same ``send_event``."""


class RuntimeHandler(Protocol[Parked]):
    """What the environment behind a runtime's door (this API, or the channel) must answer.

    Each ``on_*`` returns (status, JSON body) to send to the runtime (the channel
    sends none), except on_next, which answers later through ``parked.send_event``."""

    def on_next(self, parked: Parked) -> None: ...

    def on_response(self, request_id: str, body: bytes) -> tuple[int, bytes]: ...

    def on_response_too_large(self, request_id: str) -> tuple[int, bytes]: ...

    def on_error(self, request_id: str, body: bytes, error_type: str | None) -> tuple[int, bytes]: ...

    def on_init_error(self, body: bytes, error_type: str | None) -> tuple[int, bytes]: ...


class RuntimeApiHandler(RuntimeHandler["RuntimeApiConnection"], Protocol):
    """What the environment behind a Runtime API listener must answer."""

    def accepts_peer(self, connection: socket.socket) -> bool:
        """May whoever is at the other end of ``connection`` use this API?"""
        ...


class RuntimeApiConnection(HttpConnection):
    """One runtime's connection. It answers its own requests (no request object, no
    handler call, when nothing is queued before them), and a ``GET .../next`` parks
    the connection itself until ``send_event``: a warm invoke allocates nothing for
    the long poll, and the answers before it in the same read (the 202 of a
    pipelined POST .../response) go out with the event in one write."""

    __slots__ = ("_environment",)

    def __init__(self, server: HttpServer, environment: RuntimeApiHandler) -> None:
        super().__init__(server)
        self._environment = environment
        self._handler = self._general

    def send_event(self, *event: *RuntimeEvent) -> bool:
        """Answer the parked /next with ``event`` (as ``RuntimeChannel.send_event``).
        False if the connection is gone."""
        request_id, deadline_ms, invoked_arn, trace_id, client_context, cognito_identity, payload = event
        headers = (
            f"Lambda-Runtime-Aws-Request-Id: {request_id}\r\n"
            f"Lambda-Runtime-Deadline-Ms: {deadline_ms}\r\n"
            f"Lambda-Runtime-Invoked-Function-Arn: {invoked_arn}\r\n"
            f"Lambda-Runtime-Trace-Id: {trace_id}\r\n"
        )
        if client_context:
            headers += f"Lambda-Runtime-Client-Context: {client_context}\r\n"
        if cognito_identity:
            headers += f"Lambda-Runtime-Cognito-Identity: {cognito_identity}\r\n"
        head = _EVENT_HEAD % (headers.encode("latin-1", "replace"), len(payload))
        return self.answer_held(head, payload)

    def on_message_complete(self) -> None:
        url = self._url
        if (
            self._busy
            or self._queue
            or self._paused
            or self._stream is not None
            or not self.open
            or self._server.closing
            or not url.startswith(_PREFIX)
            or b"%" in url
            or b"?" in url
            or b"#" in url
            or not self._parser.should_keep_alive()
        ):
            # Anything unusual takes the layer's general path (in order, via _general).
            super().on_message_complete()
            return
        size = self._body_size
        body = b"" if size > MAX_RESPONSE_BYTES or not self._body else b"".join(self._body)
        self._busy = True
        answer = self._route(
            self._parser.get_method(), url[_PREFIX_LEN:].decode("latin-1"), body, size, self._headers
        )
        if answer is not None:
            self._answer(answer, True)

    def _general(self, request: HttpRequest) -> Response | None:
        """The general path: a request that waited its turn, or an unusual one."""
        path = request.path
        if not path.startswith(API_PREFIX):
            return _NOT_FOUND
        return self._route(
            request.method.encode("latin-1"),
            path[len(API_PREFIX) :],
            request.body,
            request.body_size,
            request.headers,
        )

    def _route(
        self, method: bytes, route: str, body: bytes, size: int, headers: dict[bytes, bytes]
    ) -> Response | None:
        """The answer to one request, or None for a /next that is now parked."""
        if route == "invocation/next":
            if method != b"GET":
                return _NOT_ALLOWED
            self.hold()
            self._environment.on_next(self)
            return None
        if method != b"POST":
            return _NOT_ALLOWED
        environment = self._environment
        if route == "init/error":
            return _response(environment.on_init_error(body, _error_type(headers)))
        parts = route.split("/")
        if len(parts) == 3 and parts[0] == "invocation":
            request_id = parts[1]
            if parts[2] == "response":
                if size > MAX_RESPONSE_BYTES:
                    return _response(environment.on_response_too_large(request_id))
                return _response(environment.on_response(request_id, body))
            if parts[2] == "error":
                return _response(environment.on_error(request_id, body, _error_type(headers)))
        return _NOT_FOUND


_PREFIX = API_PREFIX.encode()
_PREFIX_LEN = len(_PREFIX)
_EVENT_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n%sContent-Length: %d\r\n\r\n"


def _error_type(headers: dict[bytes, bytes]) -> str | None:
    error_type = headers.get(ERROR_TYPE_HEADER)
    return error_type.decode("latin-1") if error_type is not None else None


def _response(answer: tuple[int, bytes]) -> Response:
    # The environment answers almost every response with the one ACCEPTED: its wire
    # form is encoded once.
    if answer is ACCEPTED:
        return _ACCEPTED
    return Response(*answer)


def _error(status: int, error_type: str, message: str) -> Response:
    return Response(status, error_body(error_type, message))


_ACCEPTED = prepared(Response(*ACCEPTED))
_NOT_FOUND = prepared(_error(404, "NotFound", "Not Found"))
_NOT_ALLOWED = prepared(_error(405, "MethodNotAllowed", "Method Not Allowed"))


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
        _unrouted,
        LIMITS,
        refuse_peer=lambda sock: not handler.accepts_peer(sock),
        error_answer=_layer_error,
        header_names=frozenset({ERROR_TYPE_HEADER}),
        protocol=lambda server: RuntimeApiConnection(server, handler),
    )


def _unrouted(request: HttpRequest) -> Response:
    """The server's handler, never called: each RuntimeApiConnection answers its own."""
    return Response(500, error_body("ServiceException", "unrouted request"))


async def listen(handler: RuntimeApiHandler, listener: socket.socket) -> asyncio.Server:
    """Serve the Runtime API for ``handler`` on ``listener``, an already listening
    socket (``open_listener``, or the sandbox's for a function without network),
    which the returned server owns from now on."""
    return await server_for(handler).serve(listener)
