"""The asynchronous dispatcher on a fake clock: AWS's retries, event age,
reserved concurrency 0, and the exact destination record and DLQ message."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from lambdalite.clock import ManualClock
from lambdalite.dataplane.limiter import InvocationKind
from lambdalite.errors import TooManyRequests
from lambdalite.events import lineage
from lambdalite.events.burst import BURST_WINDOW_S, HOT_ACCEPTS, PACE_S
from lambdalite.events.dispatcher import LEASES_PER_INVOCATION, AsyncInvocations
from lambdalite.events.policy import RetryPolicy
from lambdalite.events.sqlite_queue import SqliteEventQueue
from lambdalite.events.targets import Attributes, Targets, config_text
from lambdalite.models import FunctionConfig, InvocationResult
from tests.unit.control_plane import CODE, PREFIX, SETTINGS, open_registries

SINK = "arn:aws:lambda:us-east-1:000000000000:function:sink"


class ScriptedInvoker:
    """Answers each invoke with the next of ``script``: "ok", "error" or "throttle"
    (the last one repeats); records when each call came."""

    def __init__(self, clock: ManualClock, script: list[str]) -> None:
        self.clock = clock
        self.script = script
        self.calls: list[tuple[float, str, InvocationKind]] = []

    async def invoke(
        self,
        function: FunctionConfig,
        payload: bytes,
        *,
        invoked_arn: str,
        kind: InvocationKind,
        request_id: str,
        trace_header: str | None = None,
    ) -> InvocationResult:
        lineage.next_hop(function, trace_header)  # as the Invoker does, before anything runs
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        self.calls.append((self.clock.now(), request_id, kind))
        if step == "throttle":
            raise TooManyRequests("Rate Exceeded.", reason="ConcurrentInvocationLimitExceeded")
        if step == "error":
            return InvocationResult(b'{"errorMessage": "boom", "errorType": "RuntimeError"}', "Unhandled")
        return InvocationResult(b'{"ok": true}')


class Recorder:
    def __init__(self, arn: str, sent: list[tuple[str, bytes, Attributes]]) -> None:
        self.arn = arn
        self._sent = sent

    async def send(self, body: bytes, attributes: Attributes) -> None:
        self._sent.append((self.arn, body, attributes))


class Rig:
    def __init__(self, tmp_path: Path, script: list[str], *, reserved: int | None = None, dlq: bool = False):
        self.clock = ManualClock()
        self.registries, self.stores = open_registries(tmp_path / "lambdalite.db")
        self.registries.functions.create("f", SETTINGS, CODE)
        self.registries.functions.create("sink", SETTINGS, CODE)
        self.invoker = ScriptedInvoker(self.clock, script)
        self.sent: list[tuple[str, bytes, Attributes]] = []
        targets = Targets()
        targets.register("lambda", lambda arn: Recorder(arn, self.sent) if arn == SINK else None)
        self.registries.event_invoke.destination_check = lambda arn, name, c: targets.check_destination(
            arn, name, config_text(c)
        )
        self.queue = SqliteEventQueue(tmp_path / "events.db", self.clock)
        self.events = AsyncInvocations(
            self.queue,
            self.invoker,  # type: ignore[arg-type]
            self.registries.functions,
            self.registries.event_invoke,
            lambda name: reserved,
            targets,
            self.clock,
            RetryPolicy(),
            dead_letter_arn=(lambda name, qualifier: SINK) if dlq else (lambda name, qualifier: None),
        )

    def configure(self, **body: Any) -> None:
        self.registries.event_invoke.put("f", None, body)

    async def settle(self) -> None:
        """Let the dispatcher do all it can at this instant of the fake clock."""
        for _ in range(3):
            for _ in range(20):
                await asyncio.sleep(0)
            while self.queue.writing:
                await asyncio.sleep(0.001)

    async def run_for(self, seconds: float, step: float = 1.0) -> None:
        """Advance the fake clock ``seconds`` in steps, letting the dispatcher work."""
        await self.settle()
        moved = 0.0
        while moved < seconds:
            self.clock.advance(step)
            moved += step
            await self.settle()

    def records(self) -> list[dict[str, Any]]:
        return [orjson.loads(body) for _, body, _ in self.sent]


@pytest.fixture
def rig_factory(tmp_path: Path) -> Iterator[Any]:
    rigs: list[Rig] = []

    def make(script: list[str], **kwargs: Any) -> Rig:
        rig = Rig(tmp_path, script, **kwargs)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        rig.stores.close()


def scenario(rig: Rig, payload: bytes, seconds: float, step: float = 1.0) -> str:
    async def go() -> str:
        rig.events.start()
        request_id = await rig.events.accept("f", None, payload)
        await rig.run_for(seconds, step)
        await rig.events.close(grace_s=1)
        return request_id

    return asyncio.run(go())


def test_a_failing_event_is_retried_after_one_then_two_minutes_and_succeeds_on_the_third(rig_factory) -> None:  # type: ignore[no-untyped-def]
    rig = rig_factory(["error", "error", "ok"])
    rig.configure(DestinationConfig={"OnSuccess": {"Destination": SINK}})
    request_id = scenario(rig, b'{"n": 1}', 200, step=5)
    start = rig.invoker.calls[0][0]
    assert [round(at - start) for at, _, _ in rig.invoker.calls] == [0, 60, 180]
    assert {rid for _, rid, _ in rig.invoker.calls} == {request_id}  # retries keep the request id
    assert {kind for _, _, kind in rig.invoker.calls} == {InvocationKind.ASYNC}
    (record,) = rig.records()
    assert record["requestContext"] == {
        "requestId": request_id,
        "functionArn": f"{PREFIX}f:$LATEST",
        "condition": "Success",
        "approximateInvokeCount": 3,
    }
    assert record["version"] == "1.0"
    assert record["requestPayload"] == {"n": 1}
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    assert record["responsePayload"] == {"ok": True}
    assert asyncio.run(rig.queue.backlog())["f"].delivered == 1


def test_with_no_retries_a_function_error_goes_to_on_failure_after_one_run(rig_factory) -> None:  # type: ignore[no-untyped-def]
    rig = rig_factory(["error"])
    rig.configure(MaximumRetryAttempts=0, DestinationConfig={"OnFailure": {"Destination": SINK}})
    request_id = scenario(rig, b'{"n": 2}', 10)
    assert len(rig.invoker.calls) == 1
    (record,) = rig.records()
    assert set(record) == {
        "version",
        "timestamp",
        "requestContext",
        "requestPayload",
        "responseContext",
        "responsePayload",
    }
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert record["requestContext"]["requestId"] == request_id
    assert record["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    }
    assert record["responsePayload"] == {"errorMessage": "boom", "errorType": "RuntimeError"}
    assert record["timestamp"].endswith("Z") and len(record["timestamp"]) == 24


def test_a_throttled_event_backs_off_then_expires_with_event_age_exceeded(rig_factory) -> None:  # type: ignore[no-untyped-def]
    rig = rig_factory(["throttle"])
    rig.configure(MaximumEventAgeInSeconds=60, DestinationConfig={"OnFailure": {"Destination": SINK}})
    scenario(rig, b"{}", 80)
    gaps = [b[0] - a[0] for a, b in zip(rig.invoker.calls, rig.invoker.calls[1:], strict=False)]
    assert gaps[:5] == [1, 2, 4, 8, 16]  # exponential backoff
    (record,) = rig.records()
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == 0
    assert record["responseContext"] == {"statusCode": 429}
    assert "responsePayload" not in record


def test_reserved_concurrency_zero_fails_at_once_without_running_and_dead_letters(rig_factory) -> None:  # type: ignore[no-untyped-def]
    rig = rig_factory(["ok"], reserved=0, dlq=True)
    request_id = scenario(rig, b'{"n": 3}', 1)
    assert rig.invoker.calls == []
    ((arn, body, attributes),) = rig.sent
    assert (arn, body) == (SINK, b'{"n": 3}')  # the DLQ gets the original event
    assert dict(attributes) == {
        "RequestID": ("String", request_id),
        "ErrorMessage": (
            "String",
            "Function not invoked. Function isconfigured with zero reserved concurrent executions",
        ),
    }


def test_reserved_concurrency_zero_with_on_failure_sends_the_record(rig_factory) -> None:  # type: ignore[no-untyped-def]
    rig = rig_factory(["ok"], reserved=0, dlq=True)
    rig.configure(DestinationConfig={"OnFailure": {"Destination": SINK}})
    scenario(rig, b"{}", 1)
    (record,) = rig.records()  # OnFailure wins over the DLQ
    assert record["requestContext"]["condition"] == "ZeroReservedConcurrency"
    assert record["requestContext"]["approximateInvokeCount"] == 0
    assert "responseContext" not in record


def test_a_dlq_message_after_retries_carries_the_error_code_and_message(rig_factory) -> None:  # type: ignore[no-untyped-def]
    rig = rig_factory(["error"], dlq=True)
    rig.configure(MaximumRetryAttempts=1)
    request_id = scenario(rig, b"{}", 70, step=5)
    assert len(rig.invoker.calls) == 2
    ((_, _, attributes),) = rig.sent
    assert dict(attributes) == {
        "RequestID": ("String", request_id),
        "ErrorCode": ("Number", "200"),
        "ErrorMessage": ("String", "boom"),
    }


def _chain_header(rig: Rig, count: int) -> str:
    """A trace header whose chain has invoked ``f`` ``count`` times."""
    return f"Root=1-00000000-000000000000000000000000;Sampled=0;Lineage=0badf00d:2|{_tag(rig)}:{count}"


def _tag(rig: Rig) -> str:
    return lineage.tag(rig.registries.functions.get("f"))


def _accept_in_chain(rig: Rig, header: str) -> str:
    async def go() -> str:
        rig.events.start()
        with lineage.carried(header.encode()):
            request_id = await rig.events.accept("f", None, b'{"hop": 17}')
        await rig.run_for(5)
        await rig.events.close(grace_s=1)
        return request_id

    return asyncio.run(go())


def test_the_17th_invocation_of_a_chain_is_stopped_and_dead_lettered(rig_factory) -> None:  # type: ignore[no-untyped-def]
    rig = rig_factory(["ok"], dlq=True)
    request_id = _accept_in_chain(rig, _chain_header(rig, 16))
    assert rig.invoker.calls == []  # never ran
    ((arn, body, attributes),) = rig.sent
    assert (arn, body) == (SINK, b'{"hop": 17}')
    assert dict(attributes) == {
        "RequestID": ("String", request_id),
        "ErrorCode": ("Number", "400"),
        "ErrorMessage": ("String", lineage.MESSAGE),
    }


def test_the_16th_invocation_of_a_chain_runs(rig_factory) -> None:  # type: ignore[no-untyped-def]
    rig = rig_factory(["ok"], dlq=True)
    _accept_in_chain(rig, _chain_header(rig, 15))
    assert len(rig.invoker.calls) == 1 and rig.sent == []


def test_with_allow_the_chain_goes_on(rig_factory) -> None:  # type: ignore[no-untyped-def]
    allowed = rig_factory(["ok"], dlq=True)
    allowed.registries.functions.put_recursion("f", "Allow")
    _accept_in_chain(allowed, _chain_header(allowed, 40))
    assert len(allowed.invoker.calls) == 1 and allowed.sent == []


class SlowInvoker(ScriptedInvoker):
    """Takes 10 ms per invocation (real time) and records how many ran at once."""

    def __init__(self, clock: ManualClock) -> None:
        super().__init__(clock, ["ok"])
        self.running = 0
        self.peaks: list[tuple[float, int]] = []

    async def invoke(self, *args: Any, **kwargs: Any) -> InvocationResult:
        self.running += 1
        self.peaks.append((time.monotonic(), self.running))
        try:
            await asyncio.sleep(0.01)
            return await super().invoke(*args, **kwargs)
        finally:
            self.running -= 1


def test_a_burst_of_accepts_holds_the_backlog_to_one_paced_invocation_then_it_drains(rig_factory) -> None:  # type: ignore[no-untyped-def]
    rig = rig_factory(["ok"])
    invoker = SlowInvoker(rig.clock)
    rig.events._invoker = invoker
    count = 4 * HOT_ACCEPTS

    async def go() -> None:
        # Accepts at once: each finds the others waiting for the same commit.
        await asyncio.gather(*(rig.events.accept("f", None, b"{}") for _ in range(count)))
        rig.events.start()
        await asyncio.sleep(0.3)  # many invocations' worth of real time; the fake clock stands
        assert len(invoker.calls) == 1
        # Held: only a few leased ahead (a lease waiting for a slot would be a lost delivery at a crash).
        assert (await rig.queue.backlog())["f"].running == LEASES_PER_INVOCATION
        rig.clock.advance(PACE_S)
        await wait_until(lambda: len(invoker.calls) == 2)
        await asyncio.sleep(0.05)
        assert len(invoker.calls) == 2 and max(n for _, n in invoker.peaks) == 1
        rig.clock.advance(BURST_WINDOW_S)  # no accepts for a window: the burst is over
        await wait_until(lambda: len(invoker.calls) == count)
        await rig.events.close(grace_s=1)
        assert max(n for _, n in invoker.peaks) > 1

    asyncio.run(go())


def test_one_accept_at_a_time_never_holds_execution(rig_factory) -> None:  # type: ignore[no-untyped-def]
    rig = rig_factory(["ok"])
    invoker = SlowInvoker(rig.clock)
    rig.events._invoker = invoker

    async def go() -> None:
        for _ in range(3 * HOT_ACCEPTS):
            await rig.events.accept("f", None, b"{}")
        rig.events.start()
        await wait_until(lambda: len(invoker.calls) == 3 * HOT_ACCEPTS)  # the fake clock stands
        await rig.events.close(grace_s=1)
        assert max(n for _, n in invoker.peaks) > 1

    asyncio.run(go())


async def wait_until(condition: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.005)
