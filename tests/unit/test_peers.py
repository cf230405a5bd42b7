"""peer_uid: the kernel's answer to "who owns the other end of this connection"."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from lambdalite.sandbox.enter import SANDBOX_UID, environment_uid
from lambdalite.sandbox.peers import is_sandboxed, peer_uid


def test_a_local_peer_is_owned_by_our_uid_over_ipv4_and_ipv6() -> None:
    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        with (
            socket.create_server((host, 0), family=family) as server,
            socket.create_connection((host, server.getsockname()[1])),
        ):
            accepted, _ = server.accept()
            with accepted:
                assert peer_uid(accepted) == os.geteuid()


def uid_seen_from(server: socket.socket, uid: int, family: str) -> int | None:
    """peer_uid of a connection to ``server`` from a child running as ``uid``."""
    script = (
        # A socket belongs to the uid that made it: make it after setuid, as a function does.
        "import os, socket, sys\n"
        f"os.setuid({uid}); connection = socket.socket({family})\n"
        f"connection.connect({server.getsockname()!r}); sys.stdin.read()\n"
    )
    child = subprocess.Popen([sys.executable, "-S", "-c", script], stdin=subprocess.PIPE)
    try:
        accepted, _ = server.accept()
        with accepted:
            return peer_uid(accepted)
    finally:
        child.communicate(b"")


@pytest.mark.skipif(os.geteuid() != 0, reason="changing uid needs root")
def test_a_peer_running_as_an_environment_uid_is_named_and_sandboxed() -> None:
    uid = environment_uid(12345)
    with socket.create_server(("127.0.0.1", 0)) as server:
        assert uid_seen_from(server, uid, "socket.AF_INET") == uid
    assert is_sandboxed(uid) and is_sandboxed(SANDBOX_UID)
    assert not is_sandboxed(0) and not is_sandboxed(os.geteuid() or 1000)


def test_a_unix_connection_is_named_by_its_peers_credentials() -> None:
    left, right = socket.socketpair()
    with left, right:
        assert peer_uid(left) == os.geteuid()


@pytest.mark.skipif(os.geteuid() != 0, reason="changing uid needs root")
def test_a_unix_peer_running_as_an_environment_uid_is_named() -> None:
    uid = environment_uid(12346)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(b"\0lambdalite-test-peers-" + str(os.getpid()).encode())
        server.listen(1)
        assert uid_seen_from(server, uid, "socket.AF_UNIX") == uid


def test_a_socket_that_is_neither_tcp_nor_unix_has_no_answer() -> None:
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, 0) as other:
        assert peer_uid(other) is None
