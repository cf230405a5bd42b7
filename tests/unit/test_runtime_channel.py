"""The Runtime API on an environment's abstract Unix socket (``dataplane.runtime_channel``)."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import uvloop

from lambdalite.dataplane import runtime_api, runtime_channel
from lambdalite.sandbox.peers import peer_uid

NEXT = b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n"
NOBODY = 65534


@pytest.mark.parametrize(
    ("runtime", "network", "offered"),
    [
        ("python3.12", True, True),
        ("python3.9", True, True),
        ("python3.12", False, False),  # its own network namespace cannot see the host's names
        ("nodejs20.x", True, False),  # not our bootstrap: AWS_LAMBDA_RUNTIME_API only
        ("provided.al2023", True, False),
    ],
)
def test_only_our_python_bootstrap_with_the_host_network_is_offered_the_socket(
    runtime: str, network: bool, offered: bool
) -> None:
    assert runtime_channel.offered(runtime, network) is offered


def test_the_listener_is_abstract_and_named_after_its_environment() -> None:
    env_id = uuid.uuid4().hex
    listener = runtime_channel.open_listener(env_id)
    try:
        name = f"@lambdalite-runtime-api-{env_id}"
        assert runtime_channel.address(listener) == name
        assert runtime_channel.variables(listener) == {"LAMBDALITE_RUNTIME_API_SOCKET": name}
        assert listener.getblocking() is False
        with pytest.raises(OSError):  # the name is taken while it listens
            runtime_channel.open_listener(env_id)
    finally:
        listener.close()


class OneUid:
    """A Runtime API handler that serves one uid and answers the first /next with an event."""

    def __init__(self, uid: int) -> None:
        self.uid = uid
        self.peers: list[int | None] = []

    def accepts_peer(self, connection: socket.socket) -> bool:
        self.peers.append(peer_uid(connection))
        return self.peers[-1] == self.uid

    def on_next(self, connection: runtime_api.RuntimeApiConnection) -> None:
        connection.send_event(b"Lambda-Runtime-Aws-Request-Id: r1\r\n", b'{"n": 1}')

    def on_response(self, request_id: str, body: bytes) -> tuple[int, bytes]:
        return runtime_api.ACCEPTED

    def on_response_too_large(self, request_id: str) -> tuple[int, bytes]:
        return runtime_api.ACCEPTED

    def on_error(self, request_id: str, body: bytes, error_type: str | None) -> tuple[int, bytes]:
        return runtime_api.ACCEPTED

    def on_init_error(self, body: bytes, error_type: str | None) -> tuple[int, bytes]:
        return runtime_api.ACCEPTED


def knock(name: bytes, as_uid: int | None) -> bytes:
    """Connect to ``name`` (from a child running as ``as_uid``, when given), ask for
    the next event and return what came back (b"" when closed unanswered)."""
    if as_uid is None:
        return _knock(name)
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.close(reader)
            os.setgid(as_uid)
            os.setuid(as_uid)
            os.write(writer, _knock(name) or b"-")
        finally:
            os._exit(0)
    os.close(writer)
    try:
        answer = os.read(reader, 4096)
    finally:
        os.close(reader)
        os.waitpid(pid, 0)
    return b"" if answer == b"-" else answer


def _knock(name: bytes) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(name)
        sock.sendall(NEXT)
        try:
            return sock.recv(4096)
        except ConnectionResetError:
            return b""


async def served_answers(handler: OneUid, uids: list[int | None]) -> list[bytes]:
    listener = runtime_channel.open_listener(uuid.uuid4().hex)
    name = listener.getsockname()
    server = await runtime_channel.serve(handler, listener)
    try:
        return [await asyncio.to_thread(knock, name, uid) for uid in uids]
    finally:
        server.close()
        await server.wait_closed()


Runner = Callable[[Coroutine[Any, Any, list[bytes]]], list[bytes]]


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest) -> Runner:
    """The server runs on uvloop, whose transports hand out a pseudo-socket: both loops."""
    return asyncio.run if request.param == "asyncio" else uvloop.run


def test_its_own_uid_is_served_over_the_socket(run: Runner) -> None:
    handler = OneUid(os.getuid())
    [answer] = run(served_answers(handler, [None]))
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"Lambda-Runtime-Aws-Request-Id: r1\r\n" in answer
    assert answer.endswith(b'\r\n\r\n{"n": 1}')
    assert handler.peers == [os.getuid()]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to connect as another uid")
def test_another_uid_is_closed_unanswered_like_on_tcp(run: Runner) -> None:
    handler = OneUid(os.getuid())
    answers = run(served_answers(handler, [NOBODY, None]))
    assert answers[0] == b""
    assert answers[1].startswith(b"HTTP/1.1 200 OK\r\n")  # the owner still is served
    assert handler.peers == [NOBODY, os.getuid()]
