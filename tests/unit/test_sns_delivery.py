"""SNS's HTTP(S) deliveries: retried on failure as AWS's default delivery policy
says, on a fake clock, against a loopback endpoint that fails at first."""

from __future__ import annotations

import asyncio
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from lambdalite.clock import SteppingClock
from lambdalite.services.sns.delivery import HTTP_RETRY_DELAYS_S, Deliverer


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
        asyncio.run(deliverer._post(url, b"note", {"x-amz-sns-message-type": "Notification"}))
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
