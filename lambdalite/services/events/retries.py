"""A target's RetryPolicy as EventBridge applies it: how long to wait before each
retry, and when retrying stops.

EventBridge retries a failed delivery with exponential backoff and jitter until
``MaximumRetryAttempts`` retries were made or the event is older than
``MaximumEventAgeInSeconds`` (by default 185 retries and 24 hours), then sends it
to the target's DeadLetterConfig queue saying which limit ran out
(``EXHAUSTED_RETRY_CONDITION``) and how many retries were made (``RETRY_ATTEMPTS``).

Only retriable failures are retried: throttling, timeouts, a target's 5xx, a lost
connection. A failure that no retry can mend (the target does not exist, a policy
denies EventBridge, the target refuses the event as invalid: any other 4xx) goes to
the dead-letter queue at once, with its ``ERROR_CODE`` (``failure_of``).

The delays are EventBridge's own, not Lambda's: ``--retry-delay-scale`` scales
only Lambda's retry delays and event ages (the asynchronous-invocation queue), so
it does not apply here; a test that wants short delays sets a short RetryPolicy.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lambdalite.errors import AwsError
from lambdalite.events.targets import DeliveryError
from lambdalite.protocol.errors import ServiceFault

DEFAULT_MAX_RETRIES = 185
DEFAULT_MAX_AGE_S = 86_400
BASE_DELAY_S = 1.0
"""The first retry comes within a second or so; each later one waits up to twice as long."""
MAX_DELAY_S = 300.0
"""The backoff stops growing at five minutes (185 retries then span about a day)."""

POLL_S = 1.0
"""A retry loop looks for due retries at least this often."""

ATTEMPTS = "MaximumRetryAttempts"
AGE = "MaximumEventAgeInSeconds"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_retries: int
    max_age_s: float

    @classmethod
    def of(cls, target: Mapping[str, Any]) -> RetryPolicy:
        """The target's RetryPolicy, EventBridge's defaults where it says nothing."""
        policy = target.get("RetryPolicy") or {}
        retries = policy.get("MaximumRetryAttempts")
        age = policy.get("MaximumEventAgeInSeconds")
        return cls(
            DEFAULT_MAX_RETRIES if retries is None else int(retries),
            DEFAULT_MAX_AGE_S if age is None else float(age),
        )

    def exhausted(self, retries_made: int, first_failed_at: float, next_at: float) -> str | None:
        """Which limit stops a further retry at ``next_at`` (``ATTEMPTS`` or ``AGE``),
        or None when it may be made."""
        if retries_made >= self.max_retries:
            return ATTEMPTS
        if next_at - first_failed_at > self.max_age_s:
            return AGE
        return None


def backoff(retries_made: int, rng: random.Random) -> float:
    """Seconds before the next retry: exponential in the retries made, with "equal
    jitter" (half the ceiling fixed, half random) so retries spread out yet grow."""
    ceiling = min(MAX_DELAY_S, BASE_DELAY_S * 2.0 ** min(retries_made, 30))
    return ceiling / 2 + rng.uniform(0.0, ceiling / 2)


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a delivery failed, as a dead-letter message says it."""

    code: str
    """``ERROR_CODE``: ``NO_RESOURCE``, ``NO_PERMISSIONS``, ``THROTTLING``, ``TIMEOUT``..."""
    message: str
    retriable: bool


_NO_PERMISSIONS = frozenset({"AccessDenied", "AccessDeniedException", "AuthorizationError"})
_NO_RESOURCE = frozenset({"QueueDoesNotExist", "NotFound", "ResourceNotFound", "ResourceNotFoundException"})
_THROTTLING = frozenset({"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestThrottled"})


def failure_of(error: DeliveryError) -> Failure:
    """The failure behind ``error``: what the target (or the service behind it) raised.
    A DeliveryError of its own (no cause) says the target could not be found."""
    message = str(error)
    cause = error.__cause__
    while isinstance(cause, DeliveryError):
        cause = cause.__cause__
    if cause is None:
        return Failure("NO_RESOURCE", message, retriable=False)
    if isinstance(cause, ServiceFault):
        code, status = cause.fault_code, cause.fault_status
    elif isinstance(cause, AwsError):
        code, status = cause.code, cause.status
    elif isinstance(cause, TimeoutError):
        return Failure("TIMEOUT", message, retriable=True)
    elif isinstance(cause, ConnectionError):
        return Failure("CONNECTION_FAILURE", message, retriable=True)
    else:
        # Something of our own went wrong: worth another try, as for a service's 5xx.
        return Failure("INTERNAL_ERROR", message, retriable=True)
    if status == 403 or code in _NO_PERMISSIONS:
        return Failure("NO_PERMISSIONS", message, retriable=False)
    if status == 404 or code in _NO_RESOURCE:
        return Failure("NO_RESOURCE", message, retriable=False)
    if status == 429 or code in _THROTTLING:
        return Failure("THROTTLING", message, retriable=True)
    if status >= 500:
        return Failure("ERROR_FROM_TARGET", message, retriable=True)
    # Any other 4xx: the target refuses this event, and would again.
    return Failure("INVALID_PARAMETER", message, retriable=False)
