"""Reserved concurrency: the rules PutFunctionConcurrency checks, and the node's account pool.

The node's limit (``Settings.max_concurrency``) plays AWS's account limit
(GetAccountSettings' ``AccountLimit.ConcurrentExecutions``). A reservation
carves concurrency out of it for one function: that function never runs more
invocations at once than reserved (0 throttles every invoke), and no other
function may use it. The rest, limit minus the sum of reservations, is the
unreserved pool every other function shares.

AWS keeps at least 100 executions unreserved (on the default limit of 1000,
a tenth). A node is often much smaller than an AWS account, and a floor of 100
would forbid every reservation on a node limited to 100 or less, so the floor
here scales with the node: a tenth of the limit, rounded up, at least 1 and at
most AWS's 100. With the default limit of 1000 that is exactly AWS's 100.
"""

from __future__ import annotations

import math

AWS_MIN_UNRESERVED = 100
"""AWS's UnreservedConcurrentExecutions floor."""

QUALIFIED_CONCURRENCY = (
    "This operation is permitted on Lambda functions only. Aliases and versions do not support this "
    "operation. Please specify either a function name or an unqualified function ARN."
)
RESERVED_LIMIT_REASON = "ReservedFunctionConcurrentInvocationLimitExceeded"
ACCOUNT_LIMIT_REASON = "ConcurrentInvocationLimitExceeded"
THROTTLED = "Rate Exceeded."
"""The message AWS's TooManyRequestsException carries for both throttle reasons."""


def minimum_unreserved(limit: int) -> int:
    """The unreserved floor on a node limited to ``limit`` concurrent invocations."""
    return min(AWS_MIN_UNRESERVED, max(1, math.ceil(limit / 10)))


def below_minimum(minimum: int) -> str:
    return (
        "Specified ReservedConcurrentExecutions for function decreases account's "
        f"UnreservedConcurrentExecution below its minimum value of [{minimum}]."
    )
