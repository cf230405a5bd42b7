"""The one way to run a function: admit, assign, invoke.

Everything that runs a function - the Lambda API's Invoke, function URLs, and
the event sources to come (the asynchronous invocation queue, queue pollers,
topics, rules, schedules) - calls ``Invoker.invoke`` and nothing below it. The
invoker composes the concurrency limiter (``dataplane.limiter``: may this
invocation run now?) and the environment pool (``dataplane.pool``: which
environment runs it?):

    with limiter.lease(function.name, kind):         # or TooManyRequests, at once
        async with pool.environment(function) as env:
            env.invoke(...)  or, when its start failed, env.fail_invocation(...)

(written out by hand in ``invoke``, with ``try``/``finally`` instead of the lease
objects' ``with``: a warm invoke then costs no coroutine and no object of theirs).

An environment whose start failed (init error, timeout, a runtime that cannot
start) is not retried: the invocation gets the error AWS returns for it
(``Runtime.ExitError``, ``Runtime.Unknown`` ...) as a function error, with the
init phase's log lines, and the next invocation starts a fresh environment.

Throttling is raised, not returned: ``TooManyRequests`` carries AWS's reason;
each caller answers it its own way (the Lambda API: 429 with Reason; a
function URL: 429 "Rate Exceeded."; the async queue will retry the event).
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from lambdalite.control.provisioned import ProvisionedState
from lambdalite.dataplane.environment import EnvState
from lambdalite.dataplane.limiter import ConcurrencyLimiter, InvocationKind
from lambdalite.dataplane.pool import EnvironmentPool
from lambdalite.events import lineage
from lambdalite.models import FunctionConfig, Invocation, InvocationResult, new_request_id
from lambdalite.observe import tracing


class Invoker:
    """Runs invocations through the limiter and the pool (see the module docstring)."""

    def __init__(self, limiter: ConcurrencyLimiter, pool: EnvironmentPool) -> None:
        self._limiter = limiter
        self._pool = pool

    async def invoke(
        self,
        function: FunctionConfig,
        payload: bytes,
        *,
        invoked_arn: str,
        kind: InvocationKind = InvocationKind.SYNC,
        request_id: str | None = None,
        client_context: str | None = None,
        trace_header: str | None = None,
    ) -> InvocationResult:
        """Run ``function`` (a resolved revision) on ``payload`` and return what
        it produced; a function error is a result, not an exception.

        ``invoked_arn`` is the ARN the caller named (with its qualifier), as the
        runtime's context reports it; ``kind`` says who waits for the result
        (what the limiter counts it as); ``request_id`` is the caller's when it
        already told someone (a new one otherwise); ``client_context`` is the
        decoded X-Amz-Client-Context JSON; ``trace_header`` the X-Ray header the
        event came with (an SQS message's AWSTraceHeader ...), whose trace and
        lineage this invocation continues (``observe.tracing``). Raises
        TooManyRequests when the function's reservation or the node's unreserved
        pool is used up, and RecursiveLoopDetected when the event's chain has
        invoked the function too often (``events.lineage``)."""
        hop = lineage.next_hop(function, trace_header)
        request_id = request_id or new_request_id()
        active = function.tracing_mode == "Active"
        invocation = Invocation(  # by position (Invocation's field order): one is made per invoke
            request_id,
            payload,
            function,
            invoked_arn,
            client_context,
            None,  # cognito_identity
            hop.lineage,
            tracing.trace_header(request_id, time.time(), active, trace_header, hop.lineage),
        )
        limiter = self._limiter
        slot = limiter.admit(function.name, kind)
        try:
            lease = self._pool.environment(function)
            try:
                # A warm environment is taken without an await of its own (the common case).
                env = lease.take() or await lease.acquire()
                if env.state is not EnvState.READY:
                    return env.fail_invocation(invocation)
                return await env.invoke(invocation)
            finally:
                lease.release()
        finally:
            limiter.give_back(slot, kind)

    def provisioned_state(self, key: str) -> ProvisionedState:
        """How far the provisioned concurrency config ``key`` got (for Get/List)."""
        return self._pool.provisioner.state(key)

    async def close(self, grace_s: float) -> None:
        """Take no more invocations, let those in flight finish for up to
        ``grace_s`` seconds, then stop every environment."""
        self._limiter.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._limiter.idle(), grace_s)
        await self._pool.close()
