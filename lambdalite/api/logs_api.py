"""The CloudWatch Logs API subset that reads function logs: enough for
``boto3.client("logs")``, ``aws logs tail`` and ``lambdalite logs``.

Protocol: AWS JSON 1.1. The router sends ``POST /`` requests whose
``X-Amz-Target`` is ``Logs_20140328.<Operation>`` here, with the operation name
(the prefix is accepted too). Operations: DescribeLogGroups, DescribeLogStreams,
GetLogEvents, FilterLogEvents, each with its paging tokens.

Not supported: writing logs (PutLogEvents and friends), retention, Logs
Insights and live tail. FilterLogEvents takes AWS's filter pattern syntax (terms,
JSON and space-delimited patterns; see ``observe.filter_pattern``).

Wire: the protocol layer (``protocol.front``, awsJson 1.1 from botocore's model)
parses requests into the operations' plain values and writes the answers; wrong
types are its SerializationException. The handlers raise ``errors.LogsError``s,
sent as Logs sends them: HTTP 400 with a bare ``__type`` and ``message``; an
operation not served is UnknownOperationException with no message.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import zlib
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from botocore.model import ServiceModel

from lambdalite.errors import LogsError, LogsInvalidParameter, LogsResourceNotFound, LogsUnknownOperation
from lambdalite.http import HttpRequest
from lambdalite.http.message import Response
from lambdalite.observe.filter_pattern import InvalidFilterPattern
from lambdalite.observe.logs import EventCursor, LogNotFound, LogStore, StreamInfo
from lambdalite.protocol import json as json_protocol
from lambdalite.protocol.errors import ServiceFault
from lambdalite.protocol.front import ProtocolFront
from lambdalite.protocol.model import raw_model

TARGET_PREFIX = "Logs_20140328."
CONTENT_TYPE = b"application/x-amz-json-1.1"
OPERATIONS = ("DescribeLogGroups", "DescribeLogStreams", "GetLogEvents", "FilterLogEvents")

Body = Mapping[str, Any]


@functools.cache
def _model() -> ServiceModel:
    """botocore's Logs model without ``required`` members: Logs answers a missing one
    with its own InvalidParameterException words, which the handlers write."""
    raw = raw_model("logs")
    for shape in raw["shapes"].values():
        shape.pop("required", None)
    return ServiceModel(raw, service_name="logs")


class LogsHandlers:
    """The typed handlers ``ProtocolFront`` calls. Reads run in a worker thread so a
    large FilterLogEvents does not stall invocations on the event loop."""

    def __init__(self, store: LogStore, region: str, account_id: str) -> None:
        self._context = _Context(store, region, account_id)

    async def describe_log_groups(self, request: Body) -> dict[str, Any]:
        return await self._run(_describe_log_groups, request)

    async def describe_log_streams(self, request: Body) -> dict[str, Any]:
        return await self._run(_describe_log_streams, request)

    async def get_log_events(self, request: Body) -> dict[str, Any]:
        return await self._run(_get_log_events, request)

    async def filter_log_events(self, request: Body) -> dict[str, Any]:
        return await self._run(_filter_log_events, request)

    async def _run(self, action: Callable[[_Context, Body], dict[str, Any]], request: Body) -> dict[str, Any]:
        try:
            return await asyncio.to_thread(action, self._context, request)
        except LogNotFound as exc:
            raise _fault(LogsResourceNotFound(str(exc))) from exc
        except LogsError as exc:
            raise _fault(exc) from exc


def _fault(exc: LogsError) -> ServiceFault:
    return ServiceFault(exc.code, exc.message, exc.status)


class LogsFront:
    """The CloudWatch Logs service of the front router; ``await handle(request)`` never raises."""

    def __init__(self, store: LogStore, region: str = "us-east-1", account_id: str = "000000000000") -> None:
        self._front = ProtocolFront(_model(), LogsHandlers(store, region, account_id), prefixed_errors=False)

    async def handle(self, request: HttpRequest) -> Response:
        """Answer one request; an operation lambdalite does not serve (PutLogEvents...)
        is UnknownOperationException with no message, as AWS sends it."""
        target = request.headers.get(b"x-amz-target", b"").decode("latin-1")
        if target.removeprefix(TARGET_PREFIX) not in OPERATIONS:
            fault = ServiceFault(LogsUnknownOperation.code, "")
            status, headers, body = json_protocol.serialize_error(self._front.model, fault, prefixed=False)
            return Response(status, body, headers, CONTENT_TYPE)
        return await self._front.handle(request)


async def handle(
    operation: str,
    body: bytes,
    store: LogStore,
    *,
    region: str = "us-east-1",
    account_id: str = "000000000000",
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """One request by operation name (the target prefix is optional) and body:
    (status, headers with the content type, body). For tests and callers without HTTP."""
    target = TARGET_PREFIX + operation.removeprefix(TARGET_PREFIX)
    request = HttpRequest("POST", "/", b"", {b"x-amz-target": target.encode()}, body, len(body))
    response = await LogsFront(store, region, account_id).handle(request)
    return response.status, [(b"content-type", response.content_type), *response.headers], response.body


class _Context:
    __slots__ = ("account_id", "region", "store")

    def __init__(self, store: LogStore, region: str, account_id: str) -> None:
        self.store = store
        self.region = region
        self.account_id = account_id

    def group_arn(self, group: str) -> str:
        return f"arn:aws:logs:{self.region}:{self.account_id}:log-group:{group}"


def _describe_log_groups(ctx: _Context, body: Body) -> dict[str, Any]:
    prefix = body.get("logGroupNamePrefix")
    pattern = body.get("logGroupNamePattern")
    identifiers = body.get("logGroupIdentifiers")
    if prefix and pattern:
        raise LogsInvalidParameter(
            "LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters."
        )
    limit = _limit(body, 50)
    groups = ctx.store.groups(prefix)
    if pattern:
        groups = [g for g in groups if pattern.lower() in g.name.lower()]
    if identifiers is not None:
        wanted = {_group_name(i) for i in identifiers}
        groups = [g for g in groups if g.name in wanted]
    start = _offset(body)
    page = groups[start : start + limit]
    result: dict[str, Any] = {
        "logGroups": [
            {
                "logGroupName": g.name,
                "creationTime": g.creation_ms,
                "metricFilterCount": 0,
                "arn": f"{ctx.group_arn(g.name)}:*",
                "logGroupArn": ctx.group_arn(g.name),
                "storedBytes": g.stored_bytes,
                "logGroupClass": "STANDARD",
            }
            for g in page
        ]
    }
    if start + limit < len(groups):
        result["nextToken"] = _offset_token(start + limit)
    return result


def _describe_log_streams(ctx: _Context, body: Body) -> dict[str, Any]:
    group = _group(body)
    prefix = body.get("logStreamNamePrefix")
    order_by = body.get("orderBy") or "LogStreamName"
    if order_by not in {"LogStreamName", "LastEventTime"}:
        raise LogsInvalidParameter(
            f"1 validation error detected: Value '{order_by}' at 'orderBy' failed to satisfy constraint: "
            "Member must satisfy enum value set: [LogStreamName, LastEventTime]"
        )
    if prefix and order_by == "LastEventTime":
        raise LogsInvalidParameter("Cannot order by LastEventTime with a logStreamNamePrefix.")
    limit = _limit(body, 50)
    streams = ctx.store.streams(group, prefix, bool(body.get("descending")), order_by)
    start = _offset(body)
    page = streams[start : start + limit]
    result: dict[str, Any] = {"logStreams": [_stream_shape(ctx, group, s) for s in page]}
    if start + limit < len(streams):
        result["nextToken"] = _offset_token(start + limit)
    return result


def _stream_shape(ctx: _Context, group: str, stream: StreamInfo) -> dict[str, Any]:
    shape: dict[str, Any] = {
        "logStreamName": stream.name,
        "creationTime": stream.creation_ms,
        "arn": f"{ctx.group_arn(group)}:log-stream:{stream.name}",
        # AWS has reported 0 for streams since 2019-06-17 (deprecated there); log groups
        # still report their real size, and so do ours.
        "storedBytes": 0,
    }
    # AWS leaves these out of a stream that has no events yet.
    if stream.first_event_ms is not None:
        shape["firstEventTimestamp"] = stream.first_event_ms
    if stream.last_event_ms is not None:
        shape["lastEventTimestamp"] = stream.last_event_ms
    if stream.last_ingestion_ms is not None:
        shape["lastIngestionTime"] = stream.last_ingestion_ms
    return shape


def _get_log_events(ctx: _Context, body: Body) -> dict[str, Any]:
    """One stream, by position. Tokens are ``f/N`` (continue forward from event N) and
    ``b/N`` (the page before event N). At either end the same token comes back, which
    is how clients know to stop."""
    group = _group(body)
    stream = body.get("logStreamName")
    if not stream:
        raise LogsInvalidParameter(
            "1 validation error detected: Value null at 'logStreamName' failed to satisfy constraint: "
            "Member must not be null"
        )
    limit = _limit(body, 10_000)
    events = ctx.store.stream_events(group, stream, body.get("startTime"), body.get("endTime"))
    token = body.get("nextToken")
    if token is None:
        if body.get("startFromHead"):
            start, end = 0, min(limit, len(events))
        else:
            start, end = max(0, len(events) - limit), len(events)
    else:
        direction, position = _position_token(token)
        position = min(position, len(events))
        if direction == "f":
            start, end = position, min(position + limit, len(events))
        else:
            start, end = max(0, position - limit), position
    return {
        "events": [
            {"timestamp": e.timestamp_ms, "message": e.message, "ingestionTime": e.ingestion_ms}
            for e in events[start:end]
        ],
        "nextForwardToken": f"f/{end}",
        "nextBackwardToken": f"b/{start}",
    }


def _filter_log_events(ctx: _Context, body: Body) -> dict[str, Any]:
    group = _group(body)
    names = body.get("logStreamNames")
    prefix = body.get("logStreamNamePrefix")
    if names is not None and prefix:
        raise LogsInvalidParameter(
            "logStreamNames and logStreamNamePrefix are mutually exclusive parameters."
        )
    limit = _limit(body, 10_000)
    token = body.get("nextToken")
    try:
        page = ctx.store.events(
            group,
            names,
            body.get("startTime"),
            body.get("endTime"),
            body.get("filterPattern"),
            limit,
            _cursor(token) if token else None,
            stream_prefix=prefix,
        )
    except InvalidFilterPattern as exc:
        raise LogsInvalidParameter(str(exc)) from exc
    result: dict[str, Any] = {
        "events": [
            {
                "logStreamName": item.stream,
                "timestamp": item.event.timestamp_ms,
                "message": item.event.message,
                "ingestionTime": item.event.ingestion_ms,
                "eventId": _event_id(item.stream, item.index, item.event.timestamp_ms),
            }
            for item in page.events
        ],
        "searchedLogStreams": [],
    }
    if page.next is not None:
        result["nextToken"] = _cursor_token(page.next)
    return result


# ---- request parsing ---------------------------------------------------------------


def _limit(body: Body, maximum: int) -> int:
    """The ``limit`` member, checked against ``maximum`` (the protocol layer checked its type)."""
    limit: int | None = body.get("limit")
    if limit is None:
        return maximum
    if not 1 <= limit <= maximum:
        bound = "greater than or equal to 1" if limit < 1 else f"less than or equal to {maximum}"
        raise LogsInvalidParameter(
            f"1 validation error detected: Value '{limit}' at 'limit' failed to satisfy constraint: "
            f"Member must have value {bound}"
        )
    return limit


def _group(body: Body) -> str:
    """The log group named by logGroupName or logGroupIdentifier (a name or an ARN)."""
    name: str | None = body.get("logGroupName")
    identifier: str | None = body.get("logGroupIdentifier")
    if name and identifier:
        raise LogsInvalidParameter("LogGroup name and LogGroup ARN are mutually exclusive parameters.")
    if identifier:
        return _group_name(identifier)
    if not name:
        raise LogsInvalidParameter("Either LogGroupName or LogGroupIdentifier must be specified.")
    return name


def _group_name(identifier: str) -> str:
    # arn:aws:logs:REGION:ACCOUNT:log-group:NAME[:*]
    if identifier.startswith("arn:") and ":log-group:" in identifier:
        return identifier.split(":log-group:", 1)[1].removesuffix(":*")
    return identifier


# ---- paging tokens -----------------------------------------------------------------
# Tokens are opaque to clients; ours are base64 JSON so a bad one is detected, not guessed.


def _encode(value: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(value)).decode("ascii")


def _decode(token: str) -> Any:
    try:
        return orjson.loads(base64.urlsafe_b64decode(token.encode("ascii")))
    except (binascii.Error, UnicodeEncodeError, orjson.JSONDecodeError, ValueError) as exc:
        raise LogsInvalidParameter("The specified nextToken is invalid.") from exc


def _offset_token(offset: int) -> str:
    return _encode({"o": offset})


def _offset(body: Body) -> int:
    token = body.get("nextToken")
    if token is None:
        return 0
    value = _decode(token)
    if not isinstance(value, dict) or not isinstance(value.get("o"), int) or value["o"] < 0:
        raise LogsInvalidParameter("The specified nextToken is invalid.")
    offset: int = value["o"]
    return offset


def _cursor_token(cursor: EventCursor) -> str:
    return _encode([cursor.timestamp_ms, cursor.stream, cursor.index])


def _cursor(token: str) -> EventCursor:
    value = _decode(token)
    match value:
        case [int(ts), str(stream), int(index)]:
            return EventCursor(ts, stream, index)
    raise LogsInvalidParameter("The specified nextToken is invalid.")


def _position_token(token: str) -> tuple[str, int]:
    direction, _, number = token.partition("/")
    if direction not in {"f", "b"} or not number.isdigit():
        raise LogsInvalidParameter("The specified nextToken is invalid.")
    return direction, int(number)


def _event_id(stream: str, index: int, timestamp_ms: int) -> str:
    """A stable, digits-only id (like AWS's), so a follower can drop duplicates."""
    return f"{timestamp_ms:015d}{zlib.crc32(stream.encode('utf-8')):010d}{index:012d}"
