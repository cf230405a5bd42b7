"""The front router's S3 service: addressing (path style, or virtual-hosted when the
Host is ``BUCKET.s3.localhost[:PORT]``), rest-xml in and out, streamed bodies.

Every S3 request is served as a stream (``streams_body``): an object's bytes go from
the socket to a file and from a file to the socket in chunks. Operations whose
payload is XML read it whole, bounded by ``MAX_XML_BODY``.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from botocore import xform_name
from botocore.model import OperationModel

from lambdalite.clock import Clock, SystemClock
from lambdalite.events.service_targets import Siblings
from lambdalite.events.targets import Targets
from lambdalite.http.message import HttpRequest, Response, StreamingResponse
from lambdalite.protocol import rest_xml
from lambdalite.protocol.errors import ServiceFault
from lambdalite.protocol.model import load_model
from lambdalite.services.s3 import errors
from lambdalite.services.s3.multipart import MultipartService
from lambdalite.services.s3.notifications import REQUEST, Notifier
from lambdalite.services.s3.payload import Payload, is_aws_chunked
from lambdalite.services.s3.service import NotModified, S3Service
from lambdalite.store.objects import ObjectStore

__all__ = ["HOST_MARK", "S3Front"]

log = logging.getLogger("lambdalite.s3")

HOST_MARK = b".s3.localhost"
MAX_XML_BODY = 2 * 1024 * 1024
_ROOTS = {
    "ListBuckets": "ListAllMyBucketsResult",
    "ListObjects": "ListBucketResult",
    "ListObjectsV2": "ListBucketResult",
    "ListParts": "ListPartsResult",
    "ListMultipartUploads": "ListMultipartUploadsResult",
    "CreateMultipartUpload": "InitiateMultipartUploadResult",
    "CompleteMultipartUpload": "CompleteMultipartUploadResult",
    "DeleteObjects": "DeleteResult",
    "GetBucketTagging": "Tagging",
    "GetBucketNotificationConfiguration": "NotificationConfiguration",
}
"""The XML root of each output without a payload member (S3's model does not name it)."""
_NO_CONTENT = {
    "DeleteObject",
    "DeleteBucket",
    "AbortMultipartUpload",
    "DeleteBucketTagging",
    "PutBucketTagging",
}
_STREAMED_INPUT = {"PutObject", "UploadPart"}

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class S3Front:
    """``await front.handle(request)`` -> an answer; never raises."""

    streams_body = True

    def __init__(self, store: ObjectStore, region: str, clock: Clock | None = None) -> None:
        self.model = load_model("s3")
        self.service = S3Service(store, clock or SystemClock(), region)
        self.multipart = MultipartService(self.service)
        self._handlers: dict[str, Handler] = {}
        for name in self.model.operation_names:
            for owner in (self.service, self.multipart):
                method = getattr(owner, xform_name(name), None)
                if method is not None:
                    self._handlers[name] = method
        self._routes = rest_xml.RestRoutes(self.model, self._handlers)
        self._all_routes = rest_xml.RestRoutes(self.model, self.model.operation_names)
        self._startup: asyncio.Task[None] | None = None

    def notify_through(
        self,
        targets: Targets,
        siblings: Siblings | None = None,
        may_invoke: Callable[[str, str], bool] | None = None,
    ) -> None:
        """Deliver bucket notifications to ``targets`` (functions, queues, topics) and,
        for buckets that enable EventBridge, to the default bus through ``siblings``;
        ``may_invoke`` (function ARN, bucket): the resource-policy check, under sigv4."""
        self.service.notifier = Notifier(
            targets, self.service.store, self.service.clock, siblings, may_invoke
        )
        with contextlib.suppress(RuntimeError):  # no loop yet: the first change drains it
            # What a crash left in the outbox goes out now.
            self._startup = asyncio.get_running_loop().create_task(self.service.flush())

    async def handle(self, request: HttpRequest) -> Response | StreamingResponse:
        request_id = uuid.uuid4().hex[:16].upper()
        REQUEST.set((request_id, request.client))
        try:
            try:
                return await self._serve(request, request_id)
            finally:
                if request.stream is not None:
                    request.stream.discard()
        except NotModified as fault:
            headers = [(b"ETag", fault.record.etag.encode()), (b"x-amz-request-id", request_id.encode())]
            return Response(304, b"", headers, b"application/xml")
        except ServiceFault as fault:
            return self._error(request, fault, request_id)
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                log.exception("s3 %s %s failed", request.method, request.path)
                return self._error(request, errors.internal_error(), request_id)
            return self._error(request, errors.insufficient_storage(), request_id)
        except Exception:
            log.exception("s3 %s %s failed", request.method, request.path)
            return self._error(request, errors.internal_error(), request_id)

    def _error(self, request: HttpRequest, fault: ServiceFault, request_id: str) -> Response:
        details = getattr(fault, "details", {})
        body = b"" if request.method == "HEAD" else rest_xml.serialize_error(fault, request_id, details)
        headers = [(b"x-amz-request-id", request_id.encode()), (b"x-amz-id-2", request_id.encode())]
        return Response(fault.fault_status, body, headers, rest_xml.CONTENT_TYPE)

    def _address(self, request: HttpRequest) -> list[str]:
        segments = rest_xml.split_path(request.raw_path)
        host = request.headers.get(b"host", b"")
        at = host.find(HOST_MARK)
        if at > 0:
            bucket = host[:at].decode("latin-1")
            key = rest_xml.split_path(b"/x" + request.raw_path)[1:]
            # ``/`` on a bucket's host is the bucket; ``/key`` an object of it.
            return [bucket, *key]
        return segments

    async def _serve(self, request: HttpRequest, request_id: str) -> Response | StreamingResponse:
        segments = self._address(request)
        query = dict(parse_qsl(request.query.decode("utf-8", "replace"), keep_blank_values=True))
        matched = self._routes.match(request.method, segments, query, request.headers)
        if matched is None:
            if self._all_routes.match(request.method, segments, query, request.headers) is not None:
                raise errors.not_implemented()
            raise errors.S3Fault(
                "MethodNotAllowed",
                "The specified method is not allowed against this resource.",
                405,
                Method=request.method,
                ResourceType="OBJECT" if len(segments) > 1 else "BUCKET",
            )
        op, labels = matched
        headers = request.headers
        chunked = is_aws_chunked(headers)
        source: Any = request.stream if request.stream is not None else _once(request.body)
        payload = Payload(
            source,
            chunked,
            headers.get(b"x-amz-trailer", b"").decode("latin-1"),
            headers.get(b"x-amz-content-sha256", b"").decode("latin-1"),
        )
        body: bytes | None = None
        if op.name not in _STREAMED_INPUT:
            body = await _read_bounded(payload)
        parsed = rest_xml.parse(op, labels, headers, query, body)
        if op.name in _STREAMED_INPUT:
            parsed["Body"] = payload
        result = await self._handlers[op.name](parsed)
        return self._answer(request, op, result, request_id)

    def _answer(
        self, request: HttpRequest, op: OperationModel, result: dict[str, Any], request_id: str
    ) -> Response | StreamingResponse:
        status = result.pop("_status", None)
        out = rest_xml.serialize(self.model, op, result, _ROOTS.get(op.name))
        content_type = rest_xml.CONTENT_TYPE
        headers: list[tuple[bytes, bytes]] = [(b"x-amz-request-id", request_id.encode())]
        length: int | None = None
        for name, value in out.headers:
            lower = name.lower()
            if lower == b"content-type":
                content_type = value
            elif lower == b"content-length":
                length = int(value)
            else:
                headers.append((name, value))
        if op.name == "GetBucketLocation":
            out.body = _location(self.model, result.get("LocationConstraint") or "")
        if status is None:
            status = 204 if op.name in _NO_CONTENT else out.status
        if out.stream is not None or request.method == "HEAD":
            chunks = out.stream if out.stream is not None else _empty()
            if request.method == "HEAD" and length is None:
                length = 0  # never chunked framing: a HEAD answer carries no body at all
            return StreamingResponse(status, chunks, headers, content_type, length)
        return Response(status, out.body, headers, content_type)


def _location(model: Any, region: str) -> bytes:
    namespace = "http://s3.amazonaws.com/doc/2006-03-01/"
    if not region:
        return f'<?xml version="1.0" encoding="UTF-8"?>\n<LocationConstraint xmlns="{namespace}"/>'.encode()
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<LocationConstraint xmlns="{namespace}">{region}'
        "</LocationConstraint>"
    ).encode()


async def _once(body: bytes) -> AsyncIterator[bytes]:
    if body:
        yield body


async def _empty() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover - makes this an async generator


async def _read_bounded(payload: Payload) -> bytes:
    parts: list[bytes] = []
    size = 0
    async for chunk in payload:
        size += len(chunk)
        if size > MAX_XML_BODY:
            raise errors.malformed_xml()
        parts.append(chunk)
    return b"".join(parts)
