"""A target's RetryPolicy as EventBridge applies it: how long to wait before each
retry, and when retrying stops.

EventBridge retries a failed delivery with exponential backoff and jitter until
``MaximumRetryAttempts`` retries were made or the event is older than
``MaximumEventAgeInSeconds`` (by default 185 retries and 24 hours), then sends it
to the target's DeadLetterConfig queue saying which limit ran out
(``EXHAUSTED_RETRY_CONDITION``) and how many retries were made (``RETRY_ATTEMPTS``).

The delays are EventBridge's own, not Lambda's: ``--retry-delay-scale`` scales
only Lambda's retry delays and event ages (the asynchronous-invocation queue), so
it does not apply here; a test that wants short delays sets a short RetryPolicy.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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
