"""SNS's HTTP(S) deliveries: retried on failure as AWS's default delivery policy
says, on a fake clock, against a loopback endpoint that fails at first."""

from __future__ import annotations

import asyncio
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from lambdalite.clock import ManualClock, SteppingClock
from lambdalite.services.sns.delivery import HTTP_RETRY_DELAYS_S, Deliverer
from lambdalite.store.sqlite import SqliteDatabase
from lambdalite.store.topics import HttpDelivery, SqliteTopicStore


def endpoint(fail_first: int) -> tuple[ThreadingHTTPServer, list[bytes]]:
    bodies: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(500 if len(bodies) <= fail_first else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, bodies


def deliver(fail_first: int) -> tuple[list[bytes], float]:
    server, bodies = endpoint(fail_first)
    clock = SteppingClock(0.0)
    deliverer = Deliverer("us-east-1", "000000000000", None, lambda: None, lambda: "localhost", clock)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        delivery = HttpDelivery("d", url, "note", {"x-amz-sns-message-type": "Notification"}, 0, 0.0)
        asyncio.run(deliverer._post(delivery))
    finally:
        server.shutdown()
        server.server_close()
    return bodies, clock.now()


def test_a_failing_endpoint_is_retried_until_it_answers() -> None:
    bodies, waited = deliver(fail_first=2)
    assert bodies == [b"note"] * 3 and waited == 40.0


def test_delivery_gives_up_after_the_policys_retries() -> None:
    bodies, waited = deliver(fail_first=10)
    assert len(bodies) == len(HTTP_RETRY_DELAYS_S) + 1 and waited == sum(HTTP_RETRY_DELAYS_S)


def test_a_stored_delivery_resumes_its_retries_after_a_restart(tmp_path: Path) -> None:
    server, bodies = endpoint(fail_first=1)
    clock = ManualClock(0.0)
    store = SqliteTopicStore(SqliteDatabase(tmp_path / "db"))
    url = f"http://127.0.0.1:{server.server_address[1]}/"

    async def scenario() -> None:
        first = Deliverer("us-east-1", "000000000000", None, lambda: None, lambda: "l", clock, store=store)
        first.to_http(url, b"note", {})
        while not store.http_deliveries() or store.http_deliveries()[0].attempts == 0:
            await asyncio.sleep(0.01)
        await first.close()  # the server stopped while the retry waited
        (waiting,) = store.http_deliveries()
        assert (waiting.attempts, waiting.due_at) == (1, HTTP_RETRY_DELAYS_S[0])
        second = Deliverer("us-east-1", "000000000000", None, lambda: None, lambda: "l", clock, store=store)
        second.resume()
        await asyncio.sleep(0.05)
        clock.advance(HTTP_RETRY_DELAYS_S[0])
        for _ in range(500):
            if not store.http_deliveries():
                break
            await asyncio.sleep(0.01)

    try:
        asyncio.run(scenario())
    finally:
        server.shutdown()
        server.server_close()
    assert bodies == [b"note", b"note"] and store.http_deliveries() == []
    assert clock.now() == HTTP_RETRY_DELAYS_S[0]
