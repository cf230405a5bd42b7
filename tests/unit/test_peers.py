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


@pytest.mark.skipif(os.geteuid() != 0, reason="changing uid needs root")
def test_a_peer_running_as_an_environment_uid_is_named_and_sandboxed() -> None:
    uid = environment_uid(12345)
    with socket.create_server(("127.0.0.1", 0)) as server:
        script = (
            # A socket belongs to the uid that made it: make it after setuid, as a function does.
            "import os, socket, sys\n"
            f"os.setuid({uid}); connection = socket.socket()\n"
            f"connection.connect(('127.0.0.1', {server.getsockname()[1]})); sys.stdin.read()\n"
        )
        child = subprocess.Popen([sys.executable, "-S", "-c", script], stdin=subprocess.PIPE)
        try:
            accepted, _ = server.accept()
            with accepted:
                assert peer_uid(accepted) == uid
        finally:
            child.communicate(b"")
    assert is_sandboxed(uid) and is_sandboxed(SANDBOX_UID)
    assert not is_sandboxed(0) and not is_sandboxed(os.geteuid() or 1000)


def test_a_unix_connection_has_no_answer() -> None:
    left, right = socket.socketpair()
    with left, right:
        assert peer_uid(left) is None
