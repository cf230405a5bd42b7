"""The checksums S3 computes and verifies: CRC32, CRC32C, CRC64NVME, SHA1, SHA256
(named as S3 names them), each sent and stored base64-encoded; and MD5 for ETags
and ``Content-MD5``.

CRC32C comes from the ``crc32c`` package (hardware-accelerated C). CRC64NVME is
table-driven Python here (about 10 MB/s: S3 computes it only when a client asks for
it). awscrt would give both fast, but installing it switches botocore's own signers
to the CRT's, in the server's process and in every client of the same environment.
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from typing import Protocol

import crc32c

__all__ = ["ALGORITHMS", "Checksum", "new_checksum"]

ALGORITHMS = ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256")


class Checksum(Protocol):
    def update(self, data: bytes) -> None: ...

    def b64(self) -> str:
        """The checksum as S3 sends it."""
        ...


_CRC64NVME_POLY = 0x9A6C9329AC4BC9B5
"""CRC-64/NVME's polynomial 0xAD93D23594C93659, bit-reversed (the CRC is reflected)."""
_MASK64 = (1 << 64) - 1


def _crc64_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ _CRC64NVME_POLY if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC64_TABLE = _crc64_table()


def crc64nvme(data: bytes, value: int = 0) -> int:
    """CRC-64/NVME of ``data`` continuing from ``value`` (the CRC of what came before)."""
    crc = value ^ _MASK64
    table = _CRC64_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ _MASK64


class _Crc:
    __slots__ = ("_fn", "_size", "_value")

    def __init__(self, fn: object, size: int) -> None:
        self._fn = fn
        self._size = size
        self._value = 0

    def update(self, data: bytes) -> None:
        self._value = self._fn(data, self._value)  # type: ignore[operator]

    def b64(self) -> str:
        return base64.b64encode(self._value.to_bytes(self._size, "big")).decode()


class _Hash:
    __slots__ = ("_hash",)

    def __init__(self, name: str) -> None:
        self._hash = hashlib.new(name)

    def update(self, data: bytes) -> None:
        self._hash.update(data)

    def b64(self) -> str:
        return base64.b64encode(self._hash.digest()).decode()


def new_checksum(algorithm: str) -> Checksum:
    """A running checksum of ``algorithm`` (one of ALGORITHMS); KeyError otherwise."""
    if algorithm == "CRC32":
        return _Crc(zlib.crc32, 4)
    if algorithm == "CRC32C":
        return _Crc(crc32c.crc32c, 4)
    if algorithm == "CRC64NVME":
        return _Crc(crc64nvme, 8)
    if algorithm == "SHA1":
        return _Hash("sha1")
    if algorithm == "SHA256":
        return _Hash("sha256")
    raise KeyError(algorithm)
