"""Streams feeding a function through an event source mapping, against the Redis
on 127.0.0.1:6379 and the NATS JetStream on 127.0.0.1:4222 (skipped without them,
failing instead when LAMBDALITE_REQUIRE_SERVICES=1): Kinesis-shaped records in
order, AWS's stream errors, bisect with the OnFailure record delivered to a
function, the checkpoint across a server restart, a broker that is down."""

from __future__ import annotations

import base64
import uuid as uuids
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from tests.conftest import (
    ACCOUNT,
    ARN_PREFIX,
    REGION,
    Server,
    create_function,
    service_missing,
    start_server,
    stop_server,
)
from tests.e2e.async_rig import REPORTING, SINK, Collector, wait_for

HANDLER = (
    REPORTING
    + """
import base64

def handler(event, context):
    report("record", event)
    for record in event["Records"]:
        if base64.b64decode(record["kinesis"]["data"]) == b"poison":
            raise RuntimeError("cannot take this one")
    return {}
"""
)
STREAM_PREFIX = f"arn:aws:redis:{REGION}:{ACCOUNT}:stream/"


@pytest.fixture(scope="module")
def rds() -> Iterator[redis.Redis]:
    client = redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        service_missing("Redis on 127.0.0.1:6379", exc)
    keys: list[str] = []
    client.keys_made = keys  # type: ignore[attr-defined]
    yield client
    if keys:
        client.delete(*keys)
    client.close()


def new_stream(rds: redis.Redis) -> tuple[str, str]:
    key = f"lambdalite-test-{uuids.uuid4().hex[:12]}"
    rds.keys_made.append(key)  # type: ignore[attr-defined]
    return key, STREAM_PREFIX + key


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, rds: redis.Redis) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("streams") / "data", env={"LAMBDALITE_KEEP_ALIVE_S": "60"})
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def lam(server: Server, collector: Collector) -> Any:
    client = server.client("lambda")
    env = {"Variables": collector.variables}
    create_function(client, "reader", {"app.py": HANDLER}, Environment=env, Timeout=5)
    create_function(client, "sink", {"app.py": SINK}, Environment=env, Timeout=5)
    return client


def delivered(collector: Collector, arn: str) -> list[dict[str, Any]]:
    with collector.lock:
        return [
            r
            for event in collector.records
            for r in event.get("Records", [])
            if r.get("eventSourceARN") == arn
        ]


def failures_of(collector: Collector, arn: str) -> list[dict[str, Any]]:
    with collector.lock:
        return [e for e in collector.records if e.get("KinesisBatchInfo", {}).get("streamArn") == arn]


def test_stream_errors_are_awss(lam: Any) -> None:
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as excinfo:
        lam.create_event_source_mapping(FunctionName="reader", EventSourceArn=STREAM_PREFIX + "s")
    assert excinfo.value.response["Error"]["Message"] == (
        "1 validation error detected: Value null at 'startingPosition' failed to satisfy constraint: "
        "Member must not be null."
    )
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as excinfo:
        lam.create_event_source_mapping(
            FunctionName="reader",
            EventSourceArn=f"arn:aws:redis:{REGION}:{ACCOUNT}:queue/x",
            StartingPosition="LATEST",
        )
    assert (
        excinfo.value.response["Error"]["Message"]
        == f"Stream not found: arn:aws:redis:{REGION}:{ACCOUNT}:queue/x"
    )
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as excinfo:
        lam.create_event_source_mapping(
            FunctionName="reader",
            EventSourceArn=STREAM_PREFIX + "s",
            StartingPosition="LATEST",
            ScalingConfig={"MaximumConcurrency": 2},
        )
    assert excinfo.value.response["Error"]["Message"] == (
        "Unsupported ScalingConfig parameter for given event source mapping type."
    )


def test_records_arrive_in_order_in_kinesis_shape(lam: Any, rds: redis.Redis, collector: Collector) -> None:
    key, arn = new_stream(rds)
    ids = [rds.xadd(key, {"data": f"r{n}", "partitionKey": f"k{n % 2}"}).decode() for n in range(5)]
    created = lam.create_event_source_mapping(
        FunctionName="reader", EventSourceArn=arn, StartingPosition="TRIM_HORIZON", BatchSize=2
    )
    assert {k: created[k] for k in ("BatchSize", "StartingPosition", "MaximumRetryAttempts", "State")} == {
        "BatchSize": 2,
        "StartingPosition": "TRIM_HORIZON",
        "MaximumRetryAttempts": -1,
        "State": "Creating",
    }
    assert created["StateTransitionReason"] == "User action"
    assert created["DestinationConfig"] == {"OnFailure": {}}
    records = wait_for(
        lambda: len(delivered(collector, arn)) >= 5 and delivered(collector, arn), message="records"
    )
    assert [r["kinesis"]["sequenceNumber"] for r in records] == ids
    first = records[0]
    assert first == {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": "k0",
            "sequenceNumber": ids[0],
            "data": base64.b64encode(b"r0").decode(),
            "approximateArrivalTimestamp": int(ids[0].split("-")[0]) / 1000,
        },
        "eventSource": "lambdalite:redis",
        "eventVersion": "1.0",
        "eventID": f"shardId-000000000000:{ids[0]}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": f"arn:aws:iam::{ACCOUNT}:role/lambda-role",
        "awsRegion": REGION,
        "eventSourceARN": arn,
    }
    wait_for(lambda: lam.get_event_source_mapping(UUID=created["UUID"]).get("LastProcessingResult") == "OK")
    lam.delete_event_source_mapping(UUID=created["UUID"])


def test_a_poison_record_is_bisected_out_and_sent_to_the_on_failure_destination(
    lam: Any, rds: redis.Redis, collector: Collector
) -> None:
    key, arn = new_stream(rds)
    ids = [rds.xadd(key, {"data": body}).decode() for body in ("a", "b", "poison", "c")]
    uuid = lam.create_event_source_mapping(
        FunctionName="reader",
        EventSourceArn=arn,
        StartingPosition="TRIM_HORIZON",
        BisectBatchOnFunctionError=True,
        MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": f"{ARN_PREFIX}sink"}},
    )["UUID"]
    failure = wait_for(lambda: failures_of(collector, arn), message="the OnFailure record")[0]
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert failure["requestContext"]["functionArn"] == f"{ARN_PREFIX}reader"
    assert failure["responseContext"]["functionError"] == "Unhandled"
    info = failure["KinesisBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == (ids[2], ids[2], 1)
    # Every good record was delivered, and the stream went on past the poison one.
    wait_for(lambda: ids[3] in [r["kinesis"]["sequenceNumber"] for r in delivered(collector, arn)])
    lam.delete_event_source_mapping(UUID=uuid)


def test_the_checkpoint_survives_a_restart(tmp_path: Any, rds: redis.Redis, collector: Collector) -> None:
    key, arn = new_stream(rds)
    env = {"Variables": collector.variables}
    srv = start_server(tmp_path / "data")
    try:
        lam = srv.client("lambda")
        create_function(lam, "reader", {"app.py": HANDLER}, Environment=env, Timeout=5)
        before = [rds.xadd(key, {"data": f"before{n}"}).decode() for n in range(3)]
        lam.create_event_source_mapping(
            FunctionName="reader", EventSourceArn=arn, StartingPosition="TRIM_HORIZON", BatchSize=1
        )
        wait_for(lambda: len(delivered(collector, arn)) >= 3, message="the first records")
    finally:
        stop_server(srv)
    after = [rds.xadd(key, {"data": f"after{n}"}).decode() for n in range(2)]
    srv = start_server(tmp_path / "data")
    try:
        # Wait for the last record itself: a count would be met early when the batch the stop
        # interrupted comes again (at least once), before the last record has arrived.
        def sequences_seen() -> list[str]:
            return [r["kinesis"]["sequenceNumber"] for r in delivered(collector, arn)]

        wait_for(lambda: after[-1] in sequences_seen(), message="the records added while it was down")
        sequences = sequences_seen()
        assert list(dict.fromkeys(sequences)) == before + after, "in order, nothing lost"
        # At least once, as Kinesis: only the batch the stop interrupted may come again.
        assert sequences.count(before[0]) == 1, "the checkpoint held: no start from the beginning"
    finally:
        stop_server(srv)


def test_a_redis_that_is_down_is_reported_and_the_server_goes_on(tmp_path: Any, rds: redis.Redis) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        nobody = sock.getsockname()[1]
    srv = start_server(tmp_path / "data", env={"LAMBDALITE_REDIS_URL": f"redis://127.0.0.1:{nobody}/0"})
    try:
        lam = srv.client("lambda")
        create_function(lam, "reader", {"app.py": HANDLER}, Timeout=5)
        uuid = lam.create_event_source_mapping(
            FunctionName="reader", EventSourceArn=STREAM_PREFIX + "down", StartingPosition="LATEST"
        )["UUID"]
        result = wait_for(
            lambda: (
                (r := lam.get_event_source_mapping(UUID=uuid).get("LastProcessingResult", "")).startswith(
                    "PROBLEM: Connection to Redis failed"
                )
                and r
            ),
            message="the problem reported",
        )
        assert str(nobody) in result
        assert lam.get_event_source_mapping(UUID=uuid)["State"] == "Enabled"
        assert lam.invoke(FunctionName="reader", Payload=b'{"Records": []}')["StatusCode"] == 200
    finally:
        stop_server(srv)


# -- NATS JetStream ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def jetstream() -> Iterator[Any]:
    """A JetStream stream ``ESM<hex>`` on subjects ``esm<hex>.>``, and a publish function."""
    import asyncio

    import nats

    name = f"ESM{uuids.uuid4().hex[:10].upper()}"
    subject = name.lower()
    loop = asyncio.new_event_loop()

    async def connect() -> Any:
        connection = await nats.connect(
            "nats://127.0.0.1:4222", connect_timeout=1, allow_reconnect=False, max_reconnect_attempts=0
        )
        js = connection.jetstream()
        await js.add_stream(name=name, subjects=[f"{subject}.>"])
        return connection, js

    try:
        connection, js = loop.run_until_complete(connect())
    except Exception as exc:
        loop.close()
        service_missing("NATS JetStream on 127.0.0.1:4222", exc)

    def publish(key: str, data: bytes) -> int:
        ack = loop.run_until_complete(js.publish(f"{subject}.{key}", data))
        return int(ack.seq)

    yield name, subject, publish
    loop.run_until_complete(js.delete_stream(name))
    loop.run_until_complete(connection.close())
    loop.close()


def test_a_jetstream_stream_feeds_a_function_in_order_and_resumes_after_a_restart(
    tmp_path: Any, jetstream: Any, collector: Collector
) -> None:
    name, subject, publish = jetstream
    arn = f"arn:aws:nats:{REGION}:{ACCOUNT}:stream/{name}"
    env = {"Variables": collector.variables}
    before = [publish(f"k{n % 2}", f"n{n}".encode()) for n in range(3)]
    srv = start_server(tmp_path / "data")
    try:
        lam = srv.client("lambda")
        create_function(lam, "reader", {"app.py": HANDLER}, Environment=env, Timeout=5)
        created = lam.create_event_source_mapping(
            FunctionName="reader", EventSourceArn=arn, StartingPosition="TRIM_HORIZON", BatchSize=2
        )
        records = wait_for(lambda: len(delivered(collector, arn)) >= 3 and delivered(collector, arn))
        first = records[0]
        assert first["kinesis"]["sequenceNumber"] == str(before[0])
        assert first["kinesis"]["partitionKey"] == f"{subject}.k0"
        assert base64.b64decode(first["kinesis"]["data"]) == b"n0"
        assert first["eventSource"] == "lambdalite:nats"
        assert first["eventID"] == f"shardId-000000000000:{before[0]}"
        wait_for(
            lambda: lam.get_event_source_mapping(UUID=created["UUID"]).get("LastProcessingResult") == "OK"
        )
    finally:
        stop_server(srv)
    after = [publish("k9", f"later{n}".encode()) for n in range(2)]
    srv = start_server(tmp_path / "data")
    try:
        wait_for(lambda: len(delivered(collector, arn)) >= 5, message="the messages stored while it was down")
        sequences = [r["kinesis"]["sequenceNumber"] for r in delivered(collector, arn)]
        assert list(dict.fromkeys(sequences)) == [str(n) for n in before + after], "in order, nothing lost"
        # At least once, as Kinesis: only the batch the stop interrupted may come again.
        assert sequences.count(str(before[0])) == 1, "the checkpoint held: no start from the beginning"
    finally:
        stop_server(srv)


def test_a_jetstream_mapping_at_latest_skips_what_was_there(
    lam: Any, jetstream: Any, collector: Collector
) -> None:
    name, _, publish = jetstream
    arn = f"arn:aws:nats:{REGION}:{ACCOUNT}:stream/{name}"
    publish("old", b"old")
    seen = len(delivered(collector, arn))
    uuid = lam.create_event_source_mapping(
        FunctionName="reader", EventSourceArn=arn, StartingPosition="LATEST"
    )["UUID"]
    wait_for(lambda: lam.get_event_source_mapping(UUID=uuid)["State"] == "Enabled")
    fresh = publish("new", b"fresh")
    records = wait_for(lambda: delivered(collector, arn)[seen:], message="the new message")
    assert [r["kinesis"]["sequenceNumber"] for r in records] == [str(fresh)]
    lam.delete_event_source_mapping(UUID=uuid)
