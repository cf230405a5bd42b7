"""What a finished asynchronous invocation sends where: AWS's destination
record (OnSuccess/OnFailure) and the dead-letter message (DeadLetterConfig).

The destination record, as AWS documents it::

    {"version": "1.0", "timestamp": "2019-11-14T18:16:05.568Z",
     "requestContext": {"requestId": ..., "functionArn": "...:function:NAME:$LATEST",
                        "condition": "RetriesExhausted", "approximateInvokeCount": 3},
     "requestPayload": {...},
     "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
     "responsePayload": {...}}

``functionArn`` names what was invoked, with ``$LATEST`` made explicit for an
unqualified invoke. An event that never ran has no response payload; its
``responseContext`` is ``{"statusCode": 429}`` when throttling kept it from
running, and absent when nothing was tried (ZeroReservedConcurrency).

The dead-letter message is the original event with the message attributes
``RequestID`` (String), ``ErrorCode`` (Number: the last status code; absent for
ZeroReservedConcurrency) and ``ErrorMessage`` (String, at most 1024 characters).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

ZERO_CONCURRENCY_MESSAGE = (
    "Function not invoked. Function isconfigured with zero reserved concurrent executions"
)
"""AWS's ErrorMessage for a dead-lettered event of a function reserved to 0 (its typo included)."""
THROTTLED_MESSAGE = "Rate Exceeded."
MAX_ERROR_MESSAGE = 1024


class Condition(enum.Enum):
    SUCCESS = "Success"
    RETRIES_EXHAUSTED = "RetriesExhausted"
    EVENT_AGE_EXCEEDED = "EventAgeExceeded"
    ZERO_RESERVED_CONCURRENCY = "ZeroReservedConcurrency"


@dataclass(frozen=True, slots=True)
class LastResponse:
    """The answer of the event's last attempt (None in the outcome: it never ran)."""

    status_code: int
    """200 when the function ran (even with a function error); 429 when throttled."""
    executed_version: str = ""
    function_error: str = ""
    payload: bytes | None = None


@dataclass(frozen=True, slots=True)
class Finished:
    """How one event finished."""

    request_id: str
    function_arn: str
    """What was invoked, qualified ($LATEST explicit)."""
    condition: Condition
    invoke_count: int
    request_payload: bytes
    response: LastResponse | None
    finished_at: float

    def destination_record(self) -> bytes:
        """AWS's destination record, as JSON."""
        record: dict[str, Any] = {
            "version": "1.0",
            "timestamp": _timestamp(self.finished_at),
            "requestContext": {
                "requestId": self.request_id,
                "functionArn": self.function_arn,
                "condition": self.condition.value,
                "approximateInvokeCount": self.invoke_count,
            },
            "requestPayload": _json_or_text(self.request_payload),
        }
        response = self.response
        if response is not None:
            context: dict[str, Any] = {"statusCode": response.status_code}
            if response.executed_version:
                context["executedVersion"] = response.executed_version
            if response.function_error:
                context["functionError"] = response.function_error
            record["responseContext"] = context
            if response.payload is not None:
                record["responsePayload"] = _json_or_text(response.payload)
        return orjson.dumps(record)

    def dead_letter_attributes(self) -> Mapping[str, tuple[str, str]]:
        """Message attribute name -> (DataType, StringValue) for the DLQ message."""
        attributes = {"RequestID": ("String", self.request_id)}
        response = self.response
        if self.condition is Condition.ZERO_RESERVED_CONCURRENCY or response is None:
            attributes["ErrorMessage"] = ("String", ZERO_CONCURRENCY_MESSAGE)
            return attributes
        attributes["ErrorCode"] = ("Number", str(response.status_code))
        attributes["ErrorMessage"] = ("String", _error_message(response)[:MAX_ERROR_MESSAGE])
        return attributes


def _error_message(response: LastResponse) -> str:
    if response.status_code == 429:
        return THROTTLED_MESSAGE
    try:
        body = orjson.loads(response.payload or b"")
    except orjson.JSONDecodeError:
        return (response.payload or b"").decode("utf-8", "replace")
    if isinstance(body, dict) and isinstance(body.get("errorMessage"), str):
        return str(body["errorMessage"])
    return orjson.dumps(body).decode()


def _json_or_text(payload: bytes) -> Any:
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        return payload.decode("utf-8", "replace")


def _timestamp(moment: float) -> str:
    """ISO 8601 with milliseconds and Z: ``2019-11-14T18:16:05.568Z``."""
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
