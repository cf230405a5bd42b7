"""X-Ray's trace header and daemon variables, as Lambda forms them.

There is no X-Ray service here: what ``TracingConfig`` can change locally is
what the function sees. Every invocation gets a trace header in
``_X_AMZN_TRACE_ID`` (through the Runtime API's ``Lambda-Runtime-Trace-Id``)::

    Root=1-<8 hex digits: epoch seconds>-<24 hex digits>;Parent=<16 hex digits>;Sampled=<0|1>

An invocation that came with a trace header of its own (``X-Amzn-Trace-Id`` on Invoke,
an SQS message's ``AWSTraceHeader``...) continues that trace, as on AWS: its Root is kept
and its sampling decision followed; the Parent is the invocation's own. Otherwise a new
Root is started, and the decision is ``Sampled=1`` with ``Mode: Active`` (the X-Ray SDKs
then record segments), ``Sampled=0`` with ``PassThrough``. With Active the environment
also gets the daemon variables AWS sets; they name a UDP port on loopback where no
daemon listens, so an SDK's segments are dropped on this machine instead of going
anywhere else. A chain's ``Lineage`` (``events.lineage``) goes last.
"""

from __future__ import annotations

import random
import re

DAEMON_HOST = "127.0.0.1"
DAEMON_PORT = 2000
ROOT = re.compile(r"1-[0-9a-fA-F]{8}-[0-9a-fA-F]{24}")
"""A well-formed X-Ray trace id (a caller's malformed Root starts a new trace)."""


def trace_header(
    request_id: str, epoch_s: float, active: bool, caller: str | None = None, lineage: str = ""
) -> str:
    """The trace header for one invocation (see the module docstring): ``caller`` is the
    header it came with, ``lineage`` the value of its Lineage field ("" for none)."""
    root = sampled = None
    if caller:
        root, sampled = _continued(caller)
    if root is None:
        root = f"1-{int(epoch_s):08x}-{request_id.replace('-', '')[:24]}"
    if sampled is None:
        sampled = "1" if active else "0"
    header = f"Root={root};Parent={_random_hex16()};Sampled={sampled}"
    return f"{header};Lineage={lineage}" if lineage else header


# Every invocation formats a trace header: the Parent's 64 random bits are cut from
# a batch drawn at once.
_RANDOM_BATCH = 2048
_random_digits = ""
_random_used = 0


def _random_hex16() -> str:
    """16 random hex digits (64 bits, as ``random.getrandbits(64)`` formatted)."""
    global _random_digits, _random_used
    used = _random_used
    if used + 16 > len(_random_digits):
        _random_digits, used = random.randbytes(_RANDOM_BATCH).hex(), 0
    _random_used = used + 16
    return _random_digits[used : used + 16]


def _continued(caller: str) -> tuple[str | None, str | None]:
    """The (Root, Sampled decision) a caller's header carries, each None when absent or
    malformed (``Sampled=?``, a request for a decision, is no decision)."""
    root = sampled = None
    for field in caller.split(";"):
        key, _, value = field.strip().partition("=")
        if key == "Root" and ROOT.fullmatch(value.strip()):
            root = value.strip()
        elif key == "Sampled" and value.strip() in ("0", "1"):
            sampled = value.strip()
    return root, sampled


def daemon_variables() -> dict[str, str]:
    """The X-Ray variables Lambda sets for an Active function."""
    return {
        "AWS_XRAY_DAEMON_ADDRESS": f"{DAEMON_HOST}:{DAEMON_PORT}",
        "_AWS_XRAY_DAEMON_ADDRESS": DAEMON_HOST,
        "_AWS_XRAY_DAEMON_PORT": str(DAEMON_PORT),
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
    }
