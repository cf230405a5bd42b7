"""The smaller HTTP surfaces, as services of the front router:

LogsService          CloudWatch Logs (json protocol, ``X-Amz-Target: Logs_20140328.*``)
FunctionUrlService   requests on a function URL (Host ``<id>.lambda-url.<region>.localhost``
                     or ``<id>.<the --url-base domain>``, or the path form ``/_lambdalite/url/<id>/...``)
CodeDownloads        ``/_lambdalite/code/<sha>.zip?<signature>``, GetFunction's Code.Location
                     (and GetLayerVersion's Content.Location): signed links, ``api.code_links``
"""

from __future__ import annotations

import asyncio
import re
import uuid
from urllib.parse import parse_qsl

from lambdalite.api import logs_api
from lambdalite.api.code_links import CODE_PATH, CodeLinks, LinkRefused
from lambdalite.api.function_urls import URL_PATH, FunctionUrlApi
from lambdalite.api.lambda_api import MAX_SYNC_PAYLOAD, payload_too_large
from lambdalite.api.wire import Response
from lambdalite.errors import UnknownOperation
from lambdalite.http import HttpRequest
from lambdalite.observe.logs import LogStore
from lambdalite.protocol import rest_xml
from lambdalite.store.code import CodePackages

LOGS_TARGET = b"Logs_20140328"
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


class LogsService:
    def __init__(self, logs: LogStore, region: str, account_id: str) -> None:
        self._front = logs_api.LogsFront(logs, region, account_id)

    async def handle(self, request: HttpRequest) -> Response:
        target = request.headers.get(b"x-amz-target", b"")
        if request.method != "POST" or not target.startswith(LOGS_TARGET + b"."):
            raise UnknownOperation("Unknown operation")
        if request.body_size > MAX_SYNC_PAYLOAD:
            raise payload_too_large()
        return await self._front.handle(request)


class FunctionUrlService:
    def __init__(self, urls: FunctionUrlApi, region: str) -> None:
        self._urls = urls
        self._region = region
        self._marks = urls.host_marks()

    async def handle(self, request: HttpRequest) -> Response:
        host = request.headers.get(b"host")
        if host is not None and any(mark in host for mark in self._marks):
            # <url-id>.<domain>[:port]: every path belongs to the URL.
            domain = host.split(b":", 1)[0].decode("latin-1")
            return await self._urls.serve(request, domain.split(".", 1)[0], request.raw_path, domain)
        # /_lambdalite/url/<url-id>/<path>: the function URL without DNS.
        rest = request.raw_path[len(URL_PATH) :]
        url_id, _, tail = rest.partition(b"/")
        name = url_id.decode("latin-1")
        domain = f"{name}.lambda-url.{self._region}.localhost"
        return await self._urls.serve(request, name, b"/" + tail, domain)


class CodeDownloads:
    def __init__(self, code: CodePackages, links: CodeLinks) -> None:
        self._code = code
        self._links = links

    async def handle(self, request: HttpRequest) -> Response:
        if request.method != "GET":
            raise UnknownOperation("Unknown operation")
        sha = request.path[len(CODE_PATH) :].removesuffix(".zip")
        if self._links.required:
            try:
                query = dict(parse_qsl(request.query.decode("utf-8", "replace"), keep_blank_values=True))
                self._links.check(sha, query)
            except LinkRefused as refused:
                # Answered as S3 answers a presigned URL it refuses.
                request_id = str(uuid.uuid4())
                body = rest_xml.serialize_error(refused, request_id, refused.details)
                headers = [(b"x-amz-request-id", request_id.encode())]
                return Response(refused.fault_status, body, headers, content_type=rest_xml.CONTENT_TYPE)
        path = self._code.zip_path(sha) if _SHA256_HEX.match(sha) else None
        if path is None or not path.is_file():
            raise UnknownOperation("Unknown operation")
        data = await asyncio.to_thread(path.read_bytes)
        return Response(200, data, content_type=b"application/zip")
