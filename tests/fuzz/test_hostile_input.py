"""The fuzzer: malformed requests across every operation of lambda, sqs, sns, events,
logs and scheduler (botocore's models, ``tests.fuzz.hostile``) against a real server.

Every request gets an answer below 500, the server never dies, and the functions
stored before the run are exactly as they were. The suite sends a sample
(``LAMBDALITE_FUZZ_REQUESTS``, default 1,000, a fixed sequence); the full run is
``LAMBDALITE_FUZZ_REQUESTS=10000 LAMBDALITE_FUZZ_RANDOM=1 pytest tests/fuzz``.
"""

from __future__ import annotations

import http.client
import os
import socket
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from tests.conftest import Server, create_function, start_server, stop_server
from tests.fuzz.hostile import RawRequest, requests

COUNT = int(os.environ.get("LAMBDALITE_FUZZ_REQUESTS", "1000"))
RANDOM = os.environ.get("LAMBDALITE_FUZZ_RANDOM", "") == "1"


class RawClient:
    """Sends requests byte for byte as generated (no client-side checks), over one
    keep-alive connection, reconnecting when the server closes it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock: socket.socket | None = None

    def send(self, request: RawRequest) -> int | None:
        """The response's status, or None when the connection ended without one."""
        head = f"{request.method} {request.path} HTTP/1.1\r\n".encode("utf-8", "replace")
        names = {name.lower() for name, _ in request.headers}
        lines = list(request.headers)
        if "host" not in names:
            lines.append(("Host", f"127.0.0.1:{self.port}"))
        lines.append(("Content-Length", str(len(request.body))))
        for name, value in lines:
            head += f"{name}: {value}\r\n".encode("utf-8", "replace").replace(b"\r\n", b" ")[:-1] + b"\r\n"
        data = head + b"\r\n" + request.body
        for attempt in range(2):
            if self.sock is None:
                self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
            try:
                self.sock.sendall(data)
                response = http.client.HTTPResponse(self.sock, method=request.method)
                response.begin()
                response.read()
            except (ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine) as exc:
                self.close()
                if attempt == 0 and isinstance(exc, (BrokenPipeError, ConnectionResetError)):
                    continue  # the server had closed the idle connection before we wrote
                return None
            if response.will_close:
                self.close()
            return response.status
        return None

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def snapshot(lam: Any) -> Any:
    """What must not change: every function, its versions, aliases and code."""
    state = {}
    for function in lam.list_functions()["Functions"]:
        name = function["FunctionName"]
        state[name] = (
            lam.get_function(FunctionName=name)["Configuration"],
            lam.list_versions_by_function(FunctionName=name)["Versions"],
            lam.list_aliases(FunctionName=name)["Aliases"],
        )
    return state


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("fuzz") / "data")
    yield server
    stop_server(server)


def test_malformed_requests_never_get_a_5xx_nor_change_stored_functions(fuzz_server: Server) -> None:
    lam = fuzz_server.client()
    create_function(
        lam,
        "fuzz-keep-alpha",
        {"app.py": "def handler(event, context):\n    return event\n"},
        Environment={"Variables": {"KEEP": "1"}},
    )
    lam.publish_version(FunctionName="fuzz-keep-alpha")
    lam.create_alias(FunctionName="fuzz-keep-alpha", Name="live", FunctionVersion="1")
    before = snapshot(lam)
    client = RawClient(fuzz_server.port)
    sent: Counter[str] = Counter()
    statuses: Counter[int | None] = Counter()
    failures: list[str] = []

    @settings(
        max_examples=COUNT,
        deadline=None,
        database=None,
        derandomize=not RANDOM,
        suppress_health_check=list(HealthCheck),
    )
    @given(requests())
    def fuzz(request: RawRequest) -> None:
        status = client.send(request)
        sent[request.service] += 1
        statuses[status] += 1
        if status is None or status >= 500:
            failures.append(f"{status}: {request.summary()}")

    fuzz()
    client.close()
    total = sum(sent.values())
    print(f"fuzz: {total} requests {dict(sent)}, statuses {dict(statuses)}, {len(failures)} failures")
    assert fuzz_server.process.poll() is None, fuzz_server.output()[-3000:]
    assert not failures, "\n".join(failures[:40])
    assert "Traceback" not in fuzz_server.output(), fuzz_server.output()[-5000:]
    assert total >= COUNT
    assert snapshot(lam) == before
