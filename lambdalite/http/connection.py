"""One HTTP/1.1 client connection: parse, serve in order, bound what it may cost.

Requests are served one at a time per connection, in order (HTTP/1.1 answers
pipelined requests in order; a long poll blocks those behind it, as on AWS).
A handler is called as soon as its request is complete. A plain function's
answer costs no task and no trip through the event loop; a coroutine runs at
once too, to its first ``await``, and is resumed by what it waits on without a
task (``Driven``). Every answer produced while one read is parsed goes out in
one write.

Flow control: reading stops while more than ``max_unsent_bytes`` of responses
wait in the transport (the next request is not even started then), while
``max_queued_requests`` requests wait their turn, or while a streamed body's
consumer lags; it resumes when the cause is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import socket
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine
from types import CoroutineType
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import unquote

import httptools

from lambdalite.http.body import BodyStream
from lambdalite.http.message import (
    Deferred,
    HttpRequest,
    Response,
    StreamingResponse,
    encode_head,
    encode_response,
)

if TYPE_CHECKING:
    from lambdalite.http.server import HttpServer

log = logging.getLogger("lambdalite.http")

Answer = Response | StreamingResponse | Deferred
Handler = Callable[[HttpRequest], Answer | Coroutine[Any, Any, Answer] | None]
"""Called once per request. It may return its answer, or be a coroutine function;
it must not raise (whatever it raises is answered with a bare 500 and logged).
None only from an HttpConnection subclass's own handler that called ``hold``."""
StreamRoute = Callable[[HttpRequest], Handler | None]
"""Asked when a request's head is complete: a handler that consumes this request's
body as a stream (``request.stream``), or None to buffer the body as usual."""
ErrorAnswer = Callable[[int, str], Response]
"""The body for an answer the layer gives itself (400, 408, 431, 503), in the
caller's wire shape: (status, message) -> Response."""

_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"

_WRITING = 1
_QUEUE = 2
_STREAM = 4
"""Reasons to stop reading a connection (a bit set)."""


class _Rejected(Exception):
    """A parser callback found the request over a bound; ``status`` says which."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class HttpConnection(asyncio.Protocol):
    __slots__ = (
        "_batch",
        "_body",
        "_body_size",
        "_busy",
        "_carry",
        "_client",
        "_drained",
        "_eof",
        "_handler",
        "_head_bytes",
        "_head_raw",
        "_head_request",
        "_head_since",
        "_headers",
        "_held",
        "_held_size",
        "_holding",
        "_idle_since",
        "_in_head",
        "_keep",
        "_limits",
        "_lines_left",
        "_parser",
        "_paused",
        "_queue",
        "_repeated",
        "_server",
        "_stream",
        "_transport",
        "_url",
        "open",
    )

    def __init__(self, server: HttpServer) -> None:
        self._server = server
        self._limits = server.limits
        self._handler: Handler = server.handler
        """What answers this connection's buffered requests (a subclass may answer itself)."""
        self._keep = server.header_names
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self.open = False
        self._queue: deque[tuple[HttpRequest, Handler]] = deque()
        self._busy = False
        self._batch = False
        """True while one read is parsed: answers are held and written together."""
        self._held: list[bytes] = []
        self._held_size = 0
        self._holding = False
        """A request is kept in progress by ``hold``."""
        self._carry = False
        """The answer in progress is a Deferred that carries the held answers."""
        self._paused = 0
        self._eof = False
        self._drained: asyncio.Future[None] | None = None
        self._url = b""
        self._headers: dict[bytes, bytes] = {}
        self._repeated: list[tuple[bytes, bytes]] | None = None
        self._body: list[bytes] = []
        self._body_size = 0
        self._stream: BodyStream | None = None
        self._head_request: HttpRequest | None = None
        """The request in progress as its head described it, when the stream route was
        asked about it: the same object is completed with its body (routed once)."""
        self._client = ""
        self._in_head = False
        self._head_raw = 0
        """Bytes of the reads that carried nothing but the head in progress."""
        self._head_bytes = 0
        self._lines_left = 0
        """Header lines the request in progress may still have (counted down: one
        comparison with zero per header)."""
        self._head_since: float | None = None
        self._idle_since: float | None = None

    @property
    def idle(self) -> bool:
        return not self._busy and not self._queue and not self._in_head

    # -- asyncio.Protocol ---------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but quack alike.
        self._transport = cast(asyncio.Transport, transport)
        server = self._server
        sock = transport.get_extra_info("socket")
        if sock is not None:
            refuse = server.refuse_peer
            if refuse is not None and refuse(sock):
                transport.close()
                return
            # Without this a small response can wait 40 ms on Nagle + delayed ACK.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if len(server.connections) >= server.max_connections:
            self._reject(503, "Too many open connections; try again later.")
            return
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and peer:
            self._client = str(peer[0])
        self._transport.set_write_buffer_limits(high=server.limits.max_unsent_bytes)
        self.open = True
        self._idle_since = server.clock_now
        server.added(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        self._transport = None
        self._queue.clear()
        if self._stream is not None:
            self._stream.fail(exc or ConnectionResetError("connection closed"))
        self._wake_writer()
        self._server.removed(self)

    def eof_received(self) -> bool:
        # The client half-closed: what it sent is still answered, then we close.
        self._eof = True
        if self._stream is not None and not self._stream.ended:
            self._stream.fail(EOFError("the client closed its side before the body ended"))
        # Keep the transport open for writing while an answer is owed; a partial
        # request can never complete now, so it is owed nothing.
        return self._busy or bool(self._queue)

    def pause_writing(self) -> None:
        self._pause(_WRITING)

    def resume_writing(self) -> None:
        self._resume(_WRITING)
        self._wake_writer()
        if not self._busy:
            self._run_queue()

    def data_received(self, data: bytes) -> None:
        was_in_head = self._in_head
        self._batch = True
        try:
            self._parser.feed_data(data)
        except _Rejected as rejected:
            self._batch = False
            self._reject(rejected.status, rejected.message)
            return
        except httptools.HttpParserError as exc:
            self._batch = False
            cause = exc.__context__ if isinstance(exc.__context__, _Rejected) else None
            if cause is not None:
                self._reject(cause.status, cause.message)
            else:
                self._reject(400, "Malformed HTTP request.")
            return
        self._batch = False
        if was_in_head and self._in_head:
            # A head spread over reads: all of this read is head. (The read a head
            # begins in is checked when the head completes, from what was parsed.)
            self._head_raw += len(data)
            if self._head_raw > self._limits.max_head_bytes:
                self._reject(431, "Request header fields too large.")
                return
        if self._held and not self._carry:
            self._flush()

    # -- httptools callbacks ------------------------------------------------
    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = {}
        self._repeated = None
        self._body = []
        self._body_size = 0
        self._head_request = None
        self._in_head = True
        self._head_raw = 0
        self._head_bytes = 0
        self._lines_left = self._limits.max_header_lines
        self._idle_since = None
        self._head_since = self._server.clock_now

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._head_bytes += len(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_bytes += len(name) + len(value) + 4
        self._lines_left -= 1
        if self._lines_left < 0:
            raise _Rejected(431, f"Too many header lines (the limit is {self._limits.max_header_lines}).")
        key = name.lower()
        keep = self._keep
        if keep is not None and key not in keep:
            return
        headers = self._headers
        if key in headers:
            # Rare (Function URLs join repeats): kept aside so the common case stays one dict store.
            if self._repeated is None:
                self._repeated = []
            self._repeated.append((key, headers[key]))
        headers[key] = value

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_since = None
        if self._head_bytes > self._limits.max_head_bytes:
            raise _Rejected(431, "Request header fields too large.")
        expect = self._headers.get(b"expect")
        if expect is not None and expect.lower() == b"100-continue" and self._transport is not None:
            self._transport.write(_CONTINUE)
        route = self._server.stream_route
        if route is not None:
            request = self._head_request = self._request()
            handler = route(request)
            if handler is not None:
                self._stream = request.stream = BodyStream(
                    self._limits.stream_buffer_bytes, self._stream_drained
                )
                self._enqueue(request, handler)

    def on_body(self, body: bytes) -> None:
        self._body_size += len(body)
        stream = self._stream
        if stream is not None:
            if not stream.feed(body):
                self._pause(_STREAM)
            return
        # Past the limit keep counting, stop buffering: the handler answers 413.
        if self._body_size <= self._limits.max_body:
            self._body.append(body)

    def on_message_complete(self) -> None:
        if self._stream is not None:
            self._stream.end()
            self._stream = None
            return
        request = self._head_request
        if request is None:
            request = self._request()
        else:
            self._head_request = None
            request.body_size = self._body_size
            if self._body and self._body_size <= self._limits.max_body:
                request.body = b"".join(self._body)
        if self._busy or self._queue or self._paused & _WRITING or not self.open:
            self._enqueue(request, self._handler)
        else:
            self._start(request, self._handler)

    def _request(self) -> HttpRequest:
        raw_path = self._url
        query = b""
        if raw_path[:1] != b"/" or b"?" in raw_path or b"#" in raw_path:
            # Not a plain origin-form path: let the parser split it.
            url = httptools.parse_url(raw_path)
            raw_path = url.path or b"/"
            query = url.query or b""
        path = unquote(raw_path.decode("latin-1")) if b"%" in raw_path else raw_path.decode("latin-1")
        too_large = self._body_size > self._limits.max_body
        # By position, in the order of HttpRequest's fields: keywords cost half a
        # microsecond more, on every request.
        return HttpRequest(
            self._parser.get_method().decode("latin-1"),  # method
            path,
            query,
            self._headers,
            b"" if too_large or not self._body else b"".join(self._body),  # body
            self._body_size,
            raw_path,
            self._repeated,
            self._client,
            self._parser.should_keep_alive(),
        )

    # -- serving ------------------------------------------------------------
    def _enqueue(self, request: HttpRequest, handler: Handler) -> None:
        self._queue.append((request, handler))
        if not self._busy:
            self._run_queue()
        elif len(self._queue) >= self._limits.max_queued_requests:
            self._pause(_QUEUE)

    def _run_queue(self) -> None:
        """Start queued requests, in order, while each is answered at once."""
        while self._queue and not self._busy and self.open:
            if self._paused & _WRITING:
                return  # resume_writing() comes back here
            self._start(*self._queue.popleft())
        if self._paused & _QUEUE and len(self._queue) < self._limits.max_queued_requests:
            self._resume(_QUEUE)

    def _start(self, request: HttpRequest, handler: Handler) -> None:
        self._busy = True
        try:
            answer = handler(request)
        except Exception:
            log.exception("unhandled error serving %s %s", request.method, request.path)
            answer = Response(500)
        if type(answer) is CoroutineType or (
            answer is not None and type(answer) is not Response and isinstance(answer, Coroutine)
        ):
            # Run it now, to its first suspension; one that answers without waiting
            # is answered below like a plain function's answer. (The exact type first:
            # an ABC's isinstance costs more than the rest of this method.)
            answer = Driven(self, answer, request).start()
            if answer is None:
                return  # waiting: the driver completes it (``_complete``)
        if request.stream is not None:
            request.stream.discard()
        if type(answer) is Response:
            self._answer(answer, request.keep_alive)
        elif answer is None:
            pass  # a subclass's own handler called hold(): answer_held answers it
        elif isinstance(answer, Deferred):
            if answer.response is not None:
                self._answer(answer.response, request.keep_alive)
            else:
                answer.attach(self)
                self._carry = answer.carry and self._batch
        elif isinstance(answer, Response):
            self._answer(answer, request.keep_alive)
        else:
            self._server.track(asyncio.ensure_future(self._send_stream(answer, request.keep_alive)))

    def _complete(self, answer: Answer, request: HttpRequest) -> None:
        """A coroutine handler's answer, given after it waited."""
        if request.stream is not None:
            request.stream.discard()  # what the handler left unread is dropped, not buffered
        if isinstance(answer, Response):
            self._answer(answer, request.keep_alive)
            self._after_answer()
        elif isinstance(answer, Deferred):
            if answer.response is not None:
                self._answer(answer.response, request.keep_alive)
                self._after_answer()
            else:
                answer.attach(self)
        else:
            self._server.track(asyncio.ensure_future(self._send_stream(answer, request.keep_alive)))

    def finish_deferred(self, response: Response) -> None:
        """A Deferred this connection waits on was answered (see ``Deferred.send``)."""
        self._carry = False
        self._answer(response, True)
        if self._held and not self._batch:
            self._flush()
        self._after_answer()

    def hold(self) -> None:
        """For a subclass that answers a request itself: the request in progress stays
        in progress (a long poll, like a Deferred's) until ``answer_held``; the answers
        before it in the same read wait and go out with its answer in one write."""
        self._busy = True
        self._holding = True
        self._carry = self._batch

    def answer_held(self, head: bytes, body: bytes) -> bool:
        """Answer the request ``hold`` kept in progress with an encoded keep-alive
        response (``head`` ends with the blank line). False when the connection is gone
        (or nothing is held: it was answered before)."""
        if not self._holding or not self.open:
            return False
        self._holding = False
        self._carry = False
        self._busy = False
        held = self._held
        held.append(head)
        if body:
            held.append(body)
        if not self._batch or self._server.closing:
            self._flush()
        if self._server.closing:
            self.close()
            return True
        if self._queue:
            self._run_queue()
        else:
            self._became_free()
        return True

    def _after_answer(self) -> None:
        if not self._batch and self._held:
            self._flush()
        if not self._busy:
            self._run_queue()

    def _answer(self, response: Response, keep_alive: bool) -> None:
        self._busy = False
        if not keep_alive or self._server.closing:
            self._held.extend(encode_response(response, False))
            self._flush()
            self.close()
            return
        encoded = response.encoded
        if encoded:
            self._held.append(encoded)
        else:
            self._held.extend(encode_response(response, True))
        self._held_size += len(response.body)
        if not self._batch or (self._held_size > self._limits.max_unsent_bytes and not self._carry):
            # Past the bound even inside a read: the transport decides whether to pause us.
            self._flush()
        if not self._queue:
            self._became_free()

    def _became_free(self) -> None:
        if self._queue:
            return
        if self._eof:
            self._flush()
            self.close()
            return
        if not self._in_head:
            self._idle_since = self._server.clock_now

    def _flush(self) -> None:
        held, self._held = self._held, []
        self._held_size = 0
        transport = self._transport
        if transport is not None and not transport.is_closing() and held:
            if len(held) == 1:
                transport.write(held[0])
            else:
                transport.writelines(held)

    async def _send_stream(self, response: StreamingResponse, keep_alive: bool) -> None:
        keep_alive = keep_alive and not self._server.closing
        chunked = response.length is None
        length = response.length
        framing = b"Transfer-Encoding: chunked\r\n" if length is None else b"Content-Length: %d\r\n" % length
        head = encode_head(response.status, response.content_type, framing, response.headers)
        head += b"\r\n" if keep_alive else b"Connection: close\r\n\r\n"
        self._held.append(head)
        self._flush()
        try:
            async for chunk in _chunks(response):
                if not self.open:
                    return
                if chunked:
                    if chunk:
                        self._write([b"%x\r\n" % len(chunk), chunk, b"\r\n"])
                else:
                    self._write([chunk])
                if self._paused & _WRITING:
                    await self._writable()
            if chunked:
                self._write([b"0\r\n\r\n"])
        except Exception:
            # The head is out: the only honest signal left is to cut the connection.
            log.exception("streaming response failed")
            self.close()
            return
        self._busy = False
        if not keep_alive:
            self.close()
            return
        self._became_free()
        self._run_queue()

    def _write(self, buffers: list[bytes]) -> None:
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.writelines(buffers)

    async def _writable(self) -> None:
        while self._paused & _WRITING and self.open:
            self._drained = asyncio.get_running_loop().create_future()
            await self._drained

    def _wake_writer(self) -> None:
        drained, self._drained = self._drained, None
        if drained is not None and not drained.done():
            drained.set_result(None)

    def _stream_drained(self) -> None:
        self._resume(_STREAM)

    # -- flow control -------------------------------------------------------
    def _pause(self, reason: int) -> None:
        if not self._paused and self._transport is not None:
            with contextlib.suppress(RuntimeError):
                self._transport.pause_reading()
        self._paused |= reason

    def _resume(self, reason: int) -> None:
        if not self._paused & reason:
            return
        self._paused &= ~reason
        if not self._paused and self._transport is not None and not self._transport.is_closing():
            if self._in_head:
                self._head_since = self._server.clock_now
            with contextlib.suppress(RuntimeError):
                self._transport.resume_reading()

    # -- deadlines ----------------------------------------------------------
    def check_deadlines(self, now: float) -> None:
        """Called periodically by the server: enforce the head and idle timeouts."""
        limits = self._limits
        head_since = self._head_since
        if head_since is not None and limits.head_timeout_s is not None and not self._paused:
            # (While we are not reading, the rest of a head cannot arrive: no deadline.)
            if now - head_since > limits.head_timeout_s:
                if self._busy or self._queue:
                    self.close()  # an answer ahead of it is still owed: no room for a 408
                else:
                    self._reject(408, "The request head did not arrive in time.")
            return
        idle_since = self._idle_since
        if (
            idle_since is not None
            and limits.idle_timeout_s is not None
            and self.idle
            and now - idle_since > limits.idle_timeout_s
        ):
            self.close()

    # -- ending -------------------------------------------------------------
    def _reject(self, status: int, message: str) -> None:
        """Answer a bound or a malformed request, then close."""
        transport = self._transport
        if transport is not None and not transport.is_closing():
            response = self._server.error_answer(status, message)
            self._held.extend(encode_response(response, keep_alive=False))
            self._flush()
        self.close()

    def close(self) -> None:
        self.open = False
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()


async def _chunks(response: StreamingResponse) -> AsyncIterator[bytes]:
    async for chunk in response.chunks:
        yield chunk


class Driven:
    """A coroutine handler driven without a task: started at once, inside the read that
    completed its request, and resumed by the futures it waits on, in a context of its
    own (as a task's). Most answers wait once or twice (an invocation waits for its
    environment's response); a task per request cost a scheduling round trip and more
    than the rest of the HTTP layer's work.

    The server counts it in flight until it answers; ``cancel`` cancels the future it
    waits on, which raises CancelledError at its ``await``, as a task's cancel does.
    ``asyncio.current_task()`` is None inside it: handlers must not depend on a task
    (``asyncio.timeout`` does; ``asyncio.wait_for`` does not)."""

    __slots__ = ("_connection", "_context", "_coro", "_done", "_request", "_waiting")

    def __init__(
        self, connection: HttpConnection, coro: Coroutine[Any, Any, Answer], request: HttpRequest
    ) -> None:
        self._connection = connection
        self._coro = coro
        self._request = request
        self._context = contextvars.copy_context()
        self._waiting: asyncio.Future[Any] | None = None
        self._done: asyncio.Future[None] | None = None

    def start(self) -> Answer | None:
        """Run to the first suspension: the answer if there was none (else None)."""
        finished, answer = self._context.run(self._step)
        if finished:
            return answer  # (None only when cancelled by a shutdown: nothing to answer)
        self._connection._server.driving(self)
        return None

    def _step(self) -> tuple[bool, Answer | None]:
        """One resumption, inside the context: (True, answer) once it returned."""
        try:
            waiting = self._coro.send(None)
        except StopIteration as stop:
            return True, stop.value
        except asyncio.CancelledError:
            if self._connection._server.closing:
                self._connection.close()  # cancelled by the shutdown: nothing more to say
                return True, None
            request = self._request
            log.exception("cancelled while serving %s %s", request.method, request.path)
            return True, Response(500)
        except Exception:
            request = self._request
            log.exception("unhandled error serving %s %s", request.method, request.path)
            return True, Response(500)
        if getattr(waiting, "_asyncio_future_blocking", None):
            waiting._asyncio_future_blocking = False
            self._waiting = waiting
            waiting.add_done_callback(self._resume, context=self._context)
        elif waiting is None:  # a bare yield (asyncio.sleep(0)): run again soon
            asyncio.get_running_loop().call_soon(self._resume, None, context=self._context)
        else:
            self._coro.close()
            log.error("a handler awaited %r, which is not an asyncio future", waiting)
            return True, Response(500)
        return False, None

    def _resume(self, _future: object) -> None:
        self._waiting = None
        finished, answer = self._step()
        if finished:
            self._connection._server.driven(self)
            if self._done is not None and not self._done.done():
                self._done.set_result(None)
            if answer is not None:
                self._connection._complete(answer, self._request)

    def cancel(self) -> None:
        waiting = self._waiting
        if waiting is not None:
            waiting.cancel()

    def finished(self) -> asyncio.Future[None]:
        """A future set once it has answered (for a server shutting down)."""
        if self._done is None:
            self._done = asyncio.get_running_loop().create_future()
        return self._done
