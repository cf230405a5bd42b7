"""Secrets Manager's recovery window against a manual clock and its store across a
restart; the Amazon MQ event's pieces (broker ARNs, properties, Java dates)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from lambdalite.auth.secrets import SecretBox
from lambdalite.clock import ManualClock
from lambdalite.esm.rabbitmq import _header, _java_date, broker_of, broker_url
from lambdalite.protocol.errors import ServiceFault
from lambdalite.services.secretsmanager.service import DAY_S, SecretsService
from lambdalite.store.secrets import SqliteSecretStore
from lambdalite.store.sqlite import SqliteDatabase


def _service(path: Path, clock: ManualClock) -> SecretsService:
    box = SecretBox(b"k" * 32)
    return SecretsService(SqliteSecretStore(SqliteDatabase(path), box), clock, "us-east-1", "123456789012")


def test_deletion_takes_effect_after_the_window_and_values_survive_restart(tmp_path: Path) -> None:
    clock = ManualClock()
    db = tmp_path / "x.db"
    service = _service(db, clock)
    asyncio.run(service.create_secret({"Name": "kept", "SecretString": "v1"}))
    asyncio.run(service.create_secret({"Name": "gone", "SecretString": "v"}))
    asyncio.run(service.delete_secret({"SecretId": "gone", "RecoveryWindowInDays": 7}))
    again = _service(db, clock)
    assert again.secret_string("kept") == "v1"
    clock.set(clock.now() + 7 * DAY_S - 1)
    assert asyncio.run(again.describe_secret({"SecretId": "gone"}))["Name"] == "gone"
    clock.set(clock.now() + 2)
    with pytest.raises(ServiceFault) as info:
        asyncio.run(again.describe_secret({"SecretId": "gone"}))
    assert info.value.fault_code == "ResourceNotFoundException"
    asyncio.run(again.create_secret({"Name": "gone", "SecretString": "new"}))


def test_broker_arns() -> None:
    arn = "arn:aws:mq:us-east-1:123456789012:broker:b1:b-1234"
    assert broker_of(arn, "us-east-1", "123456789012") == "b1"
    assert broker_of(arn, "eu-west-1", "123456789012") is None
    assert (
        broker_of("arn:aws:mq:us-east-1:123456789012:configuration:c-1", "us-east-1", "123456789012") is None
    )


def test_event_pieces() -> None:
    assert _java_date(datetime(1970, 1, 1, 0, 33, 41, tzinfo=UTC)) == "Jan 1, 1970, 12:33:41 AM"
    assert _java_date(datetime(2024, 12, 25, 12, 0, 5, tzinfo=UTC)) == "Dec 25, 2024, 12:00:05 PM"
    assert _header("ab") == {"bytes": [97, 98]}
    assert _header({"x": b"\x01", "n": 3}) == {"x": {"bytes": [1]}, "n": 3}
    assert broker_url("amqp://10.0.0.1:5673", "u@x", "p/w", "/") == "amqp://u%40x:p%2Fw@10.0.0.1:5673/%2F"


def test_mq_mapping_survives_its_document() -> None:
    from lambdalite.esm.model import EventSourceMapping
    from tests.unit.test_esm import stream_mapping

    mapping = stream_mapping(
        source_arn="arn:aws:mq:us-east-1:000000000000:broker:b:b-1",
        starting_position=None,
        on_failure=None,
        queues=("q",),
        source_access=(("BASIC_AUTH", "arn:s"), ("VIRTUAL_HOST", "/v")),
    )
    assert EventSourceMapping.from_document(orjson.loads(orjson.dumps(mapping.to_document()))) == mapping
    assert mapping.body()["SourceAccessConfigurations"][1] == {"Type": "VIRTUAL_HOST", "URI": "/v"}
