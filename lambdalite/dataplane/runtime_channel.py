"""A cheaper door to the Runtime API for lambdalite's own Python bootstrap: a Unix socket.

Why: a warm invocation crosses the Runtime API twice (the event out, the
response back), and over loopback TCP each write runs the whole TCP/IP send
and receive path in the writer's context; measured with ``perf`` under
``bench/invoke_bench.py``, that was about a quarter of the server's CPU time
per warm invoke. A Unix stream socket carries the same HTTP/1.1 bytes for a
fraction of that, so the protocol, the handler and every answer stay exactly
those of ``runtime_api``: only the transport changes.

Where it is offered (``offered``): to environments of the ``python*``
runtimes, whose bootstrap is ours (``runtimes/python/bootstrap.py``), when the
function has the host's network. Everyone else keeps ``AWS_LAMBDA_RUNTIME_API``
on TCP, which stays served for every environment: AWS's runtime interface
clients (awslambdaric, a custom runtime) never learn of this door. A function
without network runs in a network namespace of its own, where the host's
abstract socket names cannot be reached: it keeps TCP inside its namespace.

The socket is in Linux's abstract namespace (no file, so no mount is needed to
share it and nothing is left behind): abstract names are scoped by network
namespace, which is exactly the set of processes that could reach the TCP
listener too. Like the TCP listener, it serves only its environment's own uid
(the environment's ``accepts_peer``, which asks ``sandbox.peers.peer_uid``:
SO_PEERCRED for a Unix socket). The name carries the environment's id, which is
random and bound before the runtime starts, so no one can take it first.

The bootstrap finds the socket in CHANNEL_VARIABLE (``@`` + the abstract name,
as ``ss`` writes abstract names), removes it from its environment before any
function code runs, and falls back to AWS_LAMBDA_RUNTIME_API when it cannot
connect.
"""

from __future__ import annotations

import asyncio
import socket

from lambdalite.dataplane.runtime_api import RuntimeApiConnection, RuntimeApiHandler

CHANNEL_VARIABLE = "LAMBDALITE_RUNTIME_API_SOCKET"
"""The variable that gives our bootstrap the socket's address (``@<abstract name>``)."""
NAME_PREFIX = "lambdalite-runtime-api-"
BACKLOG = 16
"""Connections waiting to be accepted (a runtime opens one, two after a reconnect)."""


def offered(runtime: str, network: bool) -> bool:
    """Does an environment of ``runtime`` get the Unix socket? Only our own
    bootstrap speaks it (python*), and only the host's network namespace shares
    the abstract names with the server."""
    return network and runtime.startswith("python")


def open_listener(env_id: str) -> socket.socket:
    """A non-blocking Unix stream socket listening on the abstract name for
    ``env_id``; connections wait in its backlog until it is served
    (``runtime_api.listen``)."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(b"\0" + (NAME_PREFIX + env_id).encode("ascii"))
        listener.listen(BACKLOG)
    except BaseException:
        listener.close()
        raise
    listener.setblocking(False)
    return listener


def address(listener: socket.socket) -> str:
    """The listener's address as CHANNEL_VARIABLE carries it: ``@`` + its abstract name."""
    name = listener.getsockname()
    raw = name if isinstance(name, bytes) else name.encode("latin-1")
    if not raw.startswith(b"\0"):
        raise ValueError(f"not an abstract socket name: {name!r}")
    return "@" + raw[1:].decode("ascii")


def variables(listener: socket.socket) -> dict[str, str]:
    """What the runtime's environment gets so that our bootstrap finds ``listener``."""
    return {CHANNEL_VARIABLE: address(listener)}


async def serve(handler: RuntimeApiHandler, listener: socket.socket) -> asyncio.Server:
    """Serve the Runtime API for ``handler`` on ``listener`` (``open_listener``),
    which the returned server owns from now on: the same connections, answers
    and peer check as on TCP (``runtime_api.listen``)."""
    loop = asyncio.get_running_loop()
    return await loop.create_unix_server(lambda: RuntimeApiConnection(handler), sock=listener)
