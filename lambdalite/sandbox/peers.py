"""Who is at the other end of a local TCP connection: its owner's uid.

A function with the host's network can connect to any loopback port: the
lambdalite API and every environment's Runtime API included. As root, every
environment runs as a uid of its own (``enter.environment_uid`` at namespace
level, ``process.UID_BASE`` + a slot at process level), so the owner of a
connection's other end says which sandbox, if any, it comes from: the API
refuses sandboxes, and a Runtime API accepts only its own.

The owner is asked of the kernel with one sock_diag netlink request for the
exact connection (the same facility ``ss -p`` uses); no /proc walk. A peer on
another host, or in another network namespace, is not found (None).
"""

from __future__ import annotations

import socket
import struct

from lambdalite.sandbox import process
from lambdalite.sandbox.enter import ENVIRONMENT_UID_BASE, ENVIRONMENT_UID_SPAN, SANDBOX_UID
from lambdalite.sandbox.netns import is_environment_address

_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST = 0x1
_NLMSG_ERROR = 0x2
_NO_COOKIE = 0xFFFFFFFF
_ALL_STATES = 0xFFFFFFFF
_HEADER = struct.Struct("=IHHII")
_REQUEST = struct.Struct("=BBBBI2s2s16s16sIII")
_UID_OFFSET = _HEADER.size + 4 + 48 + 12
"""inet_diag_msg: family, state, timer, retrans; the 48-byte socket id; expires, rqueue, wqueue; uid."""


def is_sandboxed(uid: int) -> bool:
    """Does ``uid`` belong to a function: any environment's own uid (namespace or
    process level), or the shared sandbox uid?"""
    return (
        uid == SANDBOX_UID
        or ENVIRONMENT_UID_BASE <= uid < ENVIRONMENT_UID_BASE + ENVIRONMENT_UID_SPAN
        or process.UID_BASE <= uid < process.UID_BASE + process.SLOTS
    )


def from_environment_network(connection: socket.socket) -> bool:
    """Does ``connection`` come from an environment's own network namespace
    (``netns``: its address, translated to our listener)? Those are functions."""
    try:
        remote = connection.getpeername()
    except OSError:
        return False
    return connection.family == socket.AF_INET and is_environment_address(remote[0])


def peer_uid(connection: socket.socket) -> int | None:
    """The uid owning the other end of the TCP ``connection`` when that end is
    a socket of this host in this network namespace; None otherwise (a remote
    client, not TCP). A socket belongs to the uid that made it; an end already
    closed (TIME_WAIT) has no owner left and reads as 0."""
    if connection.family not in (socket.AF_INET, socket.AF_INET6):
        return None
    try:
        local = connection.getsockname()
        remote = connection.getpeername()
    except OSError:
        return None
    # The peer's socket is the mirror of ours: its source is our remote end.
    request = _REQUEST.pack(
        connection.family,
        socket.IPPROTO_TCP,
        0,
        0,
        _ALL_STATES,
        struct.pack("!H", remote[1]),
        struct.pack("!H", local[1]),
        _address(connection.family, remote[0]),
        _address(connection.family, local[0]),
        0,
        _NO_COOKIE,
        _NO_COOKIE,
    )
    header = _HEADER.pack(_HEADER.size + len(request), _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST, 1, 0)
    try:
        with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, _NETLINK_SOCK_DIAG) as diag:
            diag.sendto(header + request, (0, 0))
            reply = diag.recv(1024)
    except OSError:
        return None
    if len(reply) < _HEADER.size:
        return None
    kind = _HEADER.unpack_from(reply)[1]
    if kind == _NLMSG_ERROR or len(reply) < _UID_OFFSET + 4:
        return None
    uid: int = struct.unpack_from("=I", reply, _UID_OFFSET)[0]
    return uid


def _address(family: int, host: str) -> bytes:
    """The address as inet_diag's 16-byte field holds it."""
    return socket.inet_pton(family, host.partition("%")[0]).ljust(16, b"\0")
