"""The value conversions every protocol shares: blobs (base64), timestamps (epoch
seconds or ISO 8601), numbers sent as text, and the check of an input's required members."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Callable
from typing import Any

from botocore.model import Shape

from lambdalite.protocol.errors import MalformedInputFault, MissingParameterFault, ServiceFault


def decode_blob(value: Any, where: str, query: bool) -> bytes:
    if not isinstance(value, str):
        raise MalformedInputFault(f"{where} must be a base64-encoded string", query=query)
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedInputFault(f"{where} is not valid base64", query=query) from exc


def encode_blob(value: bytes | str) -> str:
    raw = value.encode() if isinstance(value, str) else value
    return base64.b64encode(raw).decode("ascii")


def parse_timestamp(value: Any, where: str, query: bool) -> dt.datetime:
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return dt.datetime.fromtimestamp(value, dt.UTC)
        if isinstance(value, str):
            try:
                return dt.datetime.fromtimestamp(float(value), dt.UTC)
            except ValueError:
                parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
                return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise MalformedInputFault(f"{where} is not a valid timestamp", query=query) from exc
    raise MalformedInputFault(f"{where} is not a valid timestamp", query=query)


def check_required(shape: Shape, value: dict[str, Any]) -> None:
    """Raise MissingParameterFault for the first required member ``value`` lacks."""
    for name in shape.required_members:
        if value.get(name) is None:
            raise MissingParameterFault(name)


def text_number(shape: Shape, raw: str, invalid: Callable[[], ServiceFault]) -> int | float | None:
    """``raw`` (a query parameter, a header, an XML element's text) as the number a
    numeric shape holds; None when the shape is not numeric. Raises ``invalid()`` (the
    protocol's own fault) when ``raw`` is not a number."""
    kind = shape.type_name
    try:
        if kind in ("integer", "long"):
            return int(raw)
        if kind in ("float", "double"):
            return float(raw)
    except ValueError as exc:
        raise invalid() from exc
    return None
