"""Our Python bootstrap reaches the Runtime API over a Unix socket (``dataplane.runtime_channel``).

At both isolation levels: a Python function's runtime holds one connection, to
its own environment's abstract socket and not to the TCP port; the function
does not see the socket's variable; another function (another uid) that
connects to that socket is closed unanswered, as on TCP, and the owner still
serves. A function without network keeps TCP inside its own namespace, and a
custom runtime (not ours) is never offered the socket.
"""

from __future__ import annotations

import base64
import errno
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Server, create_function
from tests.e2e.test_isolation import _namespace_level_or_skip, isolated_server

PROBE = """
import os, socket

PREFIX = '\\0lambdalite-runtime-api-'

def connections():
    found = []
    for name in os.listdir('/proc/self/fd'):
        try:
            sock = socket.socket(fileno=int(name))
        except (OSError, ValueError):
            continue
        try:
            if sock.type != socket.SOCK_STREAM:
                continue
            try:
                peer = sock.getpeername()
            except OSError:
                continue
            if sock.family == socket.AF_UNIX:
                peer = peer.decode('latin-1') if isinstance(peer, bytes) else peer
                found.append(['unix', peer.replace('\\0', '@')])
            elif sock.family == socket.AF_INET:
                found.append(['tcp', '%s:%d' % peer])
        finally:
            sock.detach()
    return sorted(found)

def knock(name):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        try:
            sock.connect(PREFIX.encode() + name.encode())
            sock.sendall(b'GET /2018-06-01/runtime/invocation/next HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n')
            answer = sock.recv(100)
        except (ConnectionResetError, BrokenPipeError):
            answer = b''
        except OSError as exc:
            return 'error ' + str(exc.errno)
    return answer.split(b'\\r\\n')[0].decode() if answer else 'closed unanswered'

def handler(event, context):
    if 'knock' in event:
        return knock(event['knock'])
    return {
        'connections': connections(),
        'env_id': context.log_stream_name.rpartition(']')[2],
        'runtime_api': os.environ['AWS_LAMBDA_RUNTIME_API'],
        'variable': os.environ.get('LAMBDALITE_RUNTIME_API_SOCKET'),
        'uid': os.getuid(),
    }
"""


def invoke(lam: Any, name: str, payload: Any) -> tuple[dict[str, Any], Any]:
    response = lam.invoke(FunctionName=name, Payload=json.dumps(payload).encode(), LogType="Tail")
    return response, json.loads(response["Payload"].read())


def level_server(level: str) -> Iterator[Server]:
    if level == "namespace":
        _namespace_level_or_skip()
    elif os.geteuid() != 0:
        pytest.skip("without root, functions run as the server's own user (see lambdalite doctor)")
    yield from isolated_server(level)


@pytest.fixture(scope="module", params=["namespace", "process"])
def level(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def server(level: str) -> Iterator[Server]:
    yield from level_server(level)


@pytest.fixture(scope="module")
def lam(server: Server) -> Any:
    lam = server.client("lambda")
    create_function(lam, "owner", {"app.py": PROBE})
    create_function(lam, "other", {"app.py": PROBE})
    return lam


def assert_on_its_own_socket(lam: Any, name: str) -> dict[str, Any]:
    response, body = invoke(lam, name, {})
    assert "FunctionError" not in response, body
    assert body["connections"] == [["unix", f"@lambdalite-runtime-api-{body['env_id']}"]]
    assert body["variable"] is None  # the function sees AWS's environment
    assert body["runtime_api"].startswith("127.0.0.1:")  # still given, for any client
    return dict(body)


def test_a_python_function_is_served_over_its_environments_unix_socket(lam: Any) -> None:
    first = assert_on_its_own_socket(lam, "owner")
    again = assert_on_its_own_socket(lam, "owner")
    assert again["env_id"] == first["env_id"]  # warm: the same connection serves every invoke


def test_another_uid_is_closed_unanswered_on_the_socket_and_the_owner_still_serves(lam: Any) -> None:
    owner = assert_on_its_own_socket(lam, "owner")
    other = assert_on_its_own_socket(lam, "other")
    assert other["uid"] != owner["uid"]
    _, answer = invoke(lam, "other", {"knock": owner["env_id"]})
    assert answer == "closed unanswered"
    # The socket was there and refused it: a name nobody listens on is ECONNREFUSED.
    _, nobody = invoke(lam, "other", {"knock": "0" * 32})
    assert nobody == f"error {errno.ECONNREFUSED}"
    assert assert_on_its_own_socket(lam, "owner")["env_id"] == owner["env_id"]


def test_a_function_without_network_keeps_tcp_inside_its_namespace(lam: Any, level: str) -> None:
    if level != "namespace":
        pytest.skip("only the namespace level can take the network away")
    without_network = {"Variables": {"LAMBDALITE_NETWORK": "none"}}
    create_function(lam, "offline", {"app.py": PROBE}, Environment=without_network)
    response, body = invoke(lam, "offline", {})
    assert "FunctionError" not in response, body
    assert body["runtime_api"] == "127.0.0.1:9001"
    assert body["connections"] == [["tcp", "127.0.0.1:9001"]]


CUSTOM = """#!/usr/bin/env python3
import json, os, urllib.request
api = 'http://' + os.environ['AWS_LAMBDA_RUNTIME_API'] + '/2018-06-01/runtime/invocation/'
while True:
    with urllib.request.urlopen(api + 'next') as response:
        request_id = response.headers['Lambda-Runtime-Aws-Request-Id']
    body = json.dumps({'variable': os.environ.get('LAMBDALITE_RUNTIME_API_SOCKET')}).encode()
    urllib.request.urlopen(urllib.request.Request(api + request_id + '/response', data=body)).read()
"""


def test_a_custom_runtime_is_not_offered_the_socket(lam: Any) -> None:
    create_function(
        lam,
        "custom",
        {"bootstrap": CUSTOM},
        Runtime="provided.al2023",
        Handler="x",
        modes={"bootstrap": 0o755},
    )
    response, body = invoke(lam, "custom", {})
    assert "FunctionError" not in response, base64.b64decode(response["LogResult"]).decode()
    assert body == {"variable": None}
