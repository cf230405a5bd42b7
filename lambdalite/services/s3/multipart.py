"""S3's multipart uploads as typed operation handlers: parts are files of their own;
completing an upload assembles them into one object file (off the event loop) whose
ETag is the MD5 of the parts' MD5s, ``"<hex>-<part count>"``."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import secrets
from pathlib import Path
from typing import Any

from lambdalite.services.s3 import errors
from lambdalite.services.s3.bodies import ingest, requested_checksums
from lambdalite.services.s3.payload import Payload
from lambdalite.services.s3.service import OWNER, S3Service, copy_source, object_meta, parse_range
from lambdalite.store.objects import ObjectRecord, PartRecord, UploadRecord

__all__ = ["MultipartService"]

MAX_PART_NUMBER = 10_000
COPY_CHUNK = 8 * 1024 * 1024


class MultipartService:
    def __init__(self, objects: S3Service) -> None:
        self.objects = objects
        self.store = objects.store
        self.clock = objects.clock

    def _upload(self, bucket: str, upload_id: str) -> UploadRecord:
        self.objects.bucket(bucket)
        upload = self.store.upload(upload_id)
        if upload is None or upload.bucket != bucket:
            raise errors.no_such_upload(upload_id)
        return upload

    @staticmethod
    def _part_number(value: int) -> int:
        if not 1 <= value <= MAX_PART_NUMBER:
            raise errors.invalid_argument(
                "Part number must be an integer between 1 and 10000, inclusive", "partNumber", str(value)
            )
        return value

    async def create_multipart_upload(self, request: dict[str, Any]) -> dict[str, Any]:
        bucket, key = request["Bucket"], request["Key"]
        self.objects.check_key(key)
        self.objects.bucket(bucket)
        meta = object_meta(request)
        if request.get("ChecksumAlgorithm"):
            meta["ChecksumAlgorithm"] = request["ChecksumAlgorithm"]
        upload_id = secrets.token_urlsafe(48)
        self.store.create_upload(UploadRecord(upload_id, bucket, key, self.clock.now(), meta))
        out = {"Bucket": bucket, "Key": key, "UploadId": upload_id}
        if request.get("ChecksumAlgorithm"):
            out["ChecksumAlgorithm"] = request["ChecksumAlgorithm"]
        return out

    async def upload_part(self, request: dict[str, Any]) -> dict[str, Any]:
        number = self._part_number(request["PartNumber"])
        self._upload(request["Bucket"], request["UploadId"])
        payload: Payload = request["Body"]
        temp = self.store.temp_path()
        ingested = await ingest(
            payload,
            temp,
            requested_checksums(request, payload.declared),
            payload.trailers,
            request.get("ContentMD5"),
        )
        part = PartRecord(
            request["UploadId"],
            number,
            "",
            ingested.size,
            ingested.etag,
            self.clock.now(),
            {"md5": ingested.md5.hex(), "Checksums": ingested.checksums},
        )
        if not self.store.put_part(part, temp):
            raise errors.no_such_upload(request["UploadId"])
        return {"ETag": part.etag, **{f"Checksum{a}": v for a, v in ingested.checksums.items()}}

    async def upload_part_copy(self, request: dict[str, Any]) -> dict[str, Any]:
        number = self._part_number(request["PartNumber"])
        self._upload(request["Bucket"], request["UploadId"])
        source_bucket, source_key = copy_source(request["CopySource"])
        source = self.objects.object(source_bucket, source_key)
        start, length = 0, source.size
        span = request.get("CopySourceRange")
        if span:
            bounds = parse_range(span, source.size)
            if bounds is None:
                raise errors.invalid_argument(
                    "The x-amz-copy-source-range value must be of the form bytes=first-last where first and "
                    "last are the zero-based offsets of the first and last bytes to copy",
                    "x-amz-copy-source-range",
                    span,
                )
            start, length = bounds[0], bounds[1] - bounds[0] + 1
        temp = self.store.temp_path()
        try:
            md5 = await asyncio.to_thread(_copy_range, self.store.object_path(source), temp, start, length)
        except BaseException:
            with contextlib.suppress(OSError):
                temp.unlink()
            raise
        part = PartRecord(
            request["UploadId"], number, "", length, f'"{md5.hex()}"', self.clock.now(), {"md5": md5.hex()}
        )
        if not self.store.put_part(part, temp):
            raise errors.no_such_upload(request["UploadId"])
        return {"CopyPartResult": {"ETag": part.etag, "LastModified": part.modified}}

    async def complete_multipart_upload(self, request: dict[str, Any]) -> dict[str, Any]:
        bucket, key, upload_id = request["Bucket"], request["Key"], request["UploadId"]
        upload = self._upload(bucket, upload_id)
        bucket_record = self.objects.bucket(bucket)
        listed = (request.get("MultipartUpload") or {}).get("Parts") or []
        if not listed:
            raise errors.malformed_xml()
        stored = {part.number: part for part in self.store.parts(upload_id)}
        chosen: list[PartRecord] = []
        previous = 0
        for item in listed:
            number = item.get("PartNumber")
            if number is None:
                raise errors.malformed_xml()
            if number <= previous:
                raise errors.invalid_part_order(upload_id)
            previous = number
            part = stored.get(number)
            etag = (item.get("ETag") or "").strip('"')
            if part is None or part.etag.strip('"') != etag:
                raise errors.invalid_part(upload_id, number, item.get("ETag") or "")
            chosen.append(part)
        for part in chosen[:-1]:
            if part.size < errors.MIN_PART_SIZE:
                raise errors.entity_too_small(part.size, part.number, part.etag)
        temp = self.store.temp_path()
        paths = [self.store.part_path(part) for part in chosen]
        try:
            await asyncio.to_thread(_concatenate, paths, temp)
        except BaseException:
            with contextlib.suppress(OSError):
                temp.unlink()
            raise
        digest = hashlib.md5(b"".join(bytes.fromhex(part.meta["md5"]) for part in chosen))
        etag = f'"{digest.hexdigest()}-{len(chosen)}"'
        meta = dict(upload.meta)
        meta["Parts"] = len(chosen)
        meta.pop("ChecksumAlgorithm", None)
        record = ObjectRecord(
            bucket, key, "", sum(part.size for part in chosen), etag, self.clock.now(), meta
        )
        try:
            event = "s3:ObjectCreated:CompleteMultipartUpload"
            outbox = self.objects.announce(bucket_record, event, key, record.size, etag)
            if not self.store.complete_upload(upload_id, record, temp, outbox):
                raise errors.no_such_upload(upload_id)
        finally:
            with contextlib.suppress(OSError):
                temp.unlink()
        await self.objects.flush()
        return {"Location": f"/{bucket}/{key}", "Bucket": bucket, "Key": key, "ETag": etag}

    async def abort_multipart_upload(self, request: dict[str, Any]) -> dict[str, Any]:
        upload_id = request["UploadId"]
        self._upload(request["Bucket"], upload_id)
        if not self.store.abort_upload(upload_id):
            raise errors.no_such_upload(upload_id)
        return {}

    async def list_parts(self, request: dict[str, Any]) -> dict[str, Any]:
        bucket, key, upload_id = request["Bucket"], request["Key"], request["UploadId"]
        self._upload(bucket, upload_id)
        marker = int(request.get("PartNumberMarker") or 0)
        max_parts = min(int(request.get("MaxParts") or 1000), 1000)
        parts = [part for part in self.store.parts(upload_id) if part.number > marker]
        page, rest = parts[:max_parts], parts[max_parts:]
        out: dict[str, Any] = {
            "Bucket": bucket,
            "Key": key,
            "UploadId": upload_id,
            "PartNumberMarker": marker,
            "MaxParts": max_parts,
            "IsTruncated": bool(rest),
            "Parts": [
                {"PartNumber": p.number, "LastModified": p.modified, "ETag": p.etag, "Size": p.size}
                for p in page
            ]
            or None,
            "Initiator": OWNER,
            "Owner": OWNER,
            "StorageClass": "STANDARD",
        }
        if page:
            out["NextPartNumberMarker"] = page[-1].number
        return out

    async def list_multipart_uploads(self, request: dict[str, Any]) -> dict[str, Any]:
        bucket = request["Bucket"]
        self.objects.bucket(bucket)
        prefix = request.get("Prefix", "")
        uploads = [u for u in self.store.uploads(bucket) if u.key.startswith(prefix)]
        max_uploads = min(int(request.get("MaxUploads") or 1000), 1000)
        page = uploads[:max_uploads]
        return {
            "Bucket": bucket,
            "KeyMarker": request.get("KeyMarker", ""),
            "UploadIdMarker": request.get("UploadIdMarker", ""),
            "Prefix": prefix or None,
            "MaxUploads": max_uploads,
            "IsTruncated": len(uploads) > max_uploads,
            "Uploads": [
                {
                    "UploadId": u.upload_id,
                    "Key": u.key,
                    "Initiated": u.initiated,
                    "StorageClass": "STANDARD",
                    "Owner": OWNER,
                    "Initiator": OWNER,
                }
                for u in page
            ]
            or None,
        }


def _concatenate(paths: list[Path], target: Path) -> None:
    with open(target, "wb") as out:
        for path in paths:
            with open(path, "rb") as part:
                size = path.stat().st_size
                offset = 0
                while offset < size:
                    # copy_file_range stays in the kernel (and reflinks where the filesystem can).
                    sent = _copy(part.fileno(), out.fileno(), size - offset)
                    if sent == 0:
                        break
                    offset += sent


def _copy(source: int, target: int, count: int) -> int:
    import os

    try:
        return os.copy_file_range(source, target, min(count, 1 << 30))
    except OSError:
        chunk = os.read(source, min(count, COPY_CHUNK))
        os.write(target, chunk)
        return len(chunk)


def _copy_range(source: Path, target: Path, start: int, length: int) -> bytes:
    md5 = hashlib.md5()
    with open(source, "rb") as src, open(target, "wb") as out:
        src.seek(start)
        remaining = length
        while remaining:
            chunk = src.read(min(COPY_CHUNK, remaining))
            if not chunk:
                break
            md5.update(chunk)
            out.write(chunk)
            remaining -= len(chunk)
    return md5.digest()
