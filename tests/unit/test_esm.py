"""Event source mappings below the API: the registry's states, checks, persistence
and tags; the ``aws:sqs`` record and AWS's rules for a ReportBatchItemFailures
answer; FilterCriteria validation; and the SQS poller on a fake clock with a fake
invoker over a real SQLite queue store (delete on success, failures returning
after the visibility timeout, partial failures, MaximumConcurrency, a missing
queue or function reported and retried)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from lambdalite.clock import SteppingClock
from lambdalite.errors import InvalidParameterValue, InvalidTransition, ResourceConflict, ResourceNotFound
from lambdalite.esm import filters, requests
from lambdalite.esm.model import EventSourceMapping, MappingState
from lambdalite.esm.redis_streams import start_id, to_record
from lambdalite.esm.registry import MappingRegistry
from lambdalite.esm.sqs import SqsPoller, SqsSources, stop
from lambdalite.esm.sqs_records import failed_items, sqs_record
from lambdalite.esm.streams import StreamBatches, StreamRecord, kinesis_record
from lambdalite.events.targets import Targets, config_text
from lambdalite.models import FunctionConfig, InvocationResult
from lambdalite.protocol.front import Call, calling
from lambdalite.services.sqs.service import SqsService
from lambdalite.store.queues import StoredMessage
from lambdalite.store.stores import Stores
from tests.unit.control_plane import CODE, SETTINGS, open_registries

ACCOUNT = "000000000000"
QUEUE_ARN = f"arn:aws:sqs:us-east-1:{ACCOUNT}:q"


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[MappingRegistry, Stores, SqsService, SteppingClock]]:
    registries, opened = open_registries(tmp_path / "db.sqlite")
    registries.functions.create("fn", dataclasses.replace(SETTINGS, timeout_s=30), CODE)
    clock = SteppingClock()
    service = SqsService(opened.queues, clock, "us-east-1", ACCOUNT)
    registries.mappings.source_check = SqsSources(service)
    yield registries.mappings, opened, service, clock
    opened.close()


def sqs(service: SqsService, operation: str, **request: Any) -> dict[str, Any]:
    async def call() -> dict[str, Any]:
        with calling(Call(operation, "json", "127.0.0.1:1", "r")):
            result: dict[str, Any] = await getattr(service, operation)(request)
            return result

    return asyncio.run(call())


def create(registry: MappingRegistry, **body: Any) -> EventSourceMapping:
    return registry.create(requests.parse_create({"FunctionName": "fn", "EventSourceArn": QUEUE_ARN, **body}))


# -- the registry ---------------------------------------------------------------------------------


def test_a_mapping_moves_through_awss_states_and_survives_reopening(stores: Any, tmp_path: Path) -> None:
    registry, _, service, _ = stores
    sqs(service, "create_queue", QueueName="q", Attributes={"VisibilityTimeout": "30"})
    told: list[MappingState] = []
    registry.listeners.append(lambda mapping: told.append(mapping.state))
    mapping = create(registry, BatchSize=5, Tags={"k": "v"})
    assert mapping.state is MappingState.CREATING
    assert registry.settle(mapping.uuid).state is MappingState.ENABLED  # type: ignore[union-attr]
    disabling = registry.update(mapping.uuid, None, requests.MappingSettings(enabled=False))
    assert disabling.state is MappingState.DISABLING
    assert registry.settle(mapping.uuid).state is MappingState.DISABLED  # type: ignore[union-attr]
    assert told == [MappingState.CREATING, MappingState.DISABLING]
    with pytest.raises(InvalidTransition):
        registry.get(mapping.uuid).moved(MappingState.CREATING, 0)

    reopened, again = open_registries(tmp_path / "db.sqlite")
    try:
        loaded = reopened.mappings.get(mapping.uuid)
        assert (loaded.state, loaded.batch_size, loaded.enabled) == (MappingState.DISABLED, 5, False)
        assert reopened.mappings.tags(mapping.arn) == {"k": "v"}
    finally:
        again.close()

    registry.delete(mapping.uuid)
    assert registry.settle(mapping.uuid) is None
    with pytest.raises(ResourceNotFound) as caught:
        registry.get(mapping.uuid)
    assert caught.value.message == "The resource you requested does not exist."


def test_the_checks_are_awss(stores: Any) -> None:
    registry, _, service, _ = stores
    with pytest.raises(InvalidParameterValue, match="NonExistentQueue"):
        create(registry)
    sqs(service, "create_queue", QueueName="q", Attributes={"VisibilityTimeout": "10"})
    with pytest.raises(InvalidParameterValue) as caught:
        create(registry)
    assert (
        caught.value.message
        == "Queue visibility timeout: 10 seconds is less than Function timeout: 30 seconds"
    )
    sqs(service, "set_queue_attributes", QueueUrl="q", Attributes={"VisibilityTimeout": "30"})
    with pytest.raises(InvalidParameterValue, match="Maximum batch window in seconds must be greater than 0"):
        create(registry, BatchSize=100)
    first = create(registry, BatchSize=100, MaximumBatchingWindowInSeconds=1)
    with pytest.raises(
        ResourceConflict, match=f"Please update or delete the existing mapping with UUID {first.uuid}"
    ):
        create(registry)
    with pytest.raises(InvalidParameterValue, match="Function does not exist"):
        registry.create(requests.parse_create({"FunctionName": "fn:7", "EventSourceArn": QUEUE_ARN}))
    with pytest.raises(InvalidParameterValue, match="Unsupported MaximumRetryAttempts parameter"):
        create(registry, MaximumRetryAttempts=1)


def test_listing_filters_by_function_and_source(stores: Any) -> None:
    registry, _, service, _ = stores
    for name in ("q", "r"):
        sqs(service, "create_queue", QueueName=name, Attributes={"VisibilityTimeout": "30"})
    a = create(registry)
    b = registry.create(requests.parse_create({"FunctionName": "fn", "EventSourceArn": QUEUE_ARN[:-1] + "r"}))
    assert {m.uuid for m in registry.list("fn", None, None, 50)[0]} == {a.uuid, b.uuid}
    assert [m.uuid for m in registry.list(None, QUEUE_ARN, None, 50)[0]] == [a.uuid]
    assert registry.list("other", None, None, 50)[0] == []
    first, marker = registry.list(None, None, None, 1)
    assert marker is not None and registry.list(None, None, marker, 1)[0] != first


def test_filter_criteria_are_validated() -> None:
    filters.check_patterns(['{"body": {"kind": ["a"]}}'])
    for bad in ("[]", "{", "", '"text"'):
        with pytest.raises(InvalidParameterValue) as caught:
            filters.check_patterns([bad])
        assert caught.value.message == "Invalid filter pattern definition."
    record = {"body": '{"kind": "a"}', "messageId": "m"}
    assert filters.sqs_document(record)["body"] == {"kind": "a"}
    assert filters.sqs_document({"body": "plain"})["body"] == "plain"


# -- records and answers ---------------------------------------------------------------------------


def test_the_sqs_record_of_a_fifo_message_carries_its_group_and_sequence() -> None:
    message = StoredMessage(
        seq=1,
        queue="q.fifo",
        message_id="id",
        body="b",
        attributes=None,
        system={"AWSTraceHeader": {"StringValue": "Root=1", "DataType": "String"}},
        sent_at=1.5,
        visible_at=0,
        receive_count=2,
        first_receive=2.0,
        receipt="t",
        group_id="g",
        dedup_id="d",
        sequence_number="18",
    )
    record = sqs_record(message, "handle", QUEUE_ARN, "us-east-1", ACCOUNT)
    assert record["attributes"] == {
        "ApproximateReceiveCount": "2",
        "SentTimestamp": "1500",
        "SenderId": ACCOUNT,
        "ApproximateFirstReceiveTimestamp": "2000",
        "SequenceNumber": "18",
        "MessageGroupId": "g",
        "MessageDeduplicationId": "d",
        "AWSTraceHeader": "Root=1",
    }
    assert record["messageAttributes"] == {} and "md5OfMessageAttributes" not in record


@pytest.mark.parametrize(
    ("payload", "failed"),
    [
        (b"", set()),
        (b"null", set()),
        (b"{}", set()),
        (b'{"batchItemFailures": null}', set()),
        (b'{"batchItemFailures": []}', set()),
        (b'{"batchItemFailures": [{"itemIdentifier": "a"}]}', {"a"}),
        (b"not json", None),
        (b'{"batchItemFailures": [{"itemIdentifier": ""}]}', None),
        (b'{"batchItemFailures": [{"itemIdentifier": null}]}', None),
        (b'{"batchItemFailures": [{"id": "a"}]}', None),
        (b'{"batchItemFailures": [{"itemIdentifier": "elsewhere"}]}', None),
    ],
)
def test_batch_item_failures_follow_awss_rules(payload: bytes, failed: set[str] | None) -> None:
    assert failed_items(payload, ["a", "b"]) == failed


# -- the poller --------------------------------------------------------------------------------------


class FakeInvoker:
    """Answers each invocation with ``answer(records)``; counts how many run at once."""

    def __init__(self, answer: Any = None, hold: asyncio.Event | None = None) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self.answer = answer or (lambda records: InvocationResult(b"null"))
        self.hold = hold
        self.running = 0
        self.most = 0

    async def invoke(self, function: FunctionConfig, payload: bytes, **kwargs: Any) -> InvocationResult:
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            records = orjson.loads(payload)["Records"]
            self.batches.append(records)
            if self.hold is not None:
                await self.hold.wait()
            result: InvocationResult = self.answer(records)
            return result
        finally:
            self.running -= 1


def sqs_poller(
    stores: Any, mapping: EventSourceMapping, invoker: FakeInvoker, reports: list[str | None]
) -> SqsPoller:
    """A poller of ``mapping`` over the fixture's stores, its reports appended to ``reports``."""
    registry, opened, service, clock = stores
    return SqsPoller(
        mapping,
        service,
        opened.queues,
        registry._functions,
        invoker,
        reports.append,
        clock,
        "us-east-1",
        ACCOUNT,  # type: ignore[arg-type]
    )


async def run_poller(stores: Any, invoker: FakeInvoker, until: Any, **body: Any) -> list[str | None]:
    registry = stores[0]
    mapping = create(registry, **body)
    reports: list[str | None] = []
    poller = sqs_poller(stores, mapping, invoker, reports)
    task = asyncio.ensure_future(poller.run())
    for _ in range(2000):
        if until():
            break
        await asyncio.sleep(0)
    await stop(poller, task, wait=False)
    return reports


def send(service: SqsService, *bodies: str, queue: str = "q") -> None:
    for body in bodies:
        sqs(service, "send_message", QueueUrl=queue, MessageBody=body)


def counts(stores: Any, queue: str = "q") -> tuple[int, int]:
    _, opened, _, clock = stores
    found = opened.queues.counts(queue, clock.now())
    return found.visible, found.in_flight


def test_a_batch_that_succeeds_is_deleted(stores: Any) -> None:
    sqs(stores[2], "create_queue", QueueName="q", Attributes={"VisibilityTimeout": "30"})
    send(stores[2], "a", "b", "c")
    invoker = FakeInvoker()
    reports = asyncio.run(run_poller(stores, invoker, lambda: invoker.batches and counts(stores) == (0, 0)))
    assert [[r["body"] for r in batch] for batch in invoker.batches] == [["a", "b", "c"]]
    assert counts(stores) == (0, 0) and reports[-1] == "OK"


def test_a_failed_batch_returns_after_the_visibility_timeout(stores: Any) -> None:
    sqs(stores[2], "create_queue", QueueName="q", Attributes={"VisibilityTimeout": "30"})
    send(stores[2], "a")
    invoker = FakeInvoker(
        lambda records: InvocationResult(b'{"errorMessage": "x"}', function_error="Unhandled")
    )
    asyncio.run(run_poller(stores, invoker, lambda: len(invoker.batches) >= 2))
    first, second = invoker.batches[:2]
    assert first[0]["attributes"]["ApproximateReceiveCount"] == "1"
    assert second[0]["attributes"]["ApproximateReceiveCount"] == "2"
    assert int(second[0]["attributes"]["ApproximateFirstReceiveTimestamp"]) == int(
        first[0]["attributes"]["ApproximateFirstReceiveTimestamp"]
    )


def test_partial_failures_keep_only_the_named_messages(stores: Any) -> None:
    sqs(stores[2], "create_queue", QueueName="q", Attributes={"VisibilityTimeout": "30"})
    send(stores[2], "keep", "fail")

    def answer(records: list[dict[str, Any]]) -> InvocationResult:
        failed = [{"itemIdentifier": r["messageId"]} for r in records if r["body"] == "fail"]
        return InvocationResult(orjson.dumps({"batchItemFailures": failed}))

    invoker = FakeInvoker(answer)
    asyncio.run(
        run_poller(
            stores,
            invoker,
            lambda: invoker.batches and counts(stores) == (0, 1),
            FunctionResponseTypes=["ReportBatchItemFailures"],
        )
    )
    assert counts(stores) == (0, 1)


def test_maximum_concurrency_bounds_the_batches_in_flight(stores: Any) -> None:
    sqs(stores[2], "create_queue", QueueName="q", Attributes={"VisibilityTimeout": "30"})
    send(stores[2], *[str(n) for n in range(6)])
    invoker = FakeInvoker(hold=asyncio.Event())
    asyncio.run(
        run_poller(
            stores,
            invoker,
            lambda: len(invoker.batches) >= 2,
            BatchSize=1,
            ScalingConfig={"MaximumConcurrency": 2},
        )
    )
    assert invoker.most == 2 and len(invoker.batches) == 2


def test_a_missing_queue_or_function_is_reported_and_retried(stores: Any) -> None:
    registry, _, service, clock = stores
    sqs(service, "create_queue", QueueName="q", Attributes={"VisibilityTimeout": "30"})
    mapping = create(registry)
    sqs(service, "delete_queue", QueueUrl="q")
    reports: list[str | None] = []
    invoker = FakeInvoker()

    async def go() -> None:
        poller = sqs_poller(stores, mapping, invoker, reports)
        task = asyncio.ensure_future(poller.run())
        start = clock.now()
        while len(reports) < 3:
            await asyncio.sleep(0)
        await stop(poller, task, wait=False)
        # 1 s, 2 s, 4 s...: backing off, not spinning.
        assert clock.now() - start >= 3

    asyncio.run(go())
    assert reports[0] is not None and reports[0].startswith("PROBLEM: Error occurred while ReceiveMessage.")

    sqs(service, "create_queue", QueueName="q2", Attributes={"VisibilityTimeout": "30"})
    send(service, "x", queue="q2")
    registry._functions.delete("fn")
    gone = dataclasses.replace(mapping, source_arn=QUEUE_ARN + "2")
    reports.clear()

    async def function_gone() -> None:
        poller = sqs_poller(stores, gone, invoker, reports)
        task = asyncio.ensure_future(poller.run())
        while not reports:
            await asyncio.sleep(0)
        await stop(poller, task, wait=False)

    asyncio.run(function_gone())
    assert reports[0] == "PROBLEM: Function not found." and invoker.batches == []


# -- queues as destinations ------------------------------------------------------------------------


def test_a_fifo_queue_is_refused_as_a_destination() -> None:
    targets = Targets()
    fifo = QUEUE_ARN + ".fifo"
    config = {"OnFailure": {"Destination": fifo}}
    with pytest.raises(InvalidParameterValue) as caught:
        targets.check_destination(fifo, "fn", config_text(config))
    assert caught.value.message == (
        "The provided destination config DestinationConfig(onSuccess=null, "
        f"onFailure=OnFailure(destination={fifo})) is invalid."
    )


def test_a_message_received_again_while_its_batch_gathers_is_kept_once_with_its_latest_receipt() -> None:
    from lambdalite.esm.sqs import _latest_receipts

    def message(seq: int, receipt: str) -> StoredMessage:
        return StoredMessage(seq, "q", f"m{seq}", "b", None, None, 0, 0, 1, 0, receipt, None, None, None)

    merged = _latest_receipts([message(1, "old"), message(2, "x")], [message(3, "y"), message(1, "new")])
    assert [(m.seq, m.receipt) for m in merged] == [(1, "new"), (2, "x"), (3, "y")]


def test_changes_in_quick_succession_leave_one_poller_and_a_settled_mapping(stores: Any) -> None:
    from lambdalite.esm.pollers import MappingPollers

    registry, opened, service, clock = stores
    sqs(service, "create_queue", QueueName="q", Attributes={"VisibilityTimeout": "30"})

    async def go() -> None:
        pollers = MappingPollers(
            registry,
            registry._functions,
            FakeInvoker(),
            service,
            opened.queues,
            clock,
            "us-east-1",
            ACCOUNT,  # type: ignore[arg-type]
        )
        pollers.start()
        mapping = create(registry)
        # Changed again before the creation settled, then once more.
        registry.update(mapping.uuid, None, requests.MappingSettings(batch_size=5))
        registry.update(mapping.uuid, None, requests.MappingSettings(enabled=False))
        registry.update(mapping.uuid, None, requests.MappingSettings(enabled=True))
        for _ in range(200):
            await asyncio.sleep(0)
        assert registry.get(mapping.uuid).state is MappingState.ENABLED
        assert registry.get(mapping.uuid).batch_size == 5
        assert list(pollers._running) == [mapping.uuid]
        registry.delete(mapping.uuid)
        for _ in range(200):
            await asyncio.sleep(0)
        assert registry.find(mapping.uuid) is None and pollers._running == {}
        await pollers.close()

    asyncio.run(go())


# -- streams ---------------------------------------------------------------------------------------


def stream_mapping(**changes: Any) -> EventSourceMapping:
    base = EventSourceMapping(
        uuid="u",
        arn="arn:aws:lambda:us-east-1:000000000000:event-source-mapping:u",
        source_arn="arn:aws:redis:us-east-1:000000000000:stream/s",
        function_name="fn",
        qualifier=None,
        function_arn="arn:aws:lambda:us-east-1:000000000000:function:fn",
        enabled=True,
        state=MappingState.ENABLED,
        reason="User action",
        last_modified=0,
        batch_size=100,
        window_s=0,
        starting_position="TRIM_HORIZON",
        on_failure="arn:aws:lambda:us-east-1:000000000000:function:sink",
    )
    return dataclasses.replace(base, **changes)


def records(*sequences: int, arrival: float = 1_700_000_000.0) -> list[StreamRecord]:
    return [StreamRecord(f"{n}-0", "pk", str(n).encode(), arrival) for n in sequences]


def run_batches(
    mapping: EventSourceMapping, batch: list[StreamRecord], answer: Any
) -> tuple[list[list[str]], list[dict[str, Any]]]:
    """(the sequence numbers of each invocation, the OnFailure records) of one batch."""
    calls: list[list[str]] = []
    discarded: list[dict[str, Any]] = []

    async def invoke(part: Any) -> InvocationResult:
        calls.append([r.sequence for r in part])
        result: InvocationResult = answer([r.sequence for r in part], len(calls))
        return result

    async def discard(record: bytes) -> None:
        discarded.append(orjson.loads(record))

    clock = SteppingClock()
    asyncio.run(StreamBatches(mapping, invoke, discard, clock, lambda _: None).process(batch))
    return calls, discarded


def fails_on(bad: str) -> Any:
    def answer(sequences: list[str], _: int) -> InvocationResult:
        if bad in sequences:
            return InvocationResult(b'{"errorMessage": "x"}', function_error="Unhandled")
        return InvocationResult(b"null")

    return answer


def test_a_stream_batch_bisects_to_the_failing_record_and_discards_it_with_its_metadata() -> None:
    calls, discarded = run_batches(
        stream_mapping(bisect=True, max_retries=1), records(1, 2, 3, 4), fails_on("3-0")
    )
    assert calls == [["1-0", "2-0", "3-0", "4-0"], ["1-0", "2-0"], ["3-0", "4-0"], ["3-0"], ["3-0"], ["4-0"]]
    assert len(discarded) == 1
    failure = discarded[0]
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert failure["requestContext"]["approximateInvokeCount"] == 2
    assert failure["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    }
    info = failure["KinesisBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == ("3-0", "3-0", 1)
    assert info["streamArn"] == "arn:aws:redis:us-east-1:000000000000:stream/s"


def test_without_bisect_a_stream_batch_is_retried_whole_then_discarded() -> None:
    calls, discarded = run_batches(stream_mapping(max_retries=2), records(1, 2), fails_on("2-0"))
    assert calls == [["1-0", "2-0"]] * 3
    assert discarded[0]["KinesisBatchInfo"]["batchSize"] == 2


def test_reported_item_failures_retry_from_the_first_failed_record() -> None:
    def answer(sequences: list[str], call: int) -> InvocationResult:
        failed = [{"itemIdentifier": "2-0"}] if call == 1 else []
        return InvocationResult(orjson.dumps({"batchItemFailures": failed}))

    calls, discarded = run_batches(stream_mapping(report_item_failures=True), records(1, 2, 3), answer)
    assert calls == [["1-0", "2-0", "3-0"], ["2-0", "3-0"]] and discarded == []


def test_records_older_than_the_maximum_age_are_not_sent() -> None:
    old, new = records(1, arrival=1_700_000_000.0 - 3600), records(2)
    calls, discarded = run_batches(
        stream_mapping(max_age_s=60), old + new, lambda s, c: InvocationResult(b"null")
    )
    assert calls == [["2-0"]]
    assert discarded[0]["requestContext"]["condition"] == "RecordAgeExceeded"


def test_a_redis_entry_becomes_a_kinesis_record() -> None:
    record = to_record(b"1700000000123-4", {b"data": b"hello", b"partitionKey": b"k"})
    assert record == StreamRecord("1700000000123-4", "k", b"hello", 1700000000.123)
    shaped = kinesis_record(record, "lambdalite:redis", "arn:s", "us-east-1", "arn:role")
    assert (
        shaped["kinesis"]["data"] == "aGVsbG8="
        and shaped["eventID"] == "shardId-000000000000:1700000000123-4"
    )
    fields = to_record("5-0", {b"a": b"1"})
    assert (fields.data, fields.partition_key) == (b'{"a":"1"}', "")
    assert start_id(stream_mapping()) == "0-0"
    assert (
        start_id(stream_mapping(starting_position="LATEST", starting_timestamp=2.5))
        == "2499-18446744073709551615"
    )


def test_a_jetstream_consumer_starts_after_the_checkpoint_or_at_the_starting_position() -> None:
    from nats.js.api import DeliverPolicy

    from lambdalite.esm.nats_streams import consumer_config, stream_name

    assert stream_name("arn:aws:nats:us-east-1:000000000000:stream/ORDERS", "us-east-1", ACCOUNT) == "ORDERS"
    assert stream_name("arn:aws:nats:eu-west-1:000000000000:stream/ORDERS", "us-east-1", ACCOUNT) is None
    assert stream_name("arn:aws:nats:us-east-1:000000000000:subject/x", "us-east-1", ACCOUNT) is None
    resumed = consumer_config(stream_mapping(), "41")
    assert (resumed.deliver_policy, resumed.opt_start_seq) == (DeliverPolicy.BY_START_SEQUENCE, 42)
    assert consumer_config(stream_mapping(), None).deliver_policy == DeliverPolicy.ALL
    latest = consumer_config(
        stream_mapping(starting_position="LATEST", starting_timestamp=1_700_000_000.0), None
    )
    assert latest.deliver_policy == DeliverPolicy.BY_START_TIME
    assert latest.opt_start_time is not None and latest.opt_start_time.timestamp() == 1_700_000_000.0


def test_parallelization_runs_lanes_by_partition_key_at_once_and_keeps_each_keys_order() -> None:
    from lambdalite.esm.streams import partition_lanes

    batch = [StreamRecord(f"{n}-0", f"k{n % 3}", b"", 1_700_000_000.0) for n in range(9)]
    lanes = partition_lanes(batch, 10)
    assert sorted(r.sequence for lane in lanes for r in lane) == sorted(r.sequence for r in batch)
    for lane in lanes:
        assert lane == sorted(lane, key=lambda r: int(r.sequence.split("-")[0]))
        assert len({r.partition_key for r in lane}) == 1
    assert partition_lanes(batch, 1) == [batch]
    calls, _ = run_batches(stream_mapping(parallelization=10), batch, lambda s, c: InvocationResult(b"null"))
    assert sorted(len(call) for call in calls) == [3, 3, 3]


def test_other_sqs_endpoints_are_read_from_the_server_option() -> None:
    from lambdalite.esm.remote_sqs import RemoteEndpoint, parse_endpoints, remote_record

    assert parse_endpoints(
        "111111111111:us-east-1=http://127.0.0.1:9002, 222222222222:eu-west-1=https://sqs.eu-west-1.amazonaws.com|K|S"
    ) == {
        ("111111111111", "us-east-1"): RemoteEndpoint("http://127.0.0.1:9002"),
        ("222222222222", "eu-west-1"): RemoteEndpoint("https://sqs.eu-west-1.amazonaws.com", "K", "S"),
    }
    assert parse_endpoints("") == {}
    for bad in ("nonsense", "111111111111:us-east-1=ftp://x", "111111111111:us-east-1=http://x|K"):
        with pytest.raises(SystemExit):
            parse_endpoints(bad)
    record = remote_record(
        {
            "MessageId": "m",
            "ReceiptHandle": "h",
            "Body": "b",
            "MD5OfBody": "92eb5ffee6ae2fec3ad71c777531578f",
            "Attributes": {"ApproximateReceiveCount": "1"},
            "MessageAttributes": {"bin": {"DataType": "Binary", "BinaryValue": b"\x01"}},
            "MD5OfMessageAttributes": "x",
        },
        QUEUE_ARN,
        "us-east-1",
    )
    assert list(record) == [
        "messageId",
        "receiptHandle",
        "body",
        "attributes",
        "messageAttributes",
        "md5OfMessageAttributes",
        "md5OfBody",
        "eventSource",
        "eventSourceARN",
        "awsRegion",
    ]
    assert record["messageAttributes"]["bin"] == {
        "binaryValue": "AQ==",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "Binary",
    }
