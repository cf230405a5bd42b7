"""An HTTP/1.1 server on httptools: owns the listener and every connection.

Both of lambdalite's HTTP surfaces stand on it: the public port (every AWS API,
through the front router) and each execution environment's Runtime API.
"""

from __future__ import annotations

import asyncio
import resource
import socket
import ssl
import time
from collections.abc import Callable

from lambdalite.http.connection import Driven, ErrorAnswer, Handler, HttpConnection, StreamRoute
from lambdalite.http.limits import Limits
from lambdalite.http.message import Response

FD_RESERVE_FRACTION = 4
"""At most 1/4 of the process's descriptors may go to client connections: the rest
stay for environments, files and the database, so a flood of connections is
answered 503 instead of starving the server (an accept that fails with EMFILE is
accepted and closed by libuv's reserve descriptor)."""
MIN_FD_RESERVE = 64
TICK_MAX_S = 1.0
TICK_MIN_S = 0.02


def plain_error(status: int, message: str) -> Response:
    return Response(status, message.encode(), content_type=b"text/plain; charset=utf-8")


def connection_bound(limits: Limits) -> int:
    """``limits.max_connections``, lowered so that descriptors stay in reserve."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return limits.max_connections
    reserve = max(MIN_FD_RESERVE, soft // FD_RESERVE_FRACTION)
    return max(1, min(limits.max_connections, soft - reserve))


class HttpServer:
    """``HttpServer(handler, limits)``: serve ``handler`` (see ``Handler``) on a
    listener from ``start`` or ``serve``; ``shutdown`` ends it gracefully."""

    def __init__(
        self,
        handler: Handler,
        limits: Limits | None = None,
        *,
        refuse_peer: Callable[[socket.socket], bool] | None = None,
        stream_route: StreamRoute | None = None,
        error_answer: ErrorAnswer = plain_error,
        clock: Callable[[], float] = time.monotonic,
        header_names: frozenset[bytes] | None = None,
        protocol: Callable[[HttpServer], HttpConnection] = HttpConnection,
    ) -> None:
        """``refuse_peer``: asked once per new connection; True closes it unserved.
        ``clock``: what the head and idle timeouts are measured with.
        ``header_names``: the only headers (lower-cased) a request keeps, when the
        handler reads no others (every header still counts against the limits).
        ``protocol``: makes each connection (an HttpConnection subclass may answer
        its requests itself)."""
        self.handler = handler
        self.limits = limits or Limits()
        self.refuse_peer = refuse_peer
        self.stream_route = stream_route
        self.error_answer = error_answer
        self.now = clock
        self.header_names = None if header_names is None else header_names | {b"expect"}
        self._protocol = protocol
        self.clock_now = clock()
        """The clock as of the last sweep: what connections note times with (reading
        an attribute instead of calling a clock on every request; the sweep ticks at
        a quarter of the shortest timeout, so timeouts are kept to within a tick)."""
        self.max_connections = connection_bound(self.limits)
        self.connections: set[HttpConnection] = set()
        self.closing = False
        self.listener: asyncio.Server | None = None
        self._in_flight: set[asyncio.Future[None]] = set()
        """Tasks the connections run (streamed responses)."""
        self._driven: set[Driven] = set()
        """Coroutine handlers that are waiting (see ``connection._Driven``)."""
        self._sweeper: asyncio.TimerHandle | None = None
        timeouts = [t for t in (self.limits.head_timeout_s, self.limits.idle_timeout_s) if t is not None]
        self._tick = min(TICK_MAX_S, max(TICK_MIN_S, min(timeouts) / 4)) if timeouts else None

    def connection(self) -> HttpConnection:
        """The protocol factory."""
        return self._protocol(self)

    async def start(
        self, host: str, port: int, backlog: int = 4096, tls: ssl.SSLContext | None = None
    ) -> asyncio.Server:
        """Listen on ``host``:``port``; with ``tls``, every connection is HTTPS."""
        loop = asyncio.get_running_loop()
        self.listener = await loop.create_server(
            self.connection, host, port, reuse_address=True, backlog=backlog, ssl=tls
        )
        return self.listener

    async def serve(self, sock: socket.socket) -> asyncio.Server:
        """Serve on an already listening socket, which the server owns from now on."""
        loop = asyncio.get_running_loop()
        self.listener = await loop.create_server(self.connection, sock=sock)
        return self.listener

    # -- bookkeeping (called by connections) ---------------------------------
    def added(self, connection: HttpConnection) -> None:
        self.connections.add(connection)
        if self._sweeper is None and self._tick is not None:
            self.clock_now = self.now()
            self._sweeper = asyncio.get_running_loop().call_later(self._tick, self._sweep)

    def removed(self, connection: HttpConnection) -> None:
        self.connections.discard(connection)

    def track(self, future: asyncio.Future[None]) -> None:
        self._in_flight.add(future)
        future.add_done_callback(self._in_flight.discard)

    def driving(self, driven: Driven) -> None:
        """A handler is waiting (not yet answered): the shutdown waits for it."""
        self._driven.add(driven)

    def driven(self, driven: Driven) -> None:
        self._driven.discard(driven)

    def _sweep(self) -> None:
        # One timer for every connection: the hot path only notes times, never arms timers.
        self._sweeper = None
        now = self.clock_now = self.now()
        for connection in list(self.connections):
            connection.check_deadlines(now)
        if self.connections and self._tick is not None:
            self._sweeper = asyncio.get_running_loop().call_later(self._tick, self._sweep)

    async def shutdown(self, grace_s: float) -> None:
        """Stop accepting, let requests in progress finish for up to
        ``grace_s`` seconds, then close every connection."""
        self.closing = True
        if self.listener is not None:
            self.listener.close()
        for connection in list(self.connections):
            if connection.idle:
                connection.close()
        deadline = time.monotonic() + grace_s
        while (self._in_flight or self._driven) and time.monotonic() < deadline:
            waiting = {*self._in_flight, *(driven.finished() for driven in self._driven)}
            await asyncio.wait(waiting, timeout=max(0.0, deadline - time.monotonic()))
        for connection in list(self.connections):
            connection.close()
        for future in list(self._in_flight):
            future.cancel()
        for driven in list(self._driven):
            driven.cancel()
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
