"""kill -9 of the server while it accepts and runs Event invokes: every event that
got a 202 runs at least once after the restarts and reaches its OnSuccess
destination; duplicates (at-least-once) are counted and must stay rare."""

from __future__ import annotations

import json
import random
import signal
import threading
import time
from pathlib import Path
from typing import Any

from tests.conftest import ARN_PREFIX, create_function, start_server, stop_server
from tests.e2e.async_rig import FLAKY, SINK, Collector, wait_for

CRASHES = 3
SENDERS = 3
PER_SENDER = 250
"""Events each sender offers per life of the server (it stops early at the kill)."""


def _send(lam: Any, tag: str, accepted: list[str], stop: threading.Event) -> None:
    for n in range(PER_SENDER):
        if stop.is_set():
            return
        try:
            response = lam.invoke(
                FunctionName="source", InvocationType="Event", Payload=json.dumps({"n": f"{tag}-{n}"})
            )
        except Exception:
            return  # the server is gone: what was not answered 202 was not accepted
        if response["StatusCode"] == 202:
            accepted.append(response["ResponseMetadata"]["RequestId"])


def test_sigkill_while_accepting_and_running_loses_no_accepted_event(tmp_path: Path) -> None:
    data = tmp_path / "data"
    collector = Collector()
    accepted: list[str] = []
    chance = random.Random(12)
    flags = ("--retry-delay-scale", "0.01")
    try:
        for crash in range(CRASHES):
            started = time.monotonic()
            server = start_server(data, *flags)
            print(f"started in {time.monotonic() - started:.1f} s")
            try:
                lam = server.client()
                if crash == 0:
                    env = {"Variables": collector.variables}
                    create_function(lam, "sink", {"app.py": SINK}, Environment=env)
                    create_function(lam, "source", {"app.py": FLAKY}, Environment=env)
                    lam.put_function_event_invoke_config(
                        FunctionName="source",
                        DestinationConfig={"OnSuccess": {"Destination": f"{ARN_PREFIX}sink"}},
                    )
                before = len(accepted)
                stop = threading.Event()
                senders = [
                    threading.Thread(target=_send, args=(lam, f"{crash}.{s}", accepted, stop))
                    for s in range(SENDERS)
                ]
                for sender in senders:
                    sender.start()
                wait_for(lambda: len(accepted) - before >= 100, timeout=30, message="events accepted")  # noqa: B023
                time.sleep(chance.uniform(0.0, 0.3))
                server.process.send_signal(signal.SIGKILL)
                server.process.wait(timeout=10)
                stop.set()
                for sender in senders:
                    sender.join(timeout=30)
            finally:
                stop_server(server)
        server = start_server(data, *flags)
        try:

            def delivered() -> bool:
                with collector.lock:
                    recorded = {r["requestContext"]["requestId"] for r in collector.records}
                return recorded.issuperset(accepted)

            drained_from = time.monotonic()
            wait_for(delivered, timeout=120, message="every accepted event's record")
            print(f"drained in {time.monotonic() - drained_from:.1f} s")
        finally:
            stop_server(server)
        with collector.lock:
            runs = dict(collector.runs)
            records = [r["requestContext"]["requestId"] for r in collector.records]
        assert all(runs.get(request_id, 0) >= 1 for request_id in accepted)
        duplicate_runs = sum(count - 1 for count in runs.values() if count > 1)
        duplicate_records = len(records) - len(set(records))
        print(
            f"accepted {len(accepted)}, duplicate runs {duplicate_runs}, "
            f"duplicate records {duplicate_records}"
        )
        # Only what was running or being reported at a kill runs again.
        assert duplicate_runs <= CRASHES * 8 + 10
        assert len(accepted) >= CRASHES * 100
    finally:
        collector.close()
