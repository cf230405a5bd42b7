"""The Runtime API's listener on its own: a real server on loopback, a raw socket as the runtime."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

import orjson

from lambdalite.dataplane import runtime_api
from tests.unit.test_http_layer import read_response

API = "/2018-06-01/runtime"
EVENT_FIELDS = ("req-1", 1, "arn:aws:lambda:us-east-1:000000000000:function:f", "Root=1-1-1", None, None)
"""An event's fields, as ``send_event`` takes them before the payload."""


class Environment:
    """Records what the runtime said; accepts request id ``req-1`` only."""

    def __init__(self) -> None:
        self.parked: list[runtime_api.RuntimeApiConnection] = []
        self.calls: list[tuple[str, ...]] = []

    def accepts_peer(self, connection: socket.socket) -> bool:
        return True

    def on_next(self, connection: runtime_api.RuntimeApiConnection) -> None:
        self.parked.append(connection)

    def _check(self, request_id: str) -> tuple[int, bytes]:
        if request_id != "req-1":
            return 400, runtime_api.error_body("InvalidRequestID", "Invalid request ID")
        return runtime_api.ACCEPTED

    def on_response(self, request_id: str, body: bytes) -> tuple[int, bytes]:
        self.calls.append(("response", request_id, body.decode()))
        return self._check(request_id)

    def on_response_too_large(self, request_id: str) -> tuple[int, bytes]:
        self.calls.append(("too large", request_id))
        return 413, runtime_api.error_body("RequestEntityTooLarge", "too large")

    def on_error(self, request_id: str, body: bytes, error_type: str | None) -> tuple[int, bytes]:
        self.calls.append(("error", request_id, body.decode(), str(error_type)))
        return self._check(request_id)

    def on_init_error(self, body: bytes, error_type: str | None) -> tuple[int, bytes]:
        self.calls.append(("init error", body.decode(), str(error_type)))
        return runtime_api.ACCEPTED


def request(method: str, path: str, body: bytes = b"", headers: bytes = b"") -> bytes:
    return b"%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%sContent-Length: %d\r\n\r\n%s" % (
        method.encode(),
        path.encode(),
        headers,
        len(body),
        body,
    )


def with_runtime(
    test: Callable[[Environment, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> None:
    async def main() -> None:
        environment = Environment()
        listener = runtime_api.open_listener()
        port = listener.getsockname()[1]
        server = await runtime_api.listen(environment, listener)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            await test(environment, reader, writer)
        finally:
            writer.close()
            server.close()

    asyncio.run(asyncio.wait_for(main(), 20))


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0.005)


def test_a_pipelined_response_and_next_get_the_202_with_the_next_event_in_one_write() -> None:
    async def test(
        environment: Environment, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        writer.write(request("GET", f"{API}/invocation/next"))
        await settle()
        assert len(environment.parked) == 1
        assert environment.parked[0].send_event(*EVENT_FIELDS, b'{"n": 1}')
        status, headers, body = await read_response(reader)
        assert (status, body, headers[b"lambda-runtime-aws-request-id"]) == (200, b'{"n": 1}', b"req-1")

        writer.write(request("POST", f"{API}/invocation/req-1/response", b'{"ok":1}'))
        writer.write(request("GET", f"{API}/invocation/next"))
        await settle()
        # The 202 waits for the event it is carried with.
        assert environment.calls == [("response", "req-1", '{"ok":1}')]
        assert not reader._buffer  # type: ignore[attr-defined]
        assert len(environment.parked) == 2
        assert environment.parked[1].send_event(*EVENT_FIELDS, b"{}")
        assert (await read_response(reader))[:3:2] == (202, b'{"status":"OK"}')
        assert (await read_response(reader))[:3:2] == (200, b"{}")
        assert not environment.parked[1].send_event(*EVENT_FIELDS, b"{}")  # answered already

    with_runtime(test)


def test_errors_init_errors_and_their_error_type_reach_the_environment() -> None:
    async def test(
        environment: Environment, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        error_type = b"Lambda-Runtime-Function-Error-Type: Runtime.Boom\r\nX-Other: 1\r\n"
        writer.write(request("POST", f"{API}/init/error", b"init", error_type))
        assert (await read_response(reader))[0] == 202
        writer.write(request("POST", f"{API}/invocation/req-1/error", b"bad", error_type))
        assert (await read_response(reader))[0] == 202
        writer.write(request("POST", f"{API}/invocation/other/response", b"x"))
        status, _, body = await read_response(reader)
        assert (status, orjson.loads(body)["errorType"]) == (400, "InvalidRequestID")
        assert environment.calls == [
            ("init error", "init", "Runtime.Boom"),
            ("error", "req-1", "bad", "Runtime.Boom"),
            ("response", "other", "x"),
        ]

    with_runtime(test)


def test_unknown_routes_get_404_and_wrong_methods_405() -> None:
    async def test(
        environment: Environment, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        for method, path, status, kind in (
            ("GET", "/nowhere", 404, "NotFound"),
            ("POST", f"{API}/invocation/req-1/nothing", 404, "NotFound"),
            ("POST", f"{API}/invocation/next", 405, "MethodNotAllowed"),
            ("GET", f"{API}/invocation/req-1/response", 405, "MethodNotAllowed"),
        ):
            writer.write(request(method, path))
            answer, _, body = await read_response(reader)
            assert (answer, orjson.loads(body)["errorType"]) == (status, kind), (method, path)
        assert environment.calls == []

    with_runtime(test)


def test_a_percent_encoded_or_queried_path_is_decoded_as_the_layer_does() -> None:
    async def test(
        environment: Environment, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        writer.write(request("POST", f"{API}/invocation/req%2D1/response?x=1", b"{}"))
        assert (await read_response(reader))[0] == 202
        writer.write(request("GET", f"{API}/invocation/next?wait=1"))
        await settle()
        assert environment.calls == [("response", "req-1", "{}")]
        assert len(environment.parked) == 1

    with_runtime(test)


def test_requests_behind_a_parked_next_are_answered_in_order_after_its_event() -> None:
    async def test(
        environment: Environment, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        writer.write(
            request("GET", f"{API}/invocation/next")
            + request("POST", f"{API}/invocation/req-1/response", b"r")
        )
        await settle()
        assert environment.calls == []  # waits its turn behind the long poll
        assert environment.parked[0].send_event(*EVENT_FIELDS, b"e")
        assert (await read_response(reader))[:3:2] == (200, b"e")
        assert (await read_response(reader))[0] == 202
        assert environment.calls == [("response", "req-1", "r")]

    with_runtime(test)


def test_a_response_past_the_limit_is_counted_not_kept() -> None:
    async def test(
        environment: Environment, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        body = b"x" * (runtime_api.MAX_RESPONSE_BYTES + 1)
        writer.write(request("POST", f"{API}/invocation/req-1/response", body))
        assert (await read_response(reader))[0] == 413
        assert environment.calls == [("too large", "req-1")]

    with_runtime(test)
