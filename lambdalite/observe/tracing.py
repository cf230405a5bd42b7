"""X-Ray's trace header and daemon variables, as Lambda forms them.

There is no X-Ray service here: what ``TracingConfig`` can change locally is
what the function sees. Every invocation gets a trace header in
``_X_AMZN_TRACE_ID`` (through the Runtime API's ``Lambda-Runtime-Trace-Id``)::

    Root=1-<8 hex digits: epoch seconds>-<24 hex digits>;Parent=<16 hex digits>;Sampled=<0|1>

``Sampled=1`` with ``Mode: Active`` (the X-Ray SDKs then record segments),
``Sampled=0`` with ``PassThrough``. With Active the environment also gets the
daemon variables AWS sets; they name a UDP port on loopback where no daemon
listens, so an SDK's segments are dropped on this machine instead of going
anywhere else.
"""

from __future__ import annotations

import random

DAEMON_HOST = "127.0.0.1"
DAEMON_PORT = 2000


def trace_header(request_id: str, epoch_s: float, active: bool) -> str:
    """The trace header for one invocation: its root from the time and the request id."""
    root = request_id.replace("-", "")[:24]
    return f"Root=1-{int(epoch_s):08x}-{root};Parent={random.getrandbits(64):016x};Sampled={int(active)}"


def daemon_variables() -> dict[str, str]:
    """The X-Ray variables Lambda sets for an Active function."""
    return {
        "AWS_XRAY_DAEMON_ADDRESS": f"{DAEMON_HOST}:{DAEMON_PORT}",
        "_AWS_XRAY_DAEMON_ADDRESS": DAEMON_HOST,
        "_AWS_XRAY_DAEMON_PORT": str(DAEMON_PORT),
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
    }
