"""The audit hook on the public port, and its query route.

``Auditor(handler, log, ...)`` wraps the front router's handler: after each answer to a
control-plane call (``observe.audit_ops``) it appends who (the verified principal under
``--auth sigv4``, ``anonymous`` under ``--auth none``), what, on which resource, the
outcome and when. It answers ``GET /_lambdalite/audit`` itself (verified like every
other request under sigv4)::

    GET /_lambdalite/audit?operation=CreateFunction&principal=alice&since=EPOCH&limit=100
        -> 200 {"Events": [{"at", "principal", "operation", "resource", "outcome",
                            "status", "error_code", "source_ip"}, ...]}   newest first

A failure to write the log is logged and never fails the call it records.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import parse_qsl

import orjson

from lambdalite.api.wire import Response, error_response
from lambdalite.auth.errors import AuthFailure, failure_response
from lambdalite.auth.sigv4 import Verifier
from lambdalite.errors import StoreError, Validation
from lambdalite.http import HttpRequest, StreamingResponse
from lambdalite.observe.audit import AuditLog, AuditRecord, outcome_of
from lambdalite.observe.audit_ops import Identified, identify

log = logging.getLogger("lambdalite.audit")

AUDIT_PATH = "/_lambdalite/audit"
_AUDIT_PATHS = frozenset((AUDIT_PATH, AUDIT_PATH + "/"))
MAX_LIMIT = 10_000
ANONYMOUS = "anonymous"
_CREDENTIAL = re.compile(rb"Credential=([^/,\s]*)")
_QUERY_CODE = re.compile(rb"<Code>([^<]{1,128})</Code>")

Answer = Response | StreamingResponse
Handler = Callable[[HttpRequest], Coroutine[Any, Any, Answer]]


class Auditor:
    """``auditor.handle(request)``: the router's answer, recorded when it is control plane."""

    def __init__(
        self,
        handler: Handler,
        route_of: Callable[[HttpRequest], str],
        log: AuditLog,
        verifier: Verifier | None = None,
    ) -> None:
        self._handler = handler
        self._route_of = route_of
        self._log = log
        self._verifier = verifier

    def handle(self, request: HttpRequest) -> Response | Coroutine[Any, Any, Answer]:
        """The answer to ``request``: the audit query's at once; otherwise the router's,
        to await. A data-plane call is handed to the router as it is (no coroutine of
        this hook's own wraps it: Invoke is the hot path), a control-plane call is
        recorded once answered."""
        if request.path in _AUDIT_PATHS:
            response = self._query(request)
            self._record(request, "lambdalite:GetAuditLog", "", response)
            return response
        identified = identify(self._route_of(request), request)
        if identified is None:
            return self._handler(request)
        return self._audited(request, identified)

    async def _audited(self, request: HttpRequest, identified: Identified) -> Response | StreamingResponse:
        response = await self._handler(request)
        self._record(request, identified.operation, identified.resource, response)
        return response

    def _principal(self, request: HttpRequest) -> str:
        if self._verifier is None:
            return ANONYMOUS
        try:
            return self._verifier.verify(request).arn
        except AuthFailure:
            claimed = _CREDENTIAL.search(request.headers.get(b"authorization", b"") or request.query)
            return f"unverified:{claimed.group(1).decode('latin-1')}" if claimed else "unsigned"

    def _record(
        self, request: HttpRequest, operation: str, resource: str, response: Response | StreamingResponse
    ) -> None:
        status = response.status
        try:
            self._log.append(
                AuditRecord(
                    at=self._log.clock.now(),
                    principal=self._principal(request),
                    operation=operation,
                    resource=resource,
                    outcome=outcome_of(status),
                    status=status,
                    error_code=_error_code(response) if status >= 400 else "",
                    source_ip=request.client,
                )
            )
        except StoreError:
            log.exception("cannot record %s in the audit log", operation)

    def _query(self, request: HttpRequest) -> Response:
        if self._verifier is not None:
            try:
                self._verifier.verify(request)
            except AuthFailure as failure:
                return failure_response(failure)
        if request.method != "GET":
            return error_response(Validation(f"{request.method} is not allowed on {AUDIT_PATH}: use GET"))
        try:
            operation, principal, since, limit = _filters(request.query)
            records = self._log.query(operation, principal, since, limit)
        except Validation as error:
            return error_response(error)
        except StoreError:
            log.exception("cannot read the audit log")
            return error_response(Validation("The audit log cannot be read now."))
        body = orjson.dumps({"Events": [record.as_json() for record in records]})
        headers = [(b"content-type", b"application/json"), (b"x-amzn-requestid", str(uuid.uuid4()).encode())]
        return Response(200, body, headers)


def _filters(query: bytes) -> tuple[str, str, float | None, int]:
    """The query string's (operation, principal, since, limit); raises Validation for a
    malformed one."""
    given = dict(parse_qsl(query.decode("latin-1")))
    try:
        since = float(given["since"]) if given.get("since") else None
        limit = int(given.get("limit", "100"))
    except ValueError:
        raise Validation("since must be seconds since the epoch and limit a whole number") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise Validation(f"limit must be between 1 and {MAX_LIMIT}")
    return given.get("operation", ""), given.get("principal", ""), since, limit


def _error_code(response: Response | StreamingResponse) -> str:
    for name, value in response.headers:
        if name.lower() == b"x-amzn-errortype":
            return value.decode("latin-1").split(":", 1)[0]
    body = response.body if isinstance(response, Response) and isinstance(response.body, bytes) else b""
    found = _QUERY_CODE.search(body)
    if found is not None:
        return found.group(1).decode("utf-8", "replace")
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return ""
    if isinstance(document, dict):
        return str(document.get("__type", "")).rpartition("#")[2]
    return ""
