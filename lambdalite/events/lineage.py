"""Recursive-loop detection: the lineage an event carries from one invocation to the next.

AWS counts, per function, how often one chain of events has invoked it. The count
travels in the X-Ray trace header's ``Lineage`` field, one ``<tag>:<count>`` entry
per function separated by ``|`` (``Root=...;Parent=...;Sampled=0;Lineage=a87bd80c:3``):

- Lambda gives each invocation a trace header (``_X_AMZN_TRACE_ID``) whose lineage
  counts this function once more than the event it came from did;
- the AWS SDKs inside a function send that header as ``X-Amzn-Trace-Id`` with every
  call (botocore: when ``AWS_LAMBDA_FUNCTION_NAME`` and ``_X_AMZN_TRACE_ID`` are set);
- SQS keeps it on the message as the ``AWSTraceHeader`` system attribute, SNS and S3
  (a change's notification) pass it on to what they deliver to, and the asynchronous
  queue keeps it with the event;
- when the next invocation would count a function more than ``MAX_INVOCATIONS``
  times and its recursion config is ``Terminate`` (the default), Lambda stops it:
  the event goes to the DLQ or OnFailure destination, and the log says why. With
  ``Allow`` the chain goes on. A synchronous Invoke of the stopped function answers
  ``RecursiveInvocationException``.

Here the header of the request being served is ``incoming`` (a context variable the
router sets from ``X-Amzn-Trace-Id``; tasks started while serving it inherit it),
so a service that stores or forwards an event asks it instead of threading it
through every call.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
from collections.abc import Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from lambdalite.errors import LambdaError
from lambdalite.models import FunctionConfig

MAX_INVOCATIONS = 16
"""A chain may invoke one function this many times; the next invocation is stopped."""
TRACE_HEADER = "AWSTraceHeader"
"""The SQS message system attribute (and queue metadata key) that carries the header."""
MESSAGE = (
    "Lambda has detected your function being invoked in a recursive loop with other Amazon Web "
    "Services resources and stopped your function's invocation."
)
"""AWS's text for RecursiveInvocationException (botocore's Lambda model)."""
MAX_LINEAGE_ENTRIES = 32
"""Functions one header counts (a bound on what a caller can make us parse)."""

CARRIERS = frozenset({"lambda", "sqs", "sns", "s3"})
"""The services (router names) whose requests carry a chain on: AWS detects loops through
Lambda, SQS, SNS and S3 (an object's notification), not EventBridge."""

incoming: ContextVar[str | None] = ContextVar("lineage_incoming", default=None)
"""The trace header of the request being served (None: it had none)."""


class RecursiveLoopDetected(LambdaError):
    """The invocation was stopped: its chain already invoked the function ``MAX_INVOCATIONS``
    times. A synchronous Invoke answers it as AWS does (400 RecursiveInvocationException)."""

    code = "RecursiveInvocationException"
    status = 400

    def __init__(self, function: str, count: int) -> None:
        super().__init__(MESSAGE)
        self.function = function
        self.count = count


@contextlib.contextmanager
def carried(header: bytes | str | None) -> Iterator[None]:
    """Serve one request with ``header`` (its X-Amzn-Trace-Id) as ``incoming``."""
    if isinstance(header, bytes):
        header = header.decode("latin-1")
    token = incoming.set(header or None)
    try:
        yield
    finally:
        incoming.reset(token)


def counts(header: str | None) -> dict[str, int]:
    """The lineage entries of a trace header: function tag -> count (malformed ones skipped)."""
    found: dict[str, int] = {}
    for field in (header or "").split(";"):
        key, _, value = field.strip().partition("=")
        if key != "Lineage":
            continue
        for entry in value.split("|")[:MAX_LINEAGE_ENTRIES]:
            tag, _, count = entry.partition(":")
            if tag and count.isdigit():
                found[tag] = int(count)
    return found


def has_lineage(header: str | None) -> bool:
    return bool(counts(header))


def tag(function: FunctionConfig) -> str:
    """A function's lineage tag: 8 hex digits of its name (versions and aliases count
    as one function, as a loop through any of them is the same loop)."""
    return _tag_of(function.name)


@functools.lru_cache(maxsize=4096)
def _tag_of(name: str) -> str:
    # Every invocation asks: a digest per call cost more than the rest of next_hop.
    return hashlib.sha256(name.encode()).hexdigest()[:8]


@dataclass(frozen=True, slots=True)
class Hop:
    """One invocation's place in its chain."""

    count: int
    """How often the chain has invoked the function, this invocation included."""
    lineage: str
    """The Lineage field value the invocation's own trace header carries."""


@functools.lru_cache(maxsize=4096)
def _first_hop(name: str) -> Hop:
    # Shared (a Hop is frozen): building a frozen dataclass per invoke cost ~1.5 us.
    return Hop(1, f"{_tag_of(name)}:1")


def next_hop(function: FunctionConfig, header: str | None) -> Hop:
    """Count ``function`` once more in the lineage of ``header``; raise
    RecursiveLoopDetected when that passes ``MAX_INVOCATIONS`` and the function's
    recursion config is ``Terminate``."""
    if header is None or "Lineage=" not in header:
        return _first_hop(function.name)  # the usual case: the first hop of a chain
    own = tag(function)
    entries = counts(header)
    count = entries.get(own, 0) + 1
    if count > MAX_INVOCATIONS and function.recursive_loop != "Allow":
        raise RecursiveLoopDetected(function.name, count)
    entries[own] = count
    return Hop(count, "|".join(f"{key}:{value}" for key, value in entries.items()))


def with_trace_header(system: Mapping[str, Mapping[str, Any]]) -> Mapping[str, Mapping[str, Any]]:
    """An SQS message's system attributes with the caller's trace header as
    ``AWSTraceHeader`` when the caller carried a lineage and set none itself (as
    SQS takes it from X-Amzn-Trace-Id)."""
    header = incoming.get()
    if TRACE_HEADER in system or not has_lineage(header):
        return system
    return {**system, TRACE_HEADER: {"DataType": "String", "StringValue": header}}


def batch_header(function: FunctionConfig, headers: Iterable[str | None]) -> str | None:
    """The trace header one invocation of a batch continues (an event source mapping
    invokes once for many messages): the one whose chain has invoked ``function``
    most often, so that a looping message stops the batch it is in."""
    own = tag(function)
    deepest: tuple[int, str] | None = None
    for header in headers:
        if header is None:
            continue
        count = counts(header).get(own, 0)
        if deepest is None or count > deepest[0]:
            deepest = (count, header)
    return None if deepest is None else deepest[1]
