"""Asynchronous invocation with its events in NATS JetStream (``--queue nats://...``),
against the NATS server on 127.0.0.1:4222: accepted, retried with AWS's delays
(scaled), reported to the destination, and still there after a restart."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ARN_PREFIX, Server, create_function, service_missing, start_server, stop_server
from tests.e2e.async_rig import FLAKY, SINK, Collector, wait_for

NATS = ("127.0.0.1", 4222)


def _nats_up() -> bool:
    try:
        with socket.create_connection(NATS, timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture(autouse=True)
def nats_server() -> None:
    if _nats_up():
        return
    service_missing("a NATS server on 127.0.0.1:4222", "no answer")


@pytest.fixture
def stream() -> Iterator[str]:
    """A stream of this test's own, deleted afterwards."""
    name = f"LLTEST_{uuid.uuid4().hex[:10].upper()}"
    yield name

    async def delete() -> None:
        import nats

        nc = await nats.connect(f"nats://{NATS[0]}:{NATS[1]}")
        try:
            await nc.jetstream().delete_stream(name)
        finally:
            await nc.close()

    asyncio.run(delete())


def start(data: Path, stream: str) -> Server:
    return start_server(
        data, "--retry-delay-scale", "0.01", "--queue", f"nats://{NATS[0]}:{NATS[1]}/{stream}"
    )


def test_events_in_jetstream_are_retried_delivered_and_survive_a_restart(tmp_path: Path, stream: str) -> None:
    collector = Collector()
    server = start(tmp_path / "data", stream)
    try:
        lam: Any = server.client("lambda")
        env = {"Variables": collector.variables}
        create_function(lam, "sink", {"app.py": SINK}, Environment=env)
        create_function(lam, "flaky", {"app.py": FLAKY}, Environment=env)
        lam.put_function_event_invoke_config(
            FunctionName="flaky", DestinationConfig={"OnSuccess": {"Destination": f"{ARN_PREFIX}sink"}}
        )
        queued = lam.invoke(
            FunctionName="flaky", InvocationType="Event", Payload=json.dumps({"fail_times": 2})
        )
        assert (queued["StatusCode"], queued["Payload"].read()) == (202, b"")
        request_id = queued["ResponseMetadata"]["RequestId"]
        record = wait_for(lambda: collector.record_for(request_id), message="the Success record")
        assert collector.runs[request_id] == 3
        assert record["requestContext"]["condition"] == "Success"
        assert record["requestContext"]["approximateInvokeCount"] == 3
        # An event that waits for its retry when the server stops is delivered by the next one.
        lam.put_function_event_invoke_config(FunctionName="flaky", MaximumRetryAttempts=2)
        waiting = lam.invoke(
            FunctionName="flaky", InvocationType="Event", Payload=json.dumps({"fail_times": 1})
        )
        waiting_id = waiting["ResponseMetadata"]["RequestId"]
        wait_for(lambda: collector.runs[waiting_id] == 1, message="the first run")
        stop_server(server)
        server = start(tmp_path / "data", stream)
        wait_for(lambda: collector.runs[waiting_id] == 2, timeout=30, message="the retry after the restart")
        time.sleep(0.2)
        assert collector.runs[waiting_id] == 2

        def backlog() -> dict[str, Any]:
            with urllib.request.urlopen(f"{server.endpoint}/_lambdalite/async/flaky") as answer:
                flaky: dict[str, Any] = json.loads(answer.read())["Functions"].get("flaky", {})
            return flaky if flaky.get("Delivered") == 1 else {}

        assert wait_for(backlog, message="the backlog")["Waiting"] == 0
    finally:
        stop_server(server)
        collector.close()
