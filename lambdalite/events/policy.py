"""AWS's retry rules for asynchronous invocation, and the scale that shrinks them.

- A function error or timeout is retried up to ``MaximumRetryAttempts`` (0-2,
  default 2) times: about 1 minute after the first failure, 2 after the second.
- A throttle (no concurrency) or a platform error (the environment could not
  start) does not count as an attempt: it is retried with exponential backoff
  (1 s, 2 s, 4 s ... at most 5 minutes) until the event is older than
  ``MaximumEventAgeInSeconds`` (60-21600, default 6 hours).

``scale`` (the server's ``--retry-delay-scale``) multiplies every delay and the
event-age limit alike, and nothing else: 0.01 turns AWS's 60 s into 0.6 s and
6 hours into 216 s, so tests see AWS's behaviour in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_MAX_RETRY_ATTEMPTS = 2
DEFAULT_MAX_EVENT_AGE_S = 21600
FUNCTION_ERROR_DELAYS_S = (60.0, 120.0)
"""Before the first retry, before the second."""
THROTTLE_BASE_S = 1.0
THROTTLE_CAP_S = 300.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    scale: float = 1.0

    def function_error_delay(self, failures: int) -> float:
        """The wait before the retry that follows the ``failures``-th failed attempt (1-based)."""
        index = min(max(failures, 1), len(FUNCTION_ERROR_DELAYS_S)) - 1
        return FUNCTION_ERROR_DELAYS_S[index] * self.scale

    def throttle_delay(self, throttles: int) -> float:
        """The wait after the ``throttles``-th throttle or platform error in a row (1-based)."""
        return min(THROTTLE_CAP_S, THROTTLE_BASE_S * float(2 ** max(throttles - 1, 0))) * self.scale

    def max_age(self, configured_s: int | None) -> float:
        """The scaled age past which an event is given up (EventAgeExceeded)."""
        return (DEFAULT_MAX_EVENT_AGE_S if configured_s is None else configured_s) * self.scale
