"""The runtime channel on its own: the server's end (``RuntimeChannel``) on a real
event loop, our Python bootstrap's client (``RuntimeChannelClient``) in a thread,
over real pipes (``open_channel``)."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from lambdalite.dataplane import runtime_api, runtime_channel
from lambdalite.runtimes.lookup import PYTHON_BOOTSTRAP


def load_bootstrap() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bootstrap_under_test", PYTHON_BOOTSTRAP)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bootstrap = load_bootstrap()

ARN = "arn:aws:lambda:us-east-1:000000000000:function:f"


class Environment:
    """Records what the runtime said through the channel; hands out queued events on next."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.events: list[tuple[Any, ...]] = []
        self.next_asked = asyncio.Event()

    def on_next(self, parked: runtime_channel.RuntimeChannel) -> None:
        self.calls.append(("next",))
        if self.events:
            assert parked.send_event(*self.events.pop(0))
        self.next_asked.set()

    def on_response(self, request_id: str, body: bytes) -> tuple[int, bytes]:
        self.calls.append(("response", request_id, body))
        return runtime_api.ACCEPTED

    def on_response_too_large(self, request_id: str) -> tuple[int, bytes]:
        self.calls.append(("too large", request_id))
        return 413, b""

    def on_error(self, request_id: str, body: bytes, error_type: str | None) -> tuple[int, bytes]:
        self.calls.append(("error", request_id, body, error_type))
        return runtime_api.ACCEPTED

    def on_init_error(self, body: bytes, error_type: str | None) -> tuple[int, bytes]:
        self.calls.append(("init error", body, error_type))
        return runtime_api.ACCEPTED


def with_channel(runtime: Callable[[Any], Any], events: list[tuple[Any, ...]]) -> tuple[Environment, Any]:
    """Serve ``events`` to ``runtime(client)``, run in a thread, until it returns;
    (the environment, what it returned)."""

    async def main() -> tuple[Environment, Any]:
        environment = Environment()
        environment.events = list(events)
        ours, theirs = runtime_channel.open_channel()
        channel = runtime_channel.RuntimeChannel(asyncio.get_running_loop(), environment, *ours)
        client = bootstrap.RuntimeChannelClient("{},{}".format(*theirs))
        try:
            result = await asyncio.to_thread(runtime, client)
        finally:
            client.close()
        await asyncio.sleep(0.05)  # whatever it wrote last reaches the server
        channel.close()
        return environment, result

    return asyncio.run(main())


def event(request_id: str, payload: bytes, **fields: Any) -> tuple[Any, ...]:
    return (
        request_id,
        fields.get("deadline_ms", 1_765_000_000_000),
        ARN,
        fields.get("trace", "Root=1-2-3;Sampled=0"),
        fields.get("client_context"),
        fields.get("identity"),
        payload,
    )


def test_an_event_reaches_the_runtime_with_every_field_and_its_response_asks_for_the_next() -> None:
    context = '{"custom": {"é": "ü"}}'
    identity = '{"cognitoIdentityId": "id-1", "cognitoIdentityPoolId": "pool"}'
    events = [
        event("req-1", b'{"n": 1}', client_context=context, identity=identity, deadline_ms=123),
        event("req-2", b"{}", trace=""),
    ]

    def runtime(client: Any) -> list[Any]:
        first = client.next()
        second = client.respond("req-1", b'{"ok": 1}', b"application/json")
        return [first, second]

    environment, (first, second) = with_channel(runtime, events)
    assert first == (
        "req-1",
        123,
        ARN,
        "Root=1-2-3;Sampled=0",
        context,
        identity,
        "application/json",
        b'{"n": 1}',
    )
    assert second[0] == "req-2" and second[3] is None and second[4] is None and second[5] is None
    assert environment.calls == [("next",), ("response", "req-1", b'{"ok": 1}'), ("next",)]


def test_an_error_carries_its_type_and_also_asks_for_the_next() -> None:
    def runtime(client: Any) -> Any:
        client.next()
        return client.fail("req-1", b'{"errorType": "KeyError"}')

    environment, after = with_channel(runtime, [event("req-1", b"1"), event("req-2", b"2")])
    assert after[0] == "req-2"
    assert environment.calls[1] == ("error", "req-1", b'{"errorType": "KeyError"}', "Unhandled")


def test_large_events_and_responses_cross_the_pipes_whole() -> None:
    big_event = b'"' + b"e" * (3 * 1024 * 1024) + b'"'
    big_response = b"r" * (5 * 1024 * 1024)

    def runtime(client: Any) -> Any:
        got = client.next()
        return client.respond("req-1", big_response, b"application/json")[0], got[7]

    environment, (after, payload) = with_channel(runtime, [event("req-1", big_event), event("req-2", b"{}")])
    assert payload == big_event and after == "req-2"
    assert environment.calls[1] == ("response", "req-1", big_response)


def test_a_response_over_the_limit_is_refused_and_dropped_and_the_next_request_still_parses() -> None:
    too_large = b"x" * (runtime_api.MAX_RESPONSE_BYTES + 1)

    def runtime(client: Any) -> Any:
        client.next()
        second = client.respond("req-1", too_large, b"application/json")
        return client.respond(second[0], b"small", b"application/json")[0]

    environment, last = with_channel(
        runtime, [event("req-1", b"1"), event("req-2", b"2"), event("req-3", b"3")]
    )
    assert last == "req-3"
    assert environment.calls == [
        ("next",),
        ("too large", "req-1"),
        ("next",),
        ("response", "req-2", b"small"),
        ("next",),
    ]


def test_an_init_error_is_delivered_without_an_answer() -> None:
    def runtime(client: Any) -> None:
        client.init_error("Runtime.ImportModuleError", b'{"errorType": "Runtime.ImportModuleError"}')

    environment, _ = with_channel(runtime, [])
    assert environment.calls == [
        ("init error", b'{"errorType": "Runtime.ImportModuleError"}', "Runtime.ImportModuleError")
    ]


def test_the_runtime_learns_that_the_platform_is_gone() -> None:
    async def main() -> None:
        ours, theirs = runtime_channel.open_channel()
        channel = runtime_channel.RuntimeChannel(asyncio.get_running_loop(), Environment(), *ours)
        client = bootstrap.RuntimeChannelClient("{},{}".format(*theirs))
        channel.close()
        channel.close()  # idempotent
        with pytest.raises(bootstrap.RuntimeApiGone):
            await asyncio.to_thread(client.next)
        client.close()

    asyncio.run(main())


def test_the_server_closes_a_channel_whose_runtime_is_gone_or_speaks_something_else() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        ours, (events_read, requests_write) = runtime_channel.open_channel()
        channel = runtime_channel.RuntimeChannel(loop, Environment(), *ours)
        os.write(requests_write, b"GET / HTTP/1.1\r\n\r\n")
        for _ in range(100):
            if not channel.open:
                break
            await asyncio.sleep(0.01)
        assert not channel.open
        assert not channel.send_event(*event("req-1", b"{}"))
        ours, (events_read2, requests_write2) = runtime_channel.open_channel()
        gone = runtime_channel.RuntimeChannel(loop, Environment(), *ours)
        os.close(requests_write2)  # every writer gone: EOF
        for _ in range(100):
            if not gone.open:
                break
            await asyncio.sleep(0.01)
        assert not gone.open
        for fd in (events_read, requests_write, events_read2):
            os.close(fd)

    asyncio.run(main())


def test_the_runtimes_ends_are_not_inherited_by_programs_it_runs() -> None:
    _, (events_read, requests_write) = runtime_channel.open_channel()
    os.set_inheritable(events_read, True)  # as pass_fds hands them over
    os.set_inheritable(requests_write, True)
    client = bootstrap.RuntimeChannelClient(f"{events_read},{requests_write}")
    assert not os.get_inheritable(events_read) and not os.get_inheritable(requests_write)
    client.close()
    assert threading.active_count() >= 1
