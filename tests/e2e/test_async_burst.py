"""A burst of Event invokes from many clients at once (accepts queue for their
commit, so the dispatcher holds the backlog to one paced invocation,
``events.burst``): synchronous invokes still answer during it, every event that
got a 202 is delivered after it, and each ran once."""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.request
from collections.abc import Iterator

import pytest

from tests.conftest import Server, create_function, start_server, stop_server

CLIENTS = 8
BURST_S = 1.5
HELLO = 'def handler(event, context):\n    return {"ok": True}\n'


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("burst") / "data")
    yield srv
    stop_server(srv)


def _send_events(port: int, until: float, accepted: list[str], lock: threading.Lock) -> None:
    """Event invokes of plain over one keep-alive connection until ``until``."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json", "X-Amz-Invocation-Type": "Event"}
    try:
        while time.monotonic() < until:
            connection.request("POST", "/2015-03-31/functions/plain/invocations", b"{}", headers)
            response = connection.getresponse()
            response.read()
            assert response.status == 202
            with lock:
                accepted.append(response.getheader("x-amzn-requestid") or "")
    finally:
        connection.close()


def _backlog(server: Server) -> dict[str, int]:
    with urllib.request.urlopen(f"{server.endpoint}/_lambdalite/async/plain", timeout=10) as answer:
        functions: dict[str, dict[str, int]] = json.loads(answer.read())["Functions"]
    return functions.get("plain", {})


def test_a_burst_is_accepted_sync_invokes_answer_during_it_and_the_backlog_drains_after(
    server: Server,
) -> None:
    lam = server.client()
    create_function(lam, "plain", {"app.py": HELLO})
    assert lam.invoke(FunctionName="plain")["StatusCode"] == 200  # warm
    accepted: list[str] = []
    lock = threading.Lock()
    until = time.monotonic() + BURST_S
    senders = [
        threading.Thread(target=_send_events, args=(server.port, until, accepted, lock))
        for _ in range(CLIENTS)
    ]
    for sender in senders:
        sender.start()
    time.sleep(BURST_S / 3)
    during = lam.invoke(FunctionName="plain", Payload=b'{"sync": true}')
    assert (during["StatusCode"], json.loads(during["Payload"].read())) == (200, {"ok": True})
    for sender in senders:
        sender.join(timeout=60)
    assert len(accepted) == len(set(accepted)) >= CLIENTS
    deadline = time.monotonic() + 120
    while True:
        counts = _backlog(server)
        if (
            counts.get("Delivered", 0) >= len(accepted)
            and not counts.get("Waiting")
            and not counts.get("Running")
        ):
            break
        assert time.monotonic() < deadline, f"the backlog did not drain: {counts}, {len(accepted)} accepted"
        time.sleep(0.1)
    assert (counts["Delivered"], counts["Failed"], counts["Retrying"]) == (len(accepted), 0, 0)
