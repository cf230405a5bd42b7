"""Accepting one asynchronous invocation on the API: AWS's payload limits, and
a durable enqueue before the 202 (Invoke with ``InvocationType=Event``, InvokeAsync)."""

from __future__ import annotations

import logging

from lambdalite.errors import RequestTooLarge, ServiceError, StoreError
from lambdalite.events.dispatcher import AsyncInvocations

log = logging.getLogger("lambdalite.events")

MAX_EVENT_PAYLOAD = 1_048_576
"""AWS's limit on an asynchronous invocation's payload (1 MB since 2025)."""
MAX_INVOKE_ASYNC_PAYLOAD = 262_144
"""InvokeAsync's documented limit (256 KB)."""


def too_large(limit: int, operation: str) -> RequestTooLarge:
    return RequestTooLarge(f"Request must be smaller than {limit} bytes for the {operation} operation")


async def accept_event(
    events: AsyncInvocations,
    name: str,
    qualifier: str | None,
    payload: bytes,
    operation: str = "InvokeFunction",
) -> str:
    """Queue one event durably and return its request id (the caller answers 202)."""
    limit = MAX_EVENT_PAYLOAD if operation == "InvokeFunction" else MAX_INVOKE_ASYNC_PAYLOAD
    if len(payload) > limit:
        raise too_large(limit, operation)
    try:
        return await events.accept(name, qualifier, payload)
    except StoreError as exc:
        # Not durable, so not accepted: the caller may retry; the server goes on.
        log.error("asynchronous invocation of %s not accepted: %s", name, exc)
        raise ServiceError(f"The event could not be stored: {exc}") from exc
