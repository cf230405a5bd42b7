"""A deep asynchronous backlog never starves synchronous invokes: queued events
hold at most half of the unreserved concurrency (``dataplane.limiter``)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.conftest import Server, create_function, start_server, stop_server
from tests.e2e.async_rig import FLAKY, Collector, wait_for

LIMIT = 4


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("fair") / "data"
    srv = start_server(data_dir, "--max-concurrency", str(LIMIT), "--retry-delay-scale", "0.01")
    yield srv
    stop_server(srv)


def test_sync_invokes_get_the_half_a_busy_async_backlog_leaves(server: Server) -> None:
    collector = Collector()
    try:
        lam = server.client("lambda")
        env = {"Variables": collector.variables}
        create_function(lam, "slow", {"app.py": FLAKY}, Environment=env, Timeout=10)
        create_function(lam, "quick", {"app.py": FLAKY}, Environment=env)
        accepted = [
            lam.invoke(FunctionName="slow", InvocationType="Event", Payload=json.dumps({"sleep": 1.5}))
            for _ in range(10)
        ]
        assert {a["StatusCode"] for a in accepted} == {202}
        wait_for(lambda: collector.events.count({"sleep": 1.5}) >= 2, message="the backlog running")
        # Async holds 2 of the 4 slots; 2 synchronous invokes at once still run.
        answers = [lam.invoke(FunctionName="quick", Payload=b"{}") for _ in range(3)]
        assert [json.loads(a["Payload"].read()) for a in answers] == [{"runs": 1}] * 3
    finally:
        collector.close()
