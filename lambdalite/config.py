"""The one settings object, built once in the composition root and passed down.

Precedence: command-line flags, then ``LAMBDALITE_*`` environment variables, then
the defaults below. Nothing below the composition root reads ``os.environ`` for
its own settings.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

DEFAULT_PORT = 9001
"""The port `lambdalite serve` listens on unless told otherwise."""


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    data_dir: Path = Path("data")
    region: str = "us-east-1"
    account_id: str = "000000000000"
    max_concurrency: int = 1000
    """Concurrent invocations this node runs before it answers 429."""
    keep_alive_s: float = 300.0
    """How long an idle warm environment lives before it is stopped."""
    strict_runtimes: bool = False
    """Refuse to run a function whose runtime's exact interpreter is missing,
    instead of running it on the nearest one with a warning in its log."""
    warm_wait_ms: float = 10.0
    """Warm-first scheduling: an invocation that finds every environment busy
    waits up to this long for one to come back (only when the function's recent
    invocations are short enough to make that likely) before starting a new
    environment. 0 scales out immediately, exactly as AWS does."""
    isolation: str = "auto"
    """``auto`` (namespace where the host allows it, process otherwise),
    ``namespace`` (refuse to start without it) or ``process``; see ``lambdalite doctor``."""
    shutdown_grace_s: float = 10.0
    """How long in-flight invocations may run on after SIGINT/SIGTERM."""
    zygotes: bool = True
    """Fork Python environments from a pre-initialised interpreter per Python
    version (milliseconds instead of a fresh interpreter's start-up)."""
    http_head_timeout_s: float = 10.0
    """A request head must arrive within this long of its first byte (else 408, closed)."""
    http_idle_timeout_s: float = 60.0
    """An idle keep-alive connection is closed after this long (one waiting on a
    long poll is not idle)."""
    http_max_head_bytes: int = 64 * 1024
    """A longer request head gets 431 and is closed."""
    http_max_header_lines: int = 500
    """A head with more header lines gets 431 and is closed."""
    http_max_connections: int = 10_000
    """Open connections beyond this get 503 and are closed (lowered to keep a quarter
    of the process's descriptors in reserve)."""
    http_max_unsent_bytes: int = 64 * 1024
    """A connection is not read while more of its responses than this are unsent."""
    http_max_queued_requests: int = 100
    """A connection is not read while this many of its requests wait their turn."""
    code_gc_grace_s: float = 600.0
    """A code package no function version, layer version or environment uses is
    removed once it has been unused, and last uploaded, this long ago."""
    code_gc_interval_s: float = 300.0
    """How often unused code packages are looked for (and once at start)."""
    retry_delay_scale: float = 1.0
    """Scales Lambda's own asynchronous retry delays and the event-age limit, and nothing
    else (0.01: AWS's 60 s retry delay becomes 0.6 s, 6 hours of event age 216 s)."""
    async_max_in_flight: int = 8
    """Queued Event invocations this node runs at once (each also needs a concurrency slot).
    Kept small by default: each one in flight may start an environment of its own, and on
    a small node a burst of cold starts drains a backlog slower than a few warm ones do;
    raise it for functions that wait (I/O) rather than compute."""
    queue: str = ""
    """Where accepted asynchronous events live: empty for ``events.db`` in the data
    directory (SQLite), or ``nats://HOST:PORT[/STREAM]`` for a NATS JetStream stream."""
    async_share: float = 0.5
    """The fraction of the unreserved concurrency pool asynchronous work may hold: the
    rest is kept for synchronous invokes (see ``dataplane.limiter``)."""
    redis_url: str = "redis://127.0.0.1:6379/0"
    """The Redis whose streams event source mappings read (``arn:aws:redis:...:stream/KEY``)."""
    sqs_endpoints: str = ""
    """Other SQS endpoints whose queues event source mappings may read:
    ``ACCOUNT:REGION=URL[|KEY|SECRET],...`` (``esm.remote_sqs``)."""
    nats_url: str = "nats://127.0.0.1:4222"
    """The NATS whose JetStream streams event source mappings read (``arn:aws:nats:...:stream/NAME``)."""
    rabbitmq_url: str = "amqp://127.0.0.1:5672"
    """The RabbitMQ that Amazon MQ event source mappings read (``arn:aws:mq:...:broker:NAME:ID``;
    credentials and virtual host come from the mapping, ``esm.rabbitmq``)."""
    url_base: str = "auto"
    """Where the FunctionUrl the API returns points: ``auto``, ``host``, ``path`` or
    ``SCHEME://DOMAIN[:PORT]`` (a wildcard domain); see ``api.url_base``."""
    state_settle_s: float = 0.0
    """The least time a created function stays Pending and an update InProgress
    (AWS takes about a second); 0 settles as soon as the code is prepared."""
    session_duration_scale: float = 1.0
    """Scales the lifetime of temporary credentials (AssumeRole, execution roles); tests
    shorten it (0.001: AWS's 15-minute minimum lasts 0.9 s)."""
    auth: str = "none"
    """``sigv4``: every request is verified (AWS Signature Version 4) against lambdalite's
    access keys; ``none``: any credentials are accepted, allowed only while every listening
    address is loopback."""

    audit_max_records: int = 100_000
    """The audit log (``audit.db``) keeps this many of the newest control-plane records."""
    tls_cert: str = ""
    """A PEM certificate (chain) file: with ``tls_key``, every surface is served over HTTPS."""
    tls_key: str = ""
    """The PEM private key of ``tls_cert``."""
    data_key: str = field(default="", repr=False)
    """The key sealing the functions' environment variables in the data directory (base64
    or hex of 32 bytes, from ``LAMBDALITE_DATA_KEY``); empty: ``secrets.key`` there, created
    owner-only on first start."""

    @property
    def endpoint(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    @property
    def scheme(self) -> str:
        """``https`` when a TLS certificate is configured, else ``http``."""
        return "https" if self.tls_cert else "http"

    def arn_prefix(self) -> str:
        """``arn:aws:lambda:REGION:ACCOUNT:function:``, the start of every function ARN."""
        return f"arn:aws:lambda:{self.region}:{self.account_id}:function:"

    @classmethod
    def load(
        cls, overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
    ) -> Settings:
        """Defaults, overlaid by ``LAMBDALITE_<FIELD>`` variables, overlaid by
        ``overrides`` (flags; None values are ignored)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for member in fields(cls):
            raw = env.get(f"LAMBDALITE_{member.name.upper()}")
            if raw is not None:
                values[member.name] = _coerce(member.name, raw)
        for name, value in (overrides or {}).items():
            if value is not None:
                values[name] = _coerce(name, value) if isinstance(value, str) else value
        settings = replace(cls(), **values)
        return replace(settings, data_dir=Path(settings.data_dir).resolve())


def _coerce(name: str, raw: str) -> Any:
    default = getattr(Settings(), name)
    if isinstance(default, bool):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    if isinstance(default, Path):
        return Path(raw)
    return raw
