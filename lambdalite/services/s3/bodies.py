"""Object bytes in and out: a payload written to a temporary file while its MD5 and
checksums are computed (and verified against what the client claimed), and a file
range read back as chunks. Nothing here holds a whole object in memory.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import errno
import hashlib
import os
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lambdalite.services.s3 import errors
from lambdalite.services.s3.checksums import ALGORITHMS, new_checksum

__all__ = ["Ingested", "file_chunks", "ingest", "requested_checksums"]

READ_CHUNK = 1024 * 1024


@dataclass(slots=True)
class Ingested:
    size: int
    md5: bytes
    checksums: dict[str, str] = field(default_factory=dict)
    """Algorithm -> base64 value, for each checksum asked for."""

    @property
    def etag(self) -> str:
        return f'"{self.md5.hex()}"'


def requested_checksums(request: Mapping[str, Any], declared: str) -> dict[str, str | None]:
    """Algorithm -> claimed value (None: compute and store only), from the request's
    ``x-amz-checksum-*`` headers, the trailers it declares (``x-amz-trailer``) and ``ChecksumAlgorithm``."""
    wanted: dict[str, str | None] = {}
    for algorithm in ALGORITHMS:
        value = request.get(f"Checksum{algorithm}")
        if value is not None:
            wanted[algorithm] = value
    for name in filter(None, (part.strip() for part in declared.lower().split(","))):
        if name.startswith("x-amz-checksum-"):
            algorithm = name[len("x-amz-checksum-") :].upper()
            if algorithm in ALGORITHMS:
                wanted.setdefault(algorithm, None)
    named = request.get("ChecksumAlgorithm")
    if isinstance(named, str) and named.upper() in ALGORITHMS:
        wanted.setdefault(named.upper(), None)
    return wanted


async def ingest(
    payload: AsyncIterable[bytes],
    temp: Path,
    checksums: Mapping[str, str | None],
    trailers: Mapping[str, str] | None,
    content_md5: str | None,
    limit: int = errors.MAX_OBJECT_SIZE,
) -> Ingested:
    """Write ``payload`` to ``temp``; verify ``content_md5`` and each claimed checksum
    (a claim missing from the headers is looked for in ``trailers``, read once the
    payload has ended). On any error ``temp`` is removed and the fault raised."""
    expected_md5: bytes | None = None
    if content_md5 is not None:
        try:
            expected_md5 = base64.b64decode(content_md5, validate=True)
        except (binascii.Error, ValueError):
            expected_md5 = None
        if expected_md5 is None or len(expected_md5) != 16:
            raise errors.invalid_digest(content_md5)
    md5 = hashlib.md5()
    running = {algorithm: new_checksum(algorithm) for algorithm in checksums}
    size = 0
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            async for chunk in payload:
                size += len(chunk)
                if size > limit:
                    raise errors.entity_too_large(size)
                md5.update(chunk)
                for checksum in running.values():
                    checksum.update(chunk)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        digest = md5.digest()
        if expected_md5 is not None and digest != expected_md5:
            raise errors.bad_digest(content_md5 or "", base64.b64encode(digest).decode())
        computed = {algorithm: checksum.b64() for algorithm, checksum in running.items()}
        for algorithm, claimed in checksums.items():
            if claimed is None and trailers is not None:
                claimed = trailers.get(f"x-amz-checksum-{algorithm.lower()}")
            if claimed is not None and claimed != computed[algorithm]:
                raise errors.checksum_mismatch(algorithm)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            temp.unlink()
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise errors.insufficient_storage() from exc
        raise
    return Ingested(size, digest, computed)


async def file_chunks(path: Path, start: int, length: int) -> AsyncIterator[bytes]:
    """``length`` bytes of ``path`` from ``start``, in chunks. The file is opened
    before the first chunk is asked for, so a later replacement of the object
    (which unlinks the file) does not cut the read short."""
    fd = os.open(path, os.O_RDONLY)
    return _read(fd, start, length)


async def _read(fd: int, start: int, length: int) -> AsyncIterator[bytes]:
    try:
        position = start
        end = start + length
        while position < end:
            chunk = os.pread(fd, min(READ_CHUNK, end - position), position)
            if not chunk:
                break
            position += len(chunk)
            yield chunk
    finally:
        os.close(fd)
