"""The checksums S3 computes and verifies: CRC32, CRC32C, CRC64NVME, SHA1, SHA256
(named as S3 names them), each sent and stored base64-encoded; and MD5 for ETags
and ``Content-MD5``.

CRC32C and CRC64NVME come from awscrt (the AWS common runtime, which botocore itself
uses for them).
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from typing import Protocol

from awscrt import checksums as crt  # type: ignore[import-untyped]

__all__ = ["ALGORITHMS", "Checksum", "new_checksum"]

ALGORITHMS = ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256")


class Checksum(Protocol):
    def update(self, data: bytes) -> None: ...

    def b64(self) -> str:
        """The checksum as S3 sends it."""
        ...


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
        return _Crc(crt.crc32c, 4)
    if algorithm == "CRC64NVME":
        return _Crc(crt.crc64nvme, 8)
    if algorithm == "SHA1":
        return _Hash("sha1")
    if algorithm == "SHA256":
        return _Hash("sha256")
    raise KeyError(algorithm)
