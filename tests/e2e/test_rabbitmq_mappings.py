"""RabbitMQ queues feeding a function through an Amazon MQ event source mapping,
against the RabbitMQ on 127.0.0.1:5672 (guest/guest; skipped without it, failing
instead when LAMBDALITE_REQUIRE_SERVICES=1): the ``aws:rmq`` event shape, a
failing function getting the message again (redelivered), a broker that is down."""

from __future__ import annotations

import asyncio
import base64
import socket
import uuid as uuids
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import aiormq
import pytest
from pamqp.commands import Basic

from tests.conftest import (
    ACCOUNT,
    REGION,
    Server,
    create_function,
    service_missing,
    start_server,
    stop_server,
)
from tests.e2e.async_rig import REPORTING, Collector, wait_for

HANDLER = (
    REPORTING
    + """
import base64

def handler(event, context):
    report("rmq", event)
    for messages in event["rmqMessagesByQueue"].values():
        for message in messages:
            if base64.b64decode(message["data"]) == b"poison" and not message["redelivered"]:
                raise RuntimeError("not this time")
    return {}
"""
)
BROKER_ARN = f"arn:aws:mq:{REGION}:{ACCOUNT}:broker:test:b-9bcfa592-423a-4942-879d-eb284b418fc8"
URL = "amqp://guest:guest@127.0.0.1:5672/"


def _reachable() -> str | None:
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=1).close()
    except OSError as exc:
        return str(exc)
    return None


@pytest.fixture(scope="module")
def rabbit() -> None:
    problem = _reachable()
    if problem is not None:
        service_missing("RabbitMQ on 127.0.0.1:5672", problem)


async def _declare_and_publish(queue: str, bodies: list[bytes], **properties: Any) -> None:
    connection = await aiormq.connect(URL)
    try:
        channel = await connection.channel()
        await channel.queue_declare(queue, auto_delete=False)
        for body in bodies:
            await channel.basic_publish(body, routing_key=queue, properties=Basic.Properties(**properties))
    finally:
        await connection.close()


async def _delete(queue: str) -> None:
    connection = await aiormq.connect(URL)
    try:
        channel = await connection.channel()
        await channel.queue_delete(queue)
    finally:
        await connection.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, rabbit: None) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("rmq") / "data", env={"LAMBDALITE_KEEP_ALIVE_S": "60"})
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def lam(server: Server, collector: Collector) -> Any:
    client = server.client("lambda")
    env = {"Variables": collector.variables}
    create_function(client, "consumer", {"app.py": HANDLER}, Environment=env, Timeout=5)
    return client


@pytest.fixture(scope="module")
def secret_arn(server: Server) -> str:
    sm = server.client("secretsmanager")
    made = sm.create_secret(Name="rmq-auth", SecretString='{"username": "guest", "password": "guest"}')
    return str(made["ARN"])


@pytest.fixture
def queue() -> Iterator[str]:
    name = f"lambdalite-test-{uuids.uuid4().hex[:12]}"
    asyncio.run(_declare_and_publish(name, []))
    yield name
    asyncio.run(_delete(name))


def events_of(collector: Collector, key: str) -> list[list[dict[str, Any]]]:
    with collector.lock:
        return [
            e["rmqMessagesByQueue"][key] for e in collector.records if key in e.get("rmqMessagesByQueue", {})
        ]


def create(lam: Any, queue: str, secret_arn: str, **extra: Any) -> dict[str, Any]:
    return dict(
        lam.create_event_source_mapping(
            FunctionName="consumer",
            EventSourceArn=BROKER_ARN,
            Queues=[queue],
            SourceAccessConfigurations=[
                {"Type": "BASIC_AUTH", "URI": secret_arn},
                {"Type": "VIRTUAL_HOST", "URI": "/"},
            ],
            **extra,
        )
    )


def test_batch_arrives_in_amazon_mq_shape(
    lam: Any, collector: Collector, secret_arn: str, queue: str
) -> None:
    stamp = datetime(2024, 3, 5, 14, 7, 9, tzinfo=UTC)
    asyncio.run(
        _declare_and_publish(
            queue,
            [b"one", b"two", b"three"],
            content_type="text/plain",
            headers={"h1": "value1", "n": 10},
            delivery_mode=2,
            message_id="m-1",
            timestamp=stamp,
        )
    )
    created = create(lam, queue, secret_arn, BatchSize=3, MaximumBatchingWindowInSeconds=1)
    assert created["Queues"] == [queue] and created["BatchSize"] == 3
    assert {"Type": "VIRTUAL_HOST", "URI": "/"} in created["SourceAccessConfigurations"]
    key = f"{queue}::/"
    batches = wait_for(lambda: events_of(collector, key), message="the batch")
    with collector.lock:
        event = next(e for e in collector.records if key in e.get("rmqMessagesByQueue", {}))
    assert event["eventSource"] == "aws:rmq" and event["eventSourceArn"] == BROKER_ARN
    messages = batches[0]
    assert [base64.b64decode(m["data"]) for m in messages] == [b"one", b"two", b"three"]
    first = messages[0]
    assert first["redelivered"] is False
    assert first["basicProperties"] == {
        "contentType": "text/plain",
        "contentEncoding": None,
        "headers": {"h1": {"bytes": list(b"value1")}, "n": 10},
        "deliveryMode": 2,
        "priority": None,
        "correlationId": None,
        "replyTo": None,
        "expiration": None,
        "messageId": "m-1",
        "timestamp": "Mar 5, 2024, 2:07:09 PM",
        "type": None,
        "userId": None,
        "appId": None,
        "clusterId": None,
        "bodySize": 3,
    }
    got = lam.get_event_source_mapping(UUID=created["UUID"])
    assert got["LastProcessingResult"] == "OK"
    lam.delete_event_source_mapping(UUID=created["UUID"])


def test_failing_function_gets_the_message_again(
    lam: Any, collector: Collector, secret_arn: str, queue: str
) -> None:
    asyncio.run(_declare_and_publish(queue, [b"poison"]))
    created = create(lam, queue, secret_arn, BatchSize=1)
    key = f"{queue}::/"
    batches = wait_for(
        lambda: len(events_of(collector, key)) >= 2 and events_of(collector, key), message="retry"
    )
    assert [m["redelivered"] for batch in batches[:2] for m in batch] == [False, True]
    lam.delete_event_source_mapping(UUID=created["UUID"])


def test_bad_secret_is_reported(lam: Any, queue: str) -> None:
    missing = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:nope-abcdef"
    created = create(lam, queue, missing)

    def reported() -> str | None:
        result = lam.get_event_source_mapping(UUID=created["UUID"]).get("LastProcessingResult", "")
        return result if "BASIC_AUTH" in result else None

    assert "ResourceNotFoundException" in wait_for(reported, message="the report")
    lam.delete_event_source_mapping(UUID=created["UUID"])


def test_broker_down_is_reported(tmp_path: Any, collector: Collector, rabbit: None) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    srv = start_server(tmp_path / "data", env={"LAMBDALITE_RABBITMQ_URL": f"amqp://127.0.0.1:{port}"})
    try:
        lam = srv.client("lambda")
        create_function(lam, "consumer", {"app.py": HANDLER}, Timeout=5)
        arn = srv.client("secretsmanager").create_secret(
            Name="auth", SecretString='{"username": "guest", "password": "guest"}'
        )["ARN"]
        created = create(lam, "q", arn)

        def reported() -> str | None:
            result = lam.get_event_source_mapping(UUID=created["UUID"]).get("LastProcessingResult", "")
            return result if "Connection to RabbitMQ failed" in result else None

        assert wait_for(reported, message="the report").startswith("PROBLEM: Connection to RabbitMQ failed")
    finally:
        stop_server(srv)


def test_mapping_errors(lam: Any, secret_arn: str) -> None:
    def refused(**kwargs: Any) -> str:
        with pytest.raises(lam.exceptions.InvalidParameterValueException) as info:
            lam.create_event_source_mapping(FunctionName="consumer", **kwargs)
        return str(info.value.response["Error"]["Message"])

    auth = [{"Type": "BASIC_AUTH", "URI": secret_arn}]
    other = f"arn:aws:mq:eu-north-1:{ACCOUNT}:broker:x:b-1"
    assert refused(EventSourceArn=other, Queues=["q"], SourceAccessConfigurations=auth) == (
        f"Broker not found: {other}"
    )
    assert refused(EventSourceArn=BROKER_ARN, SourceAccessConfigurations=auth) == (
        "Queues must contain exactly one queue name."
    )
    assert refused(EventSourceArn=BROKER_ARN, Queues=["q"]) == (
        "SourceAccessConfigurations must contain a BASIC_AUTH secret."
    )
    assert refused(
        EventSourceArn=BROKER_ARN, Queues=["q"], SourceAccessConfigurations=auth, StartingPosition="LATEST"
    ) == ("Unsupported StartingPosition parameter for given event source mapping type.")
