"""What an invocation is billed, as AWS bills it."""

from __future__ import annotations

import math
from typing import NamedTuple


class Billing(NamedTuple):
    """An invocation's Duration and Billed Duration, as REPORT shows them.
    (A tuple: made once per invocation, on the warm path.)"""

    duration_ms: float
    billed_ms: int


def bill(measured_ms: float, *, timed_out_after_s: int | None = None) -> Billing:
    """The billing for an invocation that ran ``measured_ms``.

    AWS bills in 1 ms steps since 2020-12: round up, never down. An invocation
    that timed out (``timed_out_after_s``: the function's timeout) is reported
    and billed at exactly its timeout, whatever the platform's own delay in
    noticing it: a 2 s timeout is ``Duration: 2000.00 ms``, ``Billed Duration: 2000 ms``."""
    if timed_out_after_s is not None:
        timeout_ms = timed_out_after_s * 1000
        return Billing(float(timeout_ms), timeout_ms)
    return Billing(measured_ms, math.ceil(measured_ms))
