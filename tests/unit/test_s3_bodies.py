"""S3 request bodies: aws-chunked decoding with trailers (unsigned and signed chunk
headers), checksums verified while a body is written, and the object size limit."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from lambdalite.protocol.errors import ServiceFault
from lambdalite.services.s3.bodies import ingest, requested_checksums
from lambdalite.services.s3.checksums import new_checksum
from lambdalite.services.s3.errors import S3Fault
from lambdalite.services.s3.payload import Payload


async def pieces(data: bytes, size: int) -> AsyncIterator[bytes]:
    for at in range(0, len(data), size):
        yield data[at : at + size]


def decode(wire: bytes, size: int = 3) -> tuple[bytes, dict[str, str]]:
    async def run() -> tuple[bytes, dict[str, str]]:
        payload = Payload(pieces(wire, size), chunked=True)
        body = b"".join([chunk async for chunk in payload])
        return body, payload.trailers

    return asyncio.run(run())


@pytest.mark.parametrize("size", [1, 2, 7, 1000])
def test_aws_chunked_bodies_decode_whatever_the_read_sizes(size: int) -> None:
    wire = b"5\r\nhello\r\n6;chunk-signature=abc\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n"
    assert decode(wire, size) == (b"hello world", {"x-amz-checksum-crc32": "DUoRhQ=="})


def test_a_cut_aws_chunked_body_is_incomplete() -> None:
    with pytest.raises(ServiceFault) as err:
        decode(b"a\r\nhello")
    assert err.value.fault_code == "IncompleteBody"
    with pytest.raises(ServiceFault):
        decode(b"zz\r\nhello\r\n")


def test_checksums_match_the_published_algorithms() -> None:
    crc = new_checksum("CRC32")
    crc.update(b"hello ")
    crc.update(b"world")
    assert crc.b64() == base64.b64encode(zlib.crc32(b"hello world").to_bytes(4, "big")).decode()
    sha = new_checksum("SHA256")
    sha.update(b"abc")
    assert sha.b64() == base64.b64encode(hashlib.sha256(b"abc").digest()).decode()
    # CRC32C's check value for "123456789" is 0xE3069283.
    crc32c = new_checksum("CRC32C")
    crc32c.update(b"123456789")
    assert base64.b64decode(crc32c.b64()) == bytes.fromhex("e3069283")
    # CRC-64/NVME's check value is 0xAE8B14860A799888, however the input is split.
    crc64 = new_checksum("CRC64NVME")
    crc64.update(b"1234")
    crc64.update(b"56789")
    assert base64.b64decode(crc64.b64()) == bytes.fromhex("ae8b14860a799888")


def test_requested_checksums_come_from_headers_trailers_and_the_algorithm() -> None:
    assert requested_checksums({"ChecksumSHA1": "x"}, "x-amz-checksum-crc32c") == {
        "SHA1": "x",
        "CRC32C": None,
    }
    assert requested_checksums({"ChecksumAlgorithm": "crc64nvme"}, "") == {"CRC64NVME": None}


def test_ingest_verifies_and_limits(tmp_path: Path) -> None:
    async def run(data: bytes, **kwargs: object) -> object:
        return await ingest(pieces(data, 4), tmp_path / "t", **kwargs)  # type: ignore[arg-type]

    md5 = base64.b64encode(hashlib.md5(b"data!").digest()).decode()
    done = asyncio.run(run(b"data!", checksums={"CRC32": None}, trailers=None, content_md5=md5))
    assert (tmp_path / "t").read_bytes() == b"data!"
    assert done.checksums["CRC32"] == base64.b64encode(zlib.crc32(b"data!").to_bytes(4, "big")).decode()  # type: ignore[attr-defined]
    (tmp_path / "t").unlink()
    with pytest.raises(S3Fault) as err:
        asyncio.run(run(b"12345", checksums={}, trailers=None, content_md5=None, limit=4))
    assert (err.value.fault_code, err.value.message) == (
        "EntityTooLarge",
        "Your proposed upload exceeds the maximum allowed size",
    )
    assert not (tmp_path / "t").exists()
    with pytest.raises(S3Fault) as err:
        asyncio.run(run(b"12345", checksums={}, trailers=None, content_md5="not base64!"))
    assert err.value.fault_code == "InvalidDigest"
    with pytest.raises(S3Fault) as err:
        asyncio.run(
            run(
                b"12345", checksums={"SHA1": None}, trailers={"x-amz-checksum-sha1": "AAAA"}, content_md5=None
            )
        )
    assert err.value.message == "The SHA1 you specified did not match the calculated checksum."
    assert not (tmp_path / "t").exists()


def test_a_full_disk_is_a_507_with_nothing_left(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno
    import os

    def full(fd: int, data: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(S3Fault) as err:
        asyncio.run(ingest(pieces(b"data", 2), tmp_path / "t", {}, None, None))
    assert (err.value.fault_code, err.value.fault_status) == ("InsufficientStorage", 507)
    assert not (tmp_path / "t").exists()
