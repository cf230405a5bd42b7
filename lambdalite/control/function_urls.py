"""Function URL config requests parsed at the edge, and the CORS rules a URL applies.

A function has at most one URL per qualifier: the unqualified function's (kept
under ``$LATEST``) and one per alias. Versions and an explicit ``$LATEST`` are
refused with AWS's ValidationException.

AuthType ``NONE`` and ``AWS_IAM`` are both accepted and stored; lambdalite does
not check signatures yet, so an ``AWS_IAM`` URL is served like a ``NONE`` one
until signature checking exists. InvokeMode ``BUFFERED`` is served;
``RESPONSE_STREAM`` is refused with an InvalidParameterValueException that
says so, rather than accepted and silently buffered.

Texts are AWS's as LocalStack's parity-tested provider reproduces them
(``services/lambda_/provider.py``, function URL section, checked against AWS by
``tests/aws/services/lambda_/test_lambda_api.py::TestLambdaUrl``).
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from lambdalite.control import validation
from lambdalite.errors import InvalidParameterValue, ResourceConflict, Validation
from lambdalite.models import LATEST

FUNCTION_NOT_FOUND = "Function does not exist"
CONFIG_NOT_FOUND = "The resource you requested does not exist."
RESPONSE_STREAM_UNSUPPORTED = "InvokeMode RESPONSE_STREAM is not supported by lambdalite yet; use BUFFERED."
_INVOKE_MODES = ("RESPONSE_STREAM", "BUFFERED")
"""In the order AWS lists them in its enum error."""
_URL_ID_ALPHABET = string.ascii_lowercase + string.digits
URL_ID_LENGTH = 32


def new_url_id() -> str:
    """32 lowercase alphanumerics, like AWS's url-id (``<url-id>.lambda-url.<region>.on.aws``)."""
    return "".join(secrets.choice(_URL_ID_ALPHABET) for _ in range(URL_ID_LENGTH))


def exists(function_arn: str) -> ResourceConflict:
    return ResourceConflict(
        f"Failed to create function url config for [functionArn = {function_arn}]. "
        "Error message:  FunctionUrlConfig exists for this Lambda function"
    )


def check_qualifier(qualifier: str | None) -> str:
    """The key of a URL config: ``$LATEST`` for the unqualified function, else the
    alias name. A version number or an explicit ``$LATEST`` fails the model's
    ``FunctionUrlQualifier`` pattern, which AWS checks before anything else."""
    if qualifier is None:
        return LATEST
    validation.validate_value(qualifier, "FunctionUrlQualifier", "qualifier")
    return qualifier


@dataclass(frozen=True, slots=True)
class UrlInput:
    """Create/UpdateFunctionUrlConfig's body members; None means "not given"."""

    auth_type: str | None
    invoke_mode: str | None
    cors: Mapping[str, Any] | None


def parse_url_config(body: Mapping[str, Any], operation: str) -> UrlInput:
    """Gates 1 and 2 from the model (AuthType required on create, the Cors
    member shapes), AWS's invokeMode wording, and lambdalite's RESPONSE_STREAM refusal."""
    invoke_mode = body.get("InvokeMode")
    checked = {key: value for key, value in body.items() if key != "InvokeMode"}
    request = validation.checked_body(checked, operation)
    if invoke_mode is not None:
        if not isinstance(invoke_mode, str) or invoke_mode not in _INVOKE_MODES:
            raise Validation(
                f"1 validation error detected: Value '{invoke_mode}' at 'invokeMode' failed to satisfy "
                f"constraint: Member must satisfy enum value set: [{', '.join(_INVOKE_MODES)}]"
            )
        if invoke_mode == "RESPONSE_STREAM":
            raise InvalidParameterValue(RESPONSE_STREAM_UNSUPPORTED)
    cors = request.get("Cors")
    return UrlInput(
        auth_type=request.get("AuthType"),
        invoke_mode=invoke_mode,
        cors=None if cors is None else MappingProxyType(dict(cors)),
    )


# --- CORS, as a function URL applies it ------------------------------------------------------------


def _origin_allowed(cors: Mapping[str, Any], origin: str) -> str | None:
    """The Access-Control-Allow-Origin value for ``origin``, or None if not allowed."""
    allowed: Sequence[str] = cors.get("AllowOrigins") or ()
    if "*" in allowed:
        # A credentialed request cannot be answered with "*": browsers refuse it.
        return origin if cors.get("AllowCredentials") else "*"
    lowered = origin.lower()
    return origin if any(candidate.lower() == lowered for candidate in allowed) else None


def preflight_headers(cors: Mapping[str, Any], origin: str) -> list[tuple[str, str]]:
    """The headers of the answer to an OPTIONS preflight from ``origin`` (none
    when the origin is not allowed: the browser then blocks the request)."""
    allow_origin = _origin_allowed(cors, origin)
    if allow_origin is None:
        return []
    headers = [("access-control-allow-origin", allow_origin)]
    methods = cors.get("AllowMethods")
    if methods:
        headers.append(("access-control-allow-methods", ",".join(methods)))
    allow_headers = cors.get("AllowHeaders")
    if allow_headers:
        headers.append(("access-control-allow-headers", ",".join(allow_headers)))
    if cors.get("AllowCredentials"):
        headers.append(("access-control-allow-credentials", "true"))
    max_age = cors.get("MaxAge")
    if max_age:
        headers.append(("access-control-max-age", str(max_age)))
    if allow_origin != "*":
        headers.append(("vary", "Origin"))
    return headers


def response_headers(cors: Mapping[str, Any], origin: str) -> list[tuple[str, str]]:
    """The CORS headers added to a response to a request from ``origin``."""
    allow_origin = _origin_allowed(cors, origin)
    if allow_origin is None:
        return []
    headers = [("access-control-allow-origin", allow_origin)]
    expose = cors.get("ExposeHeaders")
    if expose:
        headers.append(("access-control-expose-headers", ",".join(expose)))
    if cors.get("AllowCredentials"):
        headers.append(("access-control-allow-credentials", "true"))
    if allow_origin != "*":
        headers.append(("vary", "Origin"))
    return headers
