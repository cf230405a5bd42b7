"""The thumbnails example (examples/thumbnails) end to end, as its README runs it:
a server under ``--auth sigv4``, ``deploy.py`` with the administrator key, then an
image uploaded with boto3 - its thumbnail (at most 128 px a side) appears in the
second bucket, written by the function with its execution role, and the topic's
message reaches the subscribed queue.

The Pillow layer is built once per test session (pip, from the local wheels)."""

from __future__ import annotations

import importlib.util
import json
import struct
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import orjson
import pytest
from botocore.config import Config

from tests.conftest import REGION, Server, start_server, stop_server

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "thumbnails"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"thumbnails_{name}", EXAMPLE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def png(width: int, height: int) -> bytes:
    """An RGB PNG of a gradient (written by hand: the host needs no Pillow)."""
    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 255 // width, y * 255 // height, 128)) for x in range(width))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.fixture(scope="session")
def layer_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    built: Path = load("build_layer").build_layer(
        tmp_path_factory.mktemp("pillow-layer") / "pillow-layer.zip"
    )
    return built


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("thumbnails") / "data", "--auth", "sigv4")
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def admin(server: Server) -> Any:
    key = orjson.loads((server.data_dir / "admin-key.json").read_bytes())

    def client(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=server.endpoint,
            region_name=REGION,
            aws_access_key_id=key["AccessKeyId"],
            aws_secret_access_key=key["SecretAccessKey"],
            config=Config(retries={"mode": "standard", "total_max_attempts": 2}),
        )

    return client


def test_an_upload_gets_a_thumbnail_and_a_notification(admin: Any, layer_zip: Path) -> None:
    deployed = load("deploy").deploy(admin, layer_zip=layer_zip)
    s3, sqs = admin("s3"), admin("sqs")
    s3.put_object(Bucket="thumbnails-uploads", Key="photos/big picture.png", Body=png(400, 300))
    deadline = time.monotonic() + 30
    messages: list[dict[str, Any]] = []
    while not messages and time.monotonic() < deadline:
        answer = sqs.receive_message(QueueUrl=deployed.queue_url, WaitTimeSeconds=1)
        messages = answer.get("Messages", [])
    assert messages, "no notification reached the queue"
    envelope = json.loads(messages[0]["Body"])
    assert envelope["Type"] == "Notification" and envelope["TopicArn"] == deployed.topic_arn
    assert envelope["Subject"] == "Thumbnail ready"
    note = json.loads(envelope["Message"])
    assert note == {
        "source": "s3://thumbnails-uploads/photos/big picture.png",
        "thumbnail": "s3://thumbnails-output/photos/big picture.png",
        "width": 128,
        "height": 96,
    }
    got = s3.get_object(Bucket="thumbnails-output", Key="photos/big picture.png")
    assert got["ContentType"] == "image/png"
    assert png_size(got["Body"].read()) == (128, 96)
