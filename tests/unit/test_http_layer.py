"""The HTTP/1.1 layer on its own: a real server on loopback, raw sockets as clients."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from lambdalite.http import (
    Deferred,
    HttpRequest,
    HttpServer,
    Limits,
    Response,
    StreamingResponse,
    encode_response,
)


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 20))


async def serving(handler: Any, limits: Limits | None = None, **options: Any) -> tuple[HttpServer, int]:
    server = HttpServer(handler, limits, **options)
    listener = await server.start("127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    return server, port


async def connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


def get(path: str = "/", extra: bytes = b"") -> bytes:
    return b"GET %s HTTP/1.1\r\nHost: x\r\n%s\r\n" % (path.encode(), extra)


def post(path: str, body: bytes) -> bytes:
    return b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (path.encode(), len(body), body)


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[bytes, bytes], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ")[1])
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
    if headers.get(b"transfer-encoding") == b"chunked":
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            body += chunk[:-2]
        return status, headers, body
    body = await reader.readexactly(int(headers.get(b"content-length", b"0")))
    return status, headers, body


async def closed(reader: asyncio.StreamReader, within: float) -> bool:
    try:
        rest = await asyncio.wait_for(reader.read(), within)
    except (TimeoutError, ConnectionError):
        return False
    return rest == b"" or reader.at_eof()


async def echo(request: HttpRequest) -> Response:
    return Response(200, request.method.encode() + b" " + request.path.encode() + b" " + request.body)


def test_pipelined_requests_are_answered_in_order_and_in_one_write() -> None:
    async def test() -> None:
        server, port = await serving(echo)
        reader, writer = await connect(port)
        writer.write(get("/a") + post("/b", b"xyz") + get("/c"))
        answers = [await read_response(reader) for _ in range(3)]
        assert [body for _, _, body in answers] == [b"GET /a ", b"POST /b xyz", b"GET /c "]
        writer.close()
        await server.shutdown(0)

    run(test)


def test_a_plain_function_handler_needs_no_coroutine_and_a_raising_one_gets_500() -> None:
    def handler(request: HttpRequest) -> Response:
        if request.path == "/boom":
            raise ValueError("boom")
        return Response(201, b"plain")

    async def test() -> None:
        server, port = await serving(handler)
        reader, writer = await connect(port)
        writer.write(get("/") + get("/boom"))
        assert (await read_response(reader))[::2] == (201, b"plain")
        assert (await read_response(reader))[0] == 500
        writer.close()
        await server.shutdown(0)

    run(test)


def test_a_malformed_request_gets_400_and_the_connection_is_closed() -> None:
    async def test() -> None:
        server, port = await serving(echo)
        reader, writer = await connect(port)
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        status, headers, _ = await read_response(reader)
        assert (status, headers[b"connection"]) == (400, b"close")
        assert await closed(reader, 2)
        await server.shutdown(0)

    run(test)


def test_a_half_closed_client_still_gets_the_answer_of_a_slow_handler() -> None:
    async def slow(request: HttpRequest) -> Response:
        await asyncio.sleep(0.05)
        return Response(200, request.body)

    async def test() -> None:
        server, port = await serving(slow)
        reader, writer = await connect(port)
        writer.write(post("/", b"one") + post("/", b"two"))
        writer.write_eof()
        assert (await read_response(reader))[2] == b"one"
        assert (await read_response(reader))[2] == b"two"
        assert await closed(reader, 2)
        await server.shutdown(0)

    run(test)


def test_a_carrying_long_poll_takes_the_answers_before_it_along_in_one_write() -> None:
    parked: list[Deferred] = []

    def handler(request: HttpRequest) -> Response | Deferred:
        if request.path == "/next":
            answer = Deferred(carry=True)
            parked.append(answer)
            return answer
        return Response(202, b"accepted")

    async def test() -> None:
        server, port = await serving(handler)
        reader, writer = await connect(port)
        writer.write(post("/response", b"r") + get("/next"))
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(reader.read(1), 0.2)  # the 202 waits for the event
        assert parked[0].send(Response(200, b"event"))
        first = await reader.read(65536)
        assert b"202" in first
        assert first.endswith(b"event")  # both in one write
        writer.close()
        await server.shutdown(0)

    run(test)


def test_a_slow_head_gets_408_after_the_head_timeout() -> None:
    async def test() -> None:
        server, port = await serving(echo, Limits(head_timeout_s=0.3))
        reader, writer = await connect(port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")
        status, _, body = await read_response(reader)
        assert status == 408
        assert body == b"The request head did not arrive in time."
        assert await closed(reader, 2)
        await server.shutdown(0)

    run(test)


def test_an_idle_connection_is_closed_but_one_parked_on_a_long_poll_is_not() -> None:
    parked: list[Deferred] = []

    def handler(request: HttpRequest) -> Response | Deferred:
        if request.path == "/poll":
            parked.append(Deferred())
            return parked[-1]
        return Response(200)

    async def test() -> None:
        server, port = await serving(handler, Limits(idle_timeout_s=0.3))
        idle_reader, idle_writer = await connect(port)
        idle_writer.write(get("/"))
        await read_response(idle_reader)
        poll_reader, poll_writer = await connect(port)
        poll_writer.write(get("/poll"))
        assert await closed(idle_reader, 3)
        await asyncio.sleep(0.5)
        assert parked[0].send(Response(200, b"late"))
        assert (await read_response(poll_reader))[2] == b"late"
        poll_writer.close()
        await server.shutdown(0)

    run(test)


@pytest.mark.parametrize(
    "head",
    [
        b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n",
        b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(501)) + b"\r\n",
    ],
    ids=["size", "lines"],
)
def test_an_oversized_head_gets_431(head: bytes) -> None:
    async def test() -> None:
        server, port = await serving(echo)
        reader, writer = await connect(port)
        writer.write(head)
        status, _, _ = await read_response(reader)
        assert status == 431
        assert await closed(reader, 2)
        await server.shutdown(0)

    run(test)


def test_a_head_trickling_in_is_cut_off_once_it_passes_the_bound() -> None:
    async def test() -> None:
        server, port = await serving(echo, Limits(max_head_bytes=4096))
        reader, writer = await connect(port)
        writer.write(b"GET / HTTP/1.1\r\nX-Big: ")
        for _ in range(100):
            writer.write(b"a" * 1000)
            await asyncio.sleep(0.005)
            if reader.at_eof() or len(reader._buffer):  # type: ignore[attr-defined]
                break
        status, _, _ = await read_response(reader)
        assert status == 431
        await server.shutdown(0)

    run(test)


def test_connections_beyond_the_bound_get_503() -> None:
    async def test() -> None:
        server, port = await serving(echo, Limits(max_connections=2))
        kept = [await connect(port) for _ in range(2)]
        for reader, writer in kept:
            writer.write(get())
            await read_response(reader)
        reader, _ = await connect(port)
        status, _, _ = await read_response(reader)
        assert status == 503
        assert await closed(reader, 2)
        await server.shutdown(0)

    run(test)


def test_a_client_that_does_not_read_stops_being_read() -> None:
    served = 0

    def handler(request: HttpRequest) -> Response:
        nonlocal served
        served += 1
        return Response(200, b"x" * 10_000)

    async def test() -> None:
        server, port = await serving(handler)
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setblocking(False)
        total = 5000
        data = get() * total
        loop = asyncio.get_running_loop()
        sending = asyncio.ensure_future(loop.sock_sendall(sock, data))
        await asyncio.sleep(0.5)
        assert served < 1000  # bounded by the unsent bound and the socket buffers, not by the client
        one = len(b"".join(encode_response(Response(200, b"x" * 10_000), keep_alive=True)))
        received = 0
        while received < one * total:
            chunk = await loop.sock_recv(sock, 1 << 20)
            assert chunk
            received += len(chunk)
        await sending
        assert served == total
        sock.close()
        await server.shutdown(0)

    run(test)


def test_a_streamed_upload_is_consumed_with_backpressure() -> None:
    seen: list[int] = []

    async def sink(request: HttpRequest) -> Response:
        assert request.stream is not None
        size = 0
        async for chunk in request.stream:
            size += len(chunk)
            await asyncio.sleep(0.001)  # a slow consumer
        seen.append(size)
        return Response(200, b"%d" % size)

    async def test() -> None:
        server, port = await serving(
            echo, stream_route=lambda request: sink if request.path == "/up" else None
        )
        reader, writer = await connect(port)
        size = 8 * 1024 * 1024
        writer.write(b"PUT /up HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size)
        block = b"z" * 65536
        for _ in range(size // len(block)):
            writer.write(block)
            await writer.drain()
        status, _, body = await read_response(reader)
        assert (status, body) == (200, b"%d" % size)
        writer.write(get("/after"))  # the connection goes on serving
        assert (await read_response(reader))[2] == b"GET /after "
        writer.close()
        await server.shutdown(0)

    run(test)


def test_a_body_its_streaming_handler_leaves_unread_is_dropped_and_the_connection_goes_on() -> None:
    async def refuse(request: HttpRequest) -> Response:
        return Response(403, b"no")

    async def test() -> None:
        server, port = await serving(
            echo, Limits(), stream_route=lambda request: refuse if request.path == "/up" else None
        )
        reader, writer = await connect(port)
        size = 4 * 1024 * 1024
        writer.write(b"PUT /up HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size)
        assert (await read_response(reader))[::2] == (403, b"no")
        for _ in range(size // 65536):
            writer.write(b"z" * 65536)
            await writer.drain()
        writer.write(get("/after"))
        assert (await read_response(reader))[2] == b"GET /after "
        writer.close()
        await server.shutdown(0)

    run(test)


def test_a_chunked_upload_streams_too() -> None:
    async def sink(request: HttpRequest) -> Response:
        assert request.stream is not None
        return Response(200, await request.stream.read())

    async def test() -> None:
        server, port = await serving(echo, stream_route=lambda request: sink)
        reader, writer = await connect(port)
        head = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        writer.write(head + b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
        assert (await read_response(reader))[2] == b"abcde"
        writer.close()
        await server.shutdown(0)

    run(test)


@pytest.mark.parametrize("length", [None, 6], ids=["chunked", "known-length"])
def test_a_streaming_response(length: int | None) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for part in (b"ab", b"", b"cd", b"ef"):
            await asyncio.sleep(0)
            yield part

    async def handler(request: HttpRequest) -> StreamingResponse:
        return StreamingResponse(200, chunks(), length=length)

    async def test() -> None:
        server, port = await serving(handler)
        reader, writer = await connect(port)
        writer.write(get() + get())
        for _ in range(2):
            status, headers, body = await read_response(reader)
            assert (status, body) == (200, b"abcdef")
            assert (b"transfer-encoding" in headers) is (length is None)
        writer.close()
        await server.shutdown(0)

    run(test)


async def asking(port: int, path: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A new connection that has sent ``GET path``."""
    reader, writer = await connect(port)
    writer.write(get(path))
    return reader, writer


def test_coroutine_handlers_run_without_a_task_each_in_a_context_of_its_own() -> None:
    """A coroutine handler runs at once, inside the read, and is resumed by what it awaits;
    no task is made for it, and a context variable it sets is its request's alone."""
    import contextvars

    seen: contextvars.ContextVar[str] = contextvars.ContextVar("seen", default="")
    release: asyncio.Future[None] | None = None
    tasks_during: list[int] = []

    async def handler(request: HttpRequest) -> Response:
        nonlocal release
        assert asyncio.current_task() is None  # driven, not a task
        seen.set(request.path)
        if request.path == "/slow":
            release = asyncio.get_running_loop().create_future()
            await release
            await asyncio.sleep(0)  # a bare yield is resumed too
        tasks_during.append(len(asyncio.all_tasks()))
        return Response(200, seen.get().encode())

    async def test() -> None:
        server, port = await serving(handler)
        (slow_reader, slow_writer), (reader, writer) = [
            await asking(port, path) for path in ("/slow", "/fast")
        ]
        assert (await read_response(reader))[::2] == (200, b"/fast")
        assert release is not None and not release.done()
        release.set_result(None)
        assert (await read_response(slow_reader))[::2] == (200, b"/slow")
        assert seen.get() == ""  # nothing leaked into the loop's own context
        assert len(tasks_during) == 2 and max(tasks_during) == len(asyncio.all_tasks())
        for w in (writer, slow_writer):
            w.close()
        await server.shutdown(1.0)

    run(test)


def test_the_shutdown_waits_for_a_waiting_handler_then_cancels_it() -> None:
    cancelled = asyncio.Event()
    finished: list[str] = []

    async def handler(request: HttpRequest) -> Response:
        try:
            await asyncio.sleep(0.05 if request.path == "/short" else 30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        finished.append(request.path)
        return Response(200)

    async def test() -> None:
        server, port = await serving(handler)
        (short_reader, short_writer), (long_reader, long_writer) = [
            await asking(port, path) for path in ("/short", "/long")
        ]
        await asyncio.sleep(0.01)
        await server.shutdown(0.5)  # the short one finishes within the grace, the long one is cancelled
        await asyncio.wait_for(cancelled.wait(), 1)  # cancelled as a task is: at its next step
        assert finished == ["/short"]
        assert (await read_response(short_reader))[0] == 200
        assert await closed(long_reader, 2)
        for w in (short_writer, long_writer):
            w.close()

    run(test)
