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

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import HealthCheck, given, settings

from tests.conftest import REGION, Server, create_function, start_server, stop_server
from tests.fuzz.hostile import RawRequest, requests

COUNT = int(os.environ.get("LAMBDALITE_FUZZ_REQUESTS", "1000"))
RANDOM = os.environ.get("LAMBDALITE_FUZZ_RANDOM", "") == "1"


class RawClient:
    """Sends requests byte for byte as generated (no client-side checks), over one
    keep-alive connection, reconnecting when the server closes it."""

    def __init__(self, port: int, sign: tuple[str, str] | None = None) -> None:
        self.port = port
        self.sock: socket.socket | None = None
        self.credentials = None if sign is None else Credentials(*sign)

    def _signed(self, request: RawRequest, lines: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """``lines`` with a valid SigV4 signature of the request as it will be sent, in the
        service's scope (the request's own Authorization dropped); as they were when
        botocore cannot sign it."""
        kept = [(name, value) for name, value in lines if name.lower() not in ("authorization", "x-amz-date")]
        service = "lambda" if request.service == "raw" else request.service
        try:
            signing = AWSRequest(
                method=request.method,
                url=f"http://127.0.0.1:{self.port}{request.path}",
                data=request.body,
                headers=dict(kept),
            )
            SigV4Auth(self.credentials, service, "us-east-1").add_auth(signing)
        except Exception:  # botocore refuses the URL: send it with the generated signature
            return lines
        extra = [
            (name, signing.headers[name])
            for name in ("Authorization", "X-Amz-Date")
            if name in signing.headers
        ]
        return kept + extra

    def send(self, request: RawRequest) -> int | None:
        """The response's status, or None when the connection ended without one."""
        head = f"{request.method} {request.path} HTTP/1.1\r\n".encode("utf-8", "replace")
        names = {name.lower() for name, _ in request.headers}
        lines = list(request.headers)
        if "host" not in names:
            lines.append(("Host", f"127.0.0.1:{self.port}"))
        lines.append(("Content-Length", str(len(request.body))))
        if self.credentials is not None:
            lines = self._signed(request, lines)
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


ADMIN = ("AKIAFUZZADMIN0000001", "fuzz-admin-secret-000000000000000000000000")


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("fuzz") / "data")
    yield server
    stop_server(server)


@pytest.fixture(scope="module")
def signed_fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    keys = {"LAMBDALITE_ACCESS_KEY_ID": ADMIN[0], "LAMBDALITE_SECRET_ACCESS_KEY": ADMIN[1]}
    server = start_server(tmp_path_factory.mktemp("fuzz-signed") / "data", "--auth", "sigv4", env=keys)
    yield server
    stop_server(server)


def test_malformed_requests_never_get_a_5xx_nor_change_stored_functions(fuzz_server: Server) -> None:
    fuzz_against(fuzz_server, fuzz_server.client(), RawClient(fuzz_server.port), COUNT)


def test_malformed_requests_signed_with_a_valid_key_never_get_a_5xx(signed_fuzz_server: Server) -> None:
    """Under sigv4, the same requests properly signed (after the damage) get past the
    verifier into every service; the verifier itself meets odd paths and queries."""
    lam = boto3.client(
        "lambda",
        endpoint_url=signed_fuzz_server.endpoint,
        region_name=REGION,
        aws_access_key_id=ADMIN[0],
        aws_secret_access_key=ADMIN[1],
    )
    fuzz_against(signed_fuzz_server, lam, RawClient(signed_fuzz_server.port, sign=ADMIN), max(COUNT // 4, 1))


def fuzz_against(server: Server, lam: Any, client: RawClient, count: int) -> None:
    create_function(
        lam,
        "fuzz-keep-alpha",
        {"app.py": "def handler(event, context):\n    return event\n"},
        Environment={"Variables": {"KEEP": "1"}},
    )
    lam.publish_version(FunctionName="fuzz-keep-alpha")
    lam.create_alias(FunctionName="fuzz-keep-alpha", Name="live", FunctionVersion="1")
    before = snapshot(lam)
    sent: Counter[str] = Counter()
    statuses: Counter[int | None] = Counter()
    failures: list[str] = []

    @settings(
        max_examples=count,
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
    assert server.process.poll() is None, server.output()[-3000:]
    assert not failures, "\n".join(failures[:40])
    assert "Traceback" not in server.output(), server.output()[-5000:]
    assert total >= count
    assert snapshot(lam) == before
