"""S3's buckets and objects as typed operation handlers: each takes the operation's
input (from the rest-xml protocol layer) and returns its output, or raises an S3Fault.
The request's body, where an operation has one, is a ``Payload`` under ``Body``.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import shutil
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, unquote

from lambdalite.clock import Clock
from lambdalite.services.s3 import errors
from lambdalite.services.s3.bodies import file_chunks, ingest, requested_checksums
from lambdalite.services.s3.listing import decode_token, encode_token, list_page
from lambdalite.services.s3.notifications import KINDS as NOTIFICATION_KINDS
from lambdalite.services.s3.notifications import Notifier
from lambdalite.services.s3.payload import Payload
from lambdalite.store.objects import BucketRecord, ObjectRecord, ObjectStore, Outbox

__all__ = ["OWNER", "STANDARD_HEADERS", "S3Service"]

OWNER = {
    "DisplayName": "lambdalite",
    "ID": "75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a",
}
STANDARD_HEADERS = (
    "ContentType",
    "ContentEncoding",
    "ContentDisposition",
    "ContentLanguage",
    "CacheControl",
    "Expires",
    "WebsiteRedirectLocation",
)
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
MAX_DELETE_KEYS = 1000


def valid_bucket_name(name: str) -> bool:
    return bool(_BUCKET_NAME.match(name)) and ".." not in name and not _IP.match(name)


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """(start, end inclusive) of a ``bytes=`` range; None when the header is not one
    S3 honours (the whole object is sent). Raises InvalidRange when unsatisfiable."""
    match = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", header)
    if match is None or (not match[1] and not match[2]):
        return None
    if not match[1]:
        suffix = int(match[2])
        if suffix == 0:
            raise errors.invalid_range(header, size)
        return max(0, size - suffix), size - 1
    start = int(match[1])
    end = int(match[2]) if match[2] else size - 1
    if match[2] and end < start:
        return None
    if start >= size:
        raise errors.invalid_range(header, size)
    return start, min(end, size - 1)


class NotModified(errors.S3Fault):
    """304: the front answers it with the object's ETag and no body."""

    def __init__(self, record: ObjectRecord) -> None:
        super().__init__("NotModified", "Not Modified", 304)
        self.record = record


def check_conditions(request: Mapping[str, Any], record: ObjectRecord) -> None:
    """GET/HEAD preconditions, in S3's order of precedence."""
    if_match = request.get("IfMatch")
    if_none = request.get("IfNoneMatch")
    since = request.get("IfModifiedSince")
    unmodified = request.get("IfUnmodifiedSince")
    modified = int(record.modified)
    if if_match is not None:
        if not _etag_matches(if_match, record.etag):
            raise errors.precondition_failed("If-Match")
    elif unmodified is not None and modified > unmodified.timestamp():
        raise errors.precondition_failed("If-Unmodified-Since")
    if if_none is not None:
        if _etag_matches(if_none, record.etag):
            raise NotModified(record)
    elif since is not None and modified <= since.timestamp():
        raise NotModified(record)


def _etag_matches(header: str, etag: str) -> bool:
    wanted = {part.strip().strip('"') for part in header.split(",")}
    return "*" in wanted or etag.strip('"') in wanted


def copy_source(value: str) -> tuple[str, str]:
    """(bucket, key) of an ``x-amz-copy-source`` (``/bucket/key``, URL-encoded)."""
    source = unquote(value.split("?versionId=", 1)[0]).lstrip("/")
    bucket, _, key = source.partition("/")
    if not bucket or not key:
        raise errors.invalid_argument("Invalid copy source object key", "x-amz-copy-source", value)
    return bucket, key


class S3Service:
    """Buckets and objects over an ObjectStore."""

    def __init__(self, store: ObjectStore, clock: Clock, region: str) -> None:
        self.store = store
        self.clock = clock
        self.region = region
        self.notifier: Notifier | None = None
        """Sends event records once the server has its destinations (None: no notifications)."""

    def announce(
        self, bucket: BucketRecord, event: str, key: str, size: int | None = None, etag: str | None = None
    ) -> Outbox:
        """The notifications of a change, to be written with it (see ``notifications``)."""
        if self.notifier is None:
            return ()
        return self.notifier.messages(bucket, event, key, size, etag)

    async def flush(self) -> None:
        if self.notifier is not None:
            await self.notifier.flush()

    # -- helpers -------------------------------------------------------------
    def bucket(self, name: str) -> BucketRecord:
        record = self.store.bucket(name)
        if record is None:
            raise errors.no_such_bucket(name)
        return record

    def object(self, bucket: str, key: str) -> ObjectRecord:
        self.bucket(bucket)
        record = self.store.get_object(bucket, key)
        if record is None:
            raise errors.no_such_key(key)
        return record

    @staticmethod
    def check_key(key: str) -> None:
        size = len(key.encode())
        if size > errors.MAX_KEY_BYTES:
            raise errors.key_too_long(size)

    # -- buckets ---------------------------------------------------------------
    async def create_bucket(self, request: dict[str, Any]) -> dict[str, Any]:
        name = request["Bucket"]
        if not valid_bucket_name(name):
            raise errors.invalid_bucket_name(name)
        config = request.get("CreateBucketConfiguration") or {}
        region = config.get("LocationConstraint") or "us-east-1"
        if region == "EU":
            region = "eu-west-1"
        existing = self.store.bucket(name)
        if existing is not None:
            # AWS's us-east-1 rule: re-creating your own bucket there succeeds.
            if existing.region == "us-east-1" and region == "us-east-1":
                return {"Location": f"/{name}"}
            raise errors.already_owned(name)
        if not self.store.create_bucket(BucketRecord(name, self.clock.now(), region)):
            raise errors.already_owned(name)
        return {"Location": f"/{name}"}

    async def head_bucket(self, request: dict[str, Any]) -> dict[str, Any]:
        record = self.bucket(request["Bucket"])
        return {"BucketRegion": record.region}

    async def list_buckets(self, request: dict[str, Any]) -> dict[str, Any]:
        buckets = [
            {"Name": record.name, "CreationDate": record.created, "BucketRegion": record.region}
            for record in self.store.buckets()
        ]
        return {"Buckets": buckets, "Owner": OWNER}

    async def delete_bucket(self, request: dict[str, Any]) -> dict[str, Any]:
        name = request["Bucket"]
        self.bucket(name)
        if not self.store.delete_bucket(name):
            raise errors.not_empty(name)
        return {}

    async def get_bucket_location(self, request: dict[str, Any]) -> dict[str, Any]:
        record = self.bucket(request["Bucket"])
        # us-east-1 buckets answer an empty LocationConstraint.
        return {"LocationConstraint": "" if record.region == "us-east-1" else record.region}

    async def put_bucket_tagging(self, request: dict[str, Any]) -> dict[str, Any]:
        record = self.bucket(request["Bucket"])
        tags: dict[str, str] = {}
        for tag in request.get("Tagging", {}).get("TagSet", []):
            if tag["Key"] in tags:
                raise errors.S3Fault("InvalidTag", "Cannot provide multiple Tags with the same key", 400)
            tags[tag["Key"]] = tag["Value"]
        record.tags = tags
        self.store.update_bucket(record)
        return {}

    async def get_bucket_tagging(self, request: dict[str, Any]) -> dict[str, Any]:
        record = self.bucket(request["Bucket"])
        if not record.tags:
            raise errors.no_such_tag_set(record.name)
        return {"TagSet": [{"Key": key, "Value": value} for key, value in record.tags.items()]}

    async def delete_bucket_tagging(self, request: dict[str, Any]) -> dict[str, Any]:
        record = self.bucket(request["Bucket"])
        record.tags = None
        self.store.update_bucket(record)
        return {}

    async def put_bucket_notification_configuration(self, request: dict[str, Any]) -> dict[str, Any]:
        record = self.bucket(request["Bucket"])
        config = request.get("NotificationConfiguration") or {}
        for kind, _ in NOTIFICATION_KINDS:
            for item in config.get(kind) or []:
                item.setdefault("Id", secrets.token_hex(16))
        if self.notifier is not None and not request.get("SkipDestinationValidation"):
            await self.notifier.configure(record, config)
        record.config["notification"] = config
        self.store.update_bucket(record)
        return {}

    async def get_bucket_notification_configuration(self, request: dict[str, Any]) -> dict[str, Any]:
        record = self.bucket(request["Bucket"])
        config: dict[str, Any] = record.config.get("notification") or {}
        return config

    # -- objects ---------------------------------------------------------------
    async def put_object(self, request: dict[str, Any]) -> dict[str, Any]:
        bucket, key = request["Bucket"], request["Key"]
        self.check_key(key)
        bucket_record = self.bucket(bucket)
        payload: Payload = request["Body"]
        wanted = requested_checksums(request, payload.declared)
        temp = self.store.temp_path()
        ingested = await ingest(payload, temp, wanted, payload.trailers, request.get("ContentMD5"))
        meta = object_meta(request)
        meta["Checksums"] = ingested.checksums
        record = ObjectRecord(bucket, key, "", ingested.size, ingested.etag, self.clock.now(), meta)
        self.store.put_object(
            record, temp, self.announce(bucket_record, "s3:ObjectCreated:Put", key, record.size, record.etag)
        )
        await self.flush()
        return {"ETag": record.etag, **{f"Checksum{a}": v for a, v in ingested.checksums.items()}}

    async def head_object(self, request: dict[str, Any]) -> dict[str, Any]:
        record = self.object(request["Bucket"], request["Key"])
        check_conditions(request, record)
        out = object_headers(record, request.get("ChecksumMode") == "ENABLED")
        out["ContentLength"] = record.size
        span = request.get("Range")
        if span:
            bounds = parse_range(span, record.size)
            if bounds is not None:
                out["ContentLength"] = bounds[1] - bounds[0] + 1
                out["ContentRange"] = f"bytes {bounds[0]}-{bounds[1]}/{record.size}"
                out["_status"] = 206
        return out

    async def get_object(self, request: dict[str, Any]) -> dict[str, Any]:
        bucket, key = request["Bucket"], request["Key"]
        for _ in range(3):
            record = self.object(bucket, key)
            check_conditions(request, record)
            out = object_headers(record, request.get("ChecksumMode") == "ENABLED")
            start, length = 0, record.size
            span = request.get("Range")
            if span:
                bounds = parse_range(span, record.size)
                if bounds is not None:
                    start, length = bounds[0], bounds[1] - bounds[0] + 1
                    out["ContentRange"] = f"bytes {bounds[0]}-{bounds[1]}/{record.size}"
                    out["_status"] = 206
                    for algorithm in list(out):
                        if algorithm.startswith("Checksum"):
                            del out[algorithm]
            try:
                out["Body"] = await file_chunks(self.store.object_path(record), start, length)
            except FileNotFoundError:
                continue  # replaced between the lookup and the open: look again
            out["ContentLength"] = length
            for name in ("ResponseContentType", "ResponseContentDisposition", "ResponseCacheControl"):
                if request.get(name):
                    out[name.replace("Response", "", 1)] = request[name]
            return out
        raise errors.no_such_key(key)

    async def delete_object(self, request: dict[str, Any]) -> dict[str, Any]:
        bucket = self.bucket(request["Bucket"])
        outbox = self.announce(bucket, "s3:ObjectRemoved:Delete", request["Key"])
        if self.store.delete_object(bucket.name, request["Key"], outbox):
            await self.flush()
        return {}

    async def delete_objects(self, request: dict[str, Any]) -> dict[str, Any]:
        bucket = request["Bucket"]
        delete = request.get("Delete")
        if not delete or "Objects" not in delete:
            raise errors.malformed_xml()
        objects = delete["Objects"]
        if len(objects) > MAX_DELETE_KEYS:
            raise errors.malformed_xml()
        bucket_record = self.bucket(bucket)
        deleted = []
        failed = []
        for item in objects:
            key = item.get("Key")
            if key is None:
                raise errors.malformed_xml()
            try:
                self.check_key(key)
            except errors.S3Fault as fault:
                failed.append({"Key": key, "Code": fault.fault_code, "Message": fault.message})
                continue
            self.store.delete_object(
                bucket, key, self.announce(bucket_record, "s3:ObjectRemoved:Delete", key)
            )
            deleted.append({"Key": key})
        await self.flush()
        out: dict[str, Any] = {"Errors": failed} if failed else {}
        if not delete.get("Quiet"):
            out["Deleted"] = deleted
        return out

    async def copy_object(self, request: dict[str, Any]) -> dict[str, Any]:
        bucket, key = request["Bucket"], request["Key"]
        self.check_key(key)
        bucket_record = self.bucket(bucket)
        source_bucket, source_key = copy_source(request["CopySource"])
        source = self.object(source_bucket, source_key)
        replace = request.get("MetadataDirective") == "REPLACE"
        if (source_bucket, source_key) == (bucket, key) and not replace:
            raise errors.S3Fault(
                "InvalidRequest",
                "This copy request is illegal because it is trying to copy an object to itself without "
                "changing the object's metadata, storage class, website redirect location or encryption "
                "attributes.",
                400,
            )
        if request.get("CopySourceIfMatch") and not _etag_matches(request["CopySourceIfMatch"], source.etag):
            raise errors.precondition_failed("x-amz-copy-source-If-Match")
        if request.get("CopySourceIfNoneMatch") and _etag_matches(
            request["CopySourceIfNoneMatch"], source.etag
        ):
            raise errors.precondition_failed("x-amz-copy-source-If-None-Match")
        meta = object_meta(request) if replace else dict(source.meta)
        meta["Checksums"] = source.meta.get("Checksums", {})
        temp = self.store.temp_path()
        try:
            await asyncio.to_thread(shutil.copyfile, self.store.object_path(source), temp)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                temp.unlink()
            if isinstance(exc, FileNotFoundError):
                raise errors.no_such_key(source_key) from exc
            raise
        record = ObjectRecord(bucket, key, "", source.size, source.etag, self.clock.now(), meta)
        try:
            outbox = self.announce(bucket_record, "s3:ObjectCreated:Copy", key, record.size, record.etag)
            self.store.put_object(record, temp, outbox)
        finally:
            with contextlib.suppress(OSError):
                temp.unlink()
        await self.flush()
        result = {"ETag": record.etag, "LastModified": record.modified}
        return {"CopyObjectResult": result}

    async def list_objects_v2(self, request: dict[str, Any]) -> dict[str, Any]:
        bucket = request["Bucket"]
        self.bucket(bucket)
        prefix = request.get("Prefix", "")
        delimiter = request.get("Delimiter", "")
        max_keys = max_keys_of(request)
        token = request.get("ContinuationToken")
        start_after = request.get("StartAfter", "")
        after = decode_token(token) if token else start_after
        page = list_page(self.store, bucket, prefix, delimiter, after, max_keys)
        encode = _encoder(request)
        out: dict[str, Any] = {
            "Name": bucket,
            "Prefix": encode(prefix),
            "MaxKeys": max_keys,
            "KeyCount": len(page.objects) + len(page.prefixes),
            "IsTruncated": page.truncated,
            "Contents": [content(record, encode, request.get("FetchOwner")) for record in page.objects]
            or None,
            "CommonPrefixes": [{"Prefix": encode(p)} for p in page.prefixes] or None,
        }
        if delimiter:
            out["Delimiter"] = encode(delimiter)
        if request.get("EncodingType"):
            out["EncodingType"] = request["EncodingType"]
        if token:
            out["ContinuationToken"] = token
        if start_after:
            out["StartAfter"] = encode(start_after)
        if page.truncated:
            out["NextContinuationToken"] = encode_token(page.cursor)
        return out

    async def list_objects(self, request: dict[str, Any]) -> dict[str, Any]:
        bucket = request["Bucket"]
        self.bucket(bucket)
        prefix = request.get("Prefix", "")
        delimiter = request.get("Delimiter", "")
        max_keys = max_keys_of(request)
        marker = request.get("Marker", "")
        page = list_page(self.store, bucket, prefix, delimiter, marker, max_keys)
        encode = _encoder(request)
        out: dict[str, Any] = {
            "Name": bucket,
            "Prefix": encode(prefix),
            "Marker": encode(marker),
            "MaxKeys": max_keys,
            "IsTruncated": page.truncated,
            "Contents": [content(record, encode, True) for record in page.objects] or None,
            "CommonPrefixes": [{"Prefix": encode(p)} for p in page.prefixes] or None,
        }
        if delimiter:
            out["Delimiter"] = encode(delimiter)
            if page.truncated:
                out["NextMarker"] = encode(page.last)
        if request.get("EncodingType"):
            out["EncodingType"] = request["EncodingType"]
        return out


def max_keys_of(request: Mapping[str, Any]) -> int:
    value = request.get("MaxKeys")
    if value is None:
        return 1000
    if value < 0:
        raise errors.invalid_argument("maxKeys should be non-negative", "max-keys", str(value))
    return min(int(value), 1000)


def _encoder(request: Mapping[str, Any]) -> Any:
    if request.get("EncodingType") == "url":
        return lambda text: quote(text, safe="/")
    return lambda text: text


def content(record: ObjectRecord, encode: Any, owner: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "Key": encode(record.key),
        "LastModified": record.modified,
        "ETag": record.etag,
        "Size": record.size,
        "StorageClass": "STANDARD",
    }
    checksums = record.meta.get("Checksums") or {}
    if checksums:
        item["ChecksumAlgorithm"] = sorted(checksums)
        item["ChecksumType"] = "FULL_OBJECT"
    if owner:
        item["Owner"] = OWNER
    return item


def object_meta(request: Mapping[str, Any]) -> dict[str, Any]:
    """What a PutObject/CopyObject (REPLACE)/CreateMultipartUpload request sets on the object."""
    meta: dict[str, Any] = {name: request[name] for name in STANDARD_HEADERS if request.get(name) is not None}
    if "Expires" in meta:
        meta["Expires"] = meta["Expires"].timestamp()
    meta.setdefault("ContentType", "binary/octet-stream")
    if request.get("Metadata"):
        meta["Metadata"] = {key.lower(): value for key, value in request["Metadata"].items()}
    return meta


def object_headers(record: ObjectRecord, with_checksums: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ETag": record.etag,
        "LastModified": record.modified,
        "AcceptRanges": "bytes",
    }
    for name in STANDARD_HEADERS:
        if record.meta.get(name) is not None:
            out[name] = record.meta[name]
    if record.meta.get("Metadata"):
        out["Metadata"] = record.meta["Metadata"]
    if record.meta.get("Parts"):
        out["PartsCount"] = record.meta["Parts"]
    if with_checksums:
        checksums = record.meta.get("Checksums") or {}
        for algorithm, value in checksums.items():
            out[f"Checksum{algorithm}"] = value
        if checksums:
            out["ChecksumType"] = record.meta.get("ChecksumType", "FULL_OBJECT")
    return out
