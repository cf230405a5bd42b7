"""Errors lambdalite raises.

AwsError                        an error an AWS-compatible API returns: code, HTTP status, message
├── LambdaError                 an error the Lambda API returns to the caller
│   ├── ResourceNotFound        404 ResourceNotFoundException
│   ├── ResourceConflict        409 ResourceConflictException
│   ├── InvalidParameterValue   400 InvalidParameterValueException
│   ├── Validation              400 ValidationException
│   ├── InvalidRequestContent   400 InvalidRequestContentException
│   ├── UnsupportedMediaType    415 UnsupportedMediaTypeException
│   ├── PreconditionFailed      412 PreconditionFailedException
│   ├── TooManyRequests         429 TooManyRequestsException (with Reason)
│   ├── RequestTooLarge         413 RequestEntityTooLargeException
│   ├── UnknownOperation        404 UnknownOperationException
│   ├── AccessDenied            403 AccessDeniedException (AWS sends no message)
│   └── ServiceError            500 ServiceException
└── LogsError                   an error the CloudWatch Logs API returns (always 400, JSON 1.1)
    ├── LogsResourceNotFound    ResourceNotFoundException (log group or stream missing)
    ├── LogsInvalidParameter    InvalidParameterException (a value out of range, a bad token or pattern)
    └── LogsUnknownOperation    UnknownOperationException (no such X-Amz-Target; no message)
SandboxError                    an environment could not start, or died
├── EnvironmentStartFailed      the runtime process could not be started
└── InvalidTransition           an environment was asked for an impossible state change
StoreError                      persistence failed; translated from sqlite3/OSError once

API handlers raise AwsError subclasses; each protocol's serializer in ``api/``
turns them into its wire shape. Nothing below ``api/`` builds error JSON itself.
"""

from __future__ import annotations

from typing import ClassVar, Self


class AwsError(Exception):
    """An error an AWS-compatible API returns: an AWS error code, an HTTP status and a
    message (empty when AWS sends none)."""

    code: ClassVar[str] = "ServiceException"
    status: ClassVar[int] = 500
    error_kind: ClassVar[str] = "User"
    """The ``Type`` AWS puts in the body: ``User`` for caller faults, ``Service`` otherwise."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.sends_type = True
        """False where AWS leaves ``Type`` out although the exception's shape has it
        (some checks of AWS's front end answer with the message alone)."""

    def body_message(self) -> str | None:
        """The message as the body carries it (None: ``null``, where AWS sends no message)."""
        return self.message

    def without_type(self) -> Self:
        """This error, answered without ``Type`` in the body (as AWS answers it)."""
        self.sends_type = False
        return self

    def extra_body(self) -> dict[str, str]:
        """Extra members AWS puts beside Type and message (for example Reason)."""
        return {}

    def extra_headers(self) -> dict[str, str]:
        return {}


class LambdaError(AwsError):
    """An error the Lambda API returns."""


class ResourceNotFound(LambdaError):
    code = "ResourceNotFoundException"
    status = 404


class ResourceConflict(LambdaError):
    code = "ResourceConflictException"
    status = 409


class InvalidParameterValue(LambdaError):
    code = "InvalidParameterValueException"
    status = 400


class Validation(LambdaError):
    code = "ValidationException"
    status = 400


class InvalidRequestContent(LambdaError):
    code = "InvalidRequestContentException"
    status = 400


class UnsupportedMediaType(LambdaError):
    code = "UnsupportedMediaTypeException"
    status = 415


class PreconditionFailed(LambdaError):
    code = "PreconditionFailedException"
    status = 412


class RequestTooLarge(LambdaError):
    code = "RequestEntityTooLargeException"
    status = 413


class UnknownOperation(LambdaError):
    code = "UnknownOperationException"
    status = 404


class AccessDenied(LambdaError):
    """403. AWS answers some cross-account requests with no message at all (``null``)."""

    code = "AccessDeniedException"
    status = 403

    def __init__(self, message: str = "") -> None:
        super().__init__(message)

    def body_message(self) -> str | None:
        return self.message or None


class ServiceError(LambdaError):
    code = "ServiceException"
    status = 500
    error_kind = "Service"


class TooManyRequests(LambdaError):
    """429. ``reason`` is one of AWS's ThrottleReason values, for example
    ``ConcurrentInvocationLimitExceeded``."""

    code = "TooManyRequestsException"
    status = 429

    def __init__(self, message: str, reason: str, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.reason = reason
        self.retry_after_s = retry_after_s

    def extra_body(self) -> dict[str, str]:
        return {"Reason": self.reason}

    def extra_headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_s)}


class LogsError(AwsError):
    """An error the CloudWatch Logs API returns: HTTP 400 with ``{"__type", "message"}``."""

    status = 400


class LogsResourceNotFound(LogsError):
    code = "ResourceNotFoundException"


class LogsInvalidParameter(LogsError):
    code = "InvalidParameterException"


class LogsUnknownOperation(LogsError):
    code = "UnknownOperationException"

    def __init__(self, message: str = "") -> None:
        super().__init__(message)


class SandboxError(Exception):
    """An execution environment could not start, or died."""


class EnvironmentStartFailed(SandboxError):
    pass


class InvalidTransition(SandboxError):
    pass


class StoreError(Exception):
    """Persistence failed. Raised once, where sqlite3/OSError enter, with ``from exc``."""
