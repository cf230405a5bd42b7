"""What the asynchronous-invocation e2e tests share: a collector the functions
report to over loopback HTTP (their /tmp is their own, and a report must
survive the server being killed), and the functions that report."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

REPORTING = """
import json, os, time, urllib.parse, urllib.request

# The host's loopback as this function reaches it: where AWS_ENDPOINT_URL points
# (a network namespace of its own reaches its opened host ports there).
HOST = urllib.parse.urlsplit(os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1")).hostname
COLLECTOR = os.environ.get("COLLECTOR", "").replace("127.0.0.1", HOST)

def report(kind, body):
    request = urllib.request.Request(
        COLLECTOR + "/" + kind, data=json.dumps(body).encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())
"""

FLAKY = (
    REPORTING
    + """
def handler(event, context):
    # The collector answers with how often this request id has run, this run included.
    runs = report("run", {"rid": context.aws_request_id, "event": event})
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if runs <= event.get("fail_times", 0):
        raise RuntimeError(f"failing run {runs}")
    return {"runs": runs}
"""
)

SINK = (
    REPORTING
    + """
def handler(event, context):
    report("record", event)
    return "stored"
"""
)


class Collector:
    """Counts runs per request id and keeps destination records, over HTTP on 127.0.0.1."""

    def __init__(self) -> None:
        self.runs: Counter[str] = Counter()
        self.records: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        """The event of every run, in order."""
        self.lock = threading.Lock()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with collector.lock:
                    if self.path == "/run":
                        collector.runs[body["rid"]] += 1
                        collector.events.append(body["event"])
                        answer: Any = collector.runs[body["rid"]]
                    else:
                        collector.records.append(body)
                        answer = len(collector.records)
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def variables(self) -> dict[str, str]:
        """A reporting function's variables: the collector, and its port opened to
        the function (``LAMBDALITE_HOST_PORTS``) when it has a network of its own."""
        return {"COLLECTOR": self.url, "LAMBDALITE_HOST_PORTS": str(self.server.server_address[1])}

    def record_for(self, request_id: str) -> dict[str, Any] | None:
        with self.lock:
            for record in self.records:
                if record["requestContext"]["requestId"] == request_id:
                    return record
        return None

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait_for(condition: Callable[[], Any], timeout: float = 20, message: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {message}")
