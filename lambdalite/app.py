"""The composition root: the only place that picks concrete backends.

``serve(settings)`` wires the stores, the registry, the sandbox, the invoker
(concurrency limiter and environment pool) and the HTTP surfaces together,
serves until SIGINT/SIGTERM, then shuts down in order: stop accepting, let
in-flight invocations finish (bounded by ``shutdown_grace_s``), stop every
environment, flush the logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
import ssl
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from lambdalite import discovery
from lambdalite.api.code_links import CodeLinks
from lambdalite.api.lambda_api import LambdaApi
from lambdalite.api.router import MAX_BODY, Router, layer_error
from lambdalite.api.topic_bus_routes import siblings
from lambdalite.auth.authorize import Authorizer
from lambdalite.auth.exposure import check_exposure
from lambdalite.auth.keys import AccessKeys, ensure_admin_key
from lambdalite.auth.secrets import SecretBox, SecretBoxError
from lambdalite.auth.sigv4 import Verifier
from lambdalite.clock import SystemClock
from lambdalite.config import Settings
from lambdalite.control import validation
from lambdalite.control.changes import (
    FunctionDeleted,
    LatestChanged,
    ProvisionedChanged,
    ReservedConcurrencyChanged,
    VersionPublished,
    VersionRemoved,
)
from lambdalite.control.network import has_network, host_ports, unavailable_message
from lambdalite.control.registries import Registries
from lambdalite.control.snapstart import restores_from_snapshot
from lambdalite.control.states import StateSettler
from lambdalite.dataplane.environment import NETWORK_UNAVAILABLE, RuntimeLaunch
from lambdalite.dataplane.invoker import Invoker
from lambdalite.dataplane.limiter import ConcurrencyLimiter
from lambdalite.dataplane.pool import EnvironmentPool
from lambdalite.errors import LambdaError, UnknownOperation
from lambdalite.esm.nats_streams import NatsSources, nats_broker
from lambdalite.esm.pollers import MappingPollers, StreamSettings
from lambdalite.esm.rabbitmq import RabbitMq, RabbitSources
from lambdalite.esm.redis_streams import RedisSources, redis_broker
from lambdalite.esm.registry import SourceCheck, SourceChecks
from lambdalite.esm.remote_sqs import RemoteQueues, RemoteSqsSources, parse_endpoints
from lambdalite.esm.sqs import SqsSources
from lambdalite.events import dead_letter
from lambdalite.events.bucket_target import bucket_target_kind, check_on_failure_only
from lambdalite.events.dispatcher import AsyncInvocations
from lambdalite.events.jetstream_queue import JetStreamEventQueue
from lambdalite.events.policy import RetryPolicy
from lambdalite.events.queue import EventQueue
from lambdalite.events.service_targets import service_target_kinds
from lambdalite.events.sqlite_queue import SqliteEventQueue
from lambdalite.events.targets import Targets, config_text, function_targets
from lambdalite.http import HttpRequest, HttpServer, Limits
from lambdalite.http.tls import TlsConfigError, server_context
from lambdalite.models import FunctionConfig
from lambdalite.observe.audit import AuditLog
from lambdalite.observe.audit_api import Auditor
from lambdalite.observe.logs import LogStore
from lambdalite.runtimes import lookup, sdk
from lambdalite.sandbox import detect
from lambdalite.sandbox.namespace import NamespaceSandbox
from lambdalite.sandbox.opt import merged_opt
from lambdalite.sandbox.peers import from_environment_network, is_sandboxed, peer_uid
from lambdalite.sandbox.process import ProcessSandbox
from lambdalite.sandbox.snapstart import SnapStartSandbox
from lambdalite.sandbox.spec import Sandbox
from lambdalite.sandbox.zygote import ZygoteSandbox
from lambdalite.services.events import EventsFront
from lambdalite.services.iam import IamDirectory
from lambdalite.services.s3 import S3Front
from lambdalite.services.s3.code_source import code_reader
from lambdalite.services.s3.notifications import s3_may_invoke
from lambdalite.services.scheduler import SchedulerFront
from lambdalite.services.secretsmanager import SecretsManagerFront
from lambdalite.services.sns import SnsFront
from lambdalite.services.sqs import SqsFront
from lambdalite.services.sts import Credentials, Security, Sessions
from lambdalite.services.sts.execution_roles import MAX_ENVIRONMENT_S, ExecutionRoles
from lambdalite.store.code import CodeStore
from lambdalite.store.code_gc import CodeCollector
from lambdalite.store.functions import SealedEnvironmentError
from lambdalite.store.stores import Stores, open_sqlite

log = logging.getLogger("lambdalite")

LOG_FLUSH_INTERVAL_S = 0.2
RUNTIME_DIR = Path(lookup.__file__).resolve().parent
"""LAMBDA_RUNTIME_DIR: where our bootstraps live."""


@dataclass(slots=True)
class Services:
    settings: Settings
    logs: LogStore
    code: CodeStore
    stores: Stores
    registries: Registries
    sandbox: Sandbox
    pool: EnvironmentPool
    invoker: Invoker
    router: Router
    events: AsyncInvocations
    keys: AccessKeys
    pollers: MappingPollers | None = None

    async def close(self) -> None:
        if self.pollers is not None:
            await self.pollers.close()
        await self.events.close(grace_s=0)
        await self.invoker.close(grace_s=0)
        await self.sandbox.close()
        self.logs.close()
        self.stores.close()


def build(settings: Settings) -> Services:
    """Create every service for ``settings``; must run inside the event loop."""
    data = settings.data_dir
    data.mkdir(parents=True, exist_ok=True)
    logs = LogStore(data / "logs")
    code = CodeStore(data / "code")
    stores = open_sqlite(data / "lambdalite.db", data_box(settings))
    try:
        registries = Registries.build(stores, settings)
    except SealedEnvironmentError as exc:
        raise SystemExit(f"cannot read the functions: {exc}") from exc
    # SnapStart versions' environments are restored from their snapshots; the rest start afresh.
    snapstart = SnapStartSandbox(
        choose_sandbox(
            settings.isolation,
            data / "sandboxes",
            zygotes=settings.zygotes,
            endpoint=(_loopback_for(settings.host), settings.port),
        ),
        logs,
    )
    sandbox: Sandbox = snapstart

    roles: ExecutionRoles | None = None
    """Set below under sigv4 (it needs IAM's state); read at each cold start."""

    def layer_dirs(function: FunctionConfig) -> tuple[tuple[Path, ...], Path | None]:
        """(the layers for the sandbox, opt_dir): the unpacked layers, which the namespace
        level mounts at /opt; the process level cannot, so it gets one merged directory."""
        if not function.layers:
            return (), None
        unpacked = tuple(code.task_root(layer.code_sha256) for layer in function.layers)
        if sandbox.level == "namespace":
            return unpacked, None
        merged = merged_opt(data / "layers", unpacked)
        return (merged,), merged

    def unpack(function: FunctionConfig) -> tuple[Path, tuple[Path, ...], Path | None]:
        return (code.task_root(function.code_sha256), *layer_dirs(function))

    async def resolve_launch(function: FunctionConfig) -> RuntimeLaunch:
        # Every cold start passes here: a thread (unpacking again, merging layers)
        # only when a stat shows there is work to do.
        unpacked = None if function.layers else code.unpacked(function.code_sha256)
        paths: tuple[Path, tuple[Path, ...], Path | None]
        if unpacked is not None:
            paths = (unpacked, (), None)
        else:
            paths = await asyncio.to_thread(unpack, function)
        task_root, layers, opt_dir = paths
        try:
            command = lookup.command_for(function.runtime, task_root, settings.strict_runtimes)
        except lookup.RuntimeUnavailable as exc:
            return RuntimeLaunch((), task_root, task_root, error=(exc.error_type, str(exc)))
        network = has_network(function.environment)
        if not network and sandbox.level != "namespace":
            error = (NETWORK_UNAVAILABLE, unavailable_message(sandbox.level))
            return RuntimeLaunch((), task_root, task_root, error=error)
        return RuntimeLaunch(
            command.argv,
            task_root,
            RUNTIME_DIR,
            warning=command.warning,
            interpreter_version=command.interpreter_version,
            hidden_paths=(data,),
            extra_env=roles.variables(function) if roles is not None else None,
            layers=layers,
            opt_dir=opt_dir,
            network=network,
            own_network=network and sandbox.network.isolated,
            host_ports=host_ports(function.environment),
            endpoint_url=sandbox.network.endpoint_url or settings.endpoint,
        )

    pool = EnvironmentPool(
        sandbox=sandbox,
        logs=logs,
        resolve_launch=resolve_launch,
        region=settings.region,
        keep_alive_s=settings.keep_alive_s,
        warm_wait_s=settings.warm_wait_ms / 1000,
        max_lifetime_s=MAX_ENVIRONMENT_S if settings.auth == "sigv4" else None,
    )
    limiter = ConcurrencyLimiter(
        settings.max_concurrency,
        reserved=registries.concurrency.reservations(),
        async_share=settings.async_share,
    )
    invoker = Invoker(limiter, pool)
    targets = Targets()
    events = build_async(settings, registries, invoker, targets)
    bus = registries.bus
    bus.subscribe(ReservedConcurrencyChanged, lambda event: limiter.set_reserved(event.name, event.reserved))

    def on_provisioned(event: ProvisionedChanged) -> None:
        pool.provisioner.provision(event.config.key, event.target, event.config.requested)

    bus.subscribe(ProvisionedChanged, on_provisioned)
    for provisioned, target in registries.concurrency.provisioned_targets():
        on_provisioned(ProvisionedChanged(provisioned, target))

    # $LATEST's environment key per function, to retire exactly the snapshot a change
    # supersedes: published versions keep their warm environments, and a new RevisionId
    # that changes neither code nor configuration (tags, settling) keeps $LATEST's.
    latest_key = {
        name: config.environment_key for name, config in registries.functions.latest_configs().items()
    }

    def on_latest_change(event: LatestChanged) -> None:
        config = event.config
        previous = latest_key.get(config.name)
        latest_key[config.name] = config.environment_key
        if previous is not None and previous != config.environment_key:
            pool.in_background(pool.retire_snapshot(previous))

    def on_function_deleted(event: FunctionDeleted) -> None:
        latest_key.pop(event.name, None)
        pool.in_background(pool.retire(event.name))

    def on_version_published(event: VersionPublished) -> None:
        if restores_from_snapshot(event.config):
            pool.in_background(pool.prepare(event.config))

    bus.subscribe(VersionPublished, on_version_published)
    bus.subscribe(VersionRemoved, lambda event: snapstart.forget(event.config.name, event.config.version))
    bus.subscribe(FunctionDeleted, lambda event: snapstart.forget(event.name))
    bus.subscribe(LatestChanged, on_latest_change)
    bus.subscribe(FunctionDeleted, on_function_deleted)
    # Pending -> Active and InProgress -> Successful once the code is unpacked and its layers merged.
    StateSettler(
        registries.functions,
        bus,
        lambda function: asyncio.to_thread(unpack, function),
        settings.state_settle_s,
    )
    bus.subscribe(
        VersionRemoved, lambda event: pool.in_background(pool.retire_snapshot(event.config.environment_key))
    )
    if stores.objects is not None:
        validation.read_code_from(code_reader(stores.objects))
    try:
        box = SecretBox.open(data / "secrets.key")
        keys = AccessKeys(stores.access_keys, box, settings.account_id)
        sessions = Sessions(stores.iam, box, settings.account_id)
    except SecretBoxError as exc:
        raise SystemExit(f"cannot read the access keys: {exc}") from exc
    directory = IamDirectory(stores.iam, settings.account_id)
    sigv4 = settings.auth == "sigv4"
    security = Security(
        directory, sessions, Authorizer(directory) if sigv4 else None, settings.session_duration_scale
    )
    # Under sigv4 each environment acts with its function's execution role (None: no credentials).
    if sigv4:
        roles = ExecutionRoles(sessions, directory)
    router = Router(
        # Code.Location links are signed with the data directory's key; sigv4 requires them.
        LambdaApi(settings, registries, code, invoker, events, CodeLinks(box, required=sigv4)),
        code,
        logs,
        settings.region,
        settings.account_id,
        queues=stores.queues,
        objects=stores.objects,
        secrets=stores.secrets,
        topics=stores.topics,
        buses=stores.buses,
        schedules=stores.schedules,
        scheduler=stores.scheduler,
        keys=keys,
        verifier=Verifier(Credentials(keys, sessions), region=settings.region) if sigv4 else None,
        security=security,
    )
    # Queues, topics and buses are destinations once the router has built their services.
    reach = siblings(router.services, settings.region, settings.account_id, events)
    for service, kind in service_target_kinds(reach).items():
        targets.register(service, kind)
    s3 = router.services.get("s3")
    if isinstance(s3, S3Front):
        s3.notify_through(targets, reach, s3_policy_check(registries) if settings.auth == "sigv4" else None)
        # A bucket is an OnFailure destination (AWS writes only failure records to buckets).
        targets.register("s3", bucket_target_kind(lambda: s3.service, s3.service.clock.now))
    pollers = build_pollers(settings, stores, registries, invoker, router, targets)
    return Services(
        settings, logs, code, stores, registries, sandbox, pool, invoker, router, events, keys, pollers
    )


def build_pollers(
    settings: Settings,
    stores: Stores,
    registries: Registries,
    invoker: Invoker,
    router: Router,
    targets: Targets,
) -> MappingPollers:
    """The event source mappings' pollers: queues of the SQS service the router
    serves (when it does) and of the endpoints ``settings.sqs_endpoints`` names,
    Redis streams and JetStream streams."""
    sqs = router.services.get("sqs")
    service = sqs.service if isinstance(sqs, SqsFront) else None
    secrets = router.services.get("secretsmanager")
    mappings = registries.mappings
    region, account = settings.region, settings.account_id
    checks: dict[str, SourceCheck] = {
        "redis": RedisSources(region, account, targets),
        "nats": NatsSources(region, account, targets),
        "mq": RabbitSources(region, account),
    }
    endpoints = parse_endpoints(settings.sqs_endpoints)
    remote = RemoteQueues(endpoints) if endpoints else None
    if service is not None or remote is not None:
        checks["sqs"] = SqsSources(service, None if remote is None else RemoteSqsSources(remote))
    mappings.source_check = SourceChecks(checks)
    return MappingPollers(
        mappings,
        registries.functions,
        invoker,
        service,
        stores.queues,
        SystemClock(),
        settings.region,
        settings.account_id,
        streams=StreamSettings(
            {
                "redis": redis_broker(settings.redis_url, region, account),
                "nats": nats_broker(settings.nats_url, region, account),
            },
            stores.mappings,
            targets,
        ),
        remote=remote,
        rabbitmq=RabbitMq(
            settings.rabbitmq_url, secrets.service if isinstance(secrets, SecretsManagerFront) else None
        ),
    )


def s3_policy_check(registries: Registries) -> Callable[[str, str], bool]:
    """Whether a function's resource policy lets S3 invoke it for a bucket (ARN, bucket)."""

    def may_invoke(arn: str, bucket: str) -> bool:
        parts = arn.split(":")
        name, qualifier = parts[6], (parts[7] if len(parts) > 7 else None)
        try:
            policy = registries.policies.policy(name, qualifier)
        except LambdaError:
            return False
        return s3_may_invoke([dict(s) for s in policy.statements], bucket)

    return may_invoke


def route_namer(router: Router) -> Callable[[HttpRequest], str]:
    """The name of the route (``lambda``, ``sqs``, ``keys``...) that serves a request ("" for none)."""
    names = {id(service): name for name, service in router.services.items()}

    def route_of(request: HttpRequest) -> str:
        try:
            return names.get(id(router.service_for(request)), "")
        except UnknownOperation:
            return ""

    return route_of


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    """The public port's TLS context (None: plain HTTP); exits saying what is wrong."""
    if not settings.tls_cert and not settings.tls_key:
        return None
    if not (settings.tls_cert and settings.tls_key):
        raise SystemExit("--tls-cert and --tls-key go together: give both, or neither")
    try:
        return server_context(Path(settings.tls_cert), Path(settings.tls_key))
    except TlsConfigError as exc:
        raise SystemExit(str(exc)) from exc


def data_box(settings: Settings) -> SecretBox:
    """The key that seals the functions' variables: the operator's (``LAMBDALITE_DATA_KEY``)
    or the data directory's owner-only ``secrets.key``."""
    try:
        if settings.data_key:
            return SecretBox.from_text(settings.data_key)
        return SecretBox.open(settings.data_dir / "secrets.key")
    except SecretBoxError as exc:
        raise SystemExit(f"cannot use the data key: {exc}") from exc


def build_async(
    settings: Settings, registries: Registries, invoker: Invoker, targets: Targets | None = None
) -> AsyncInvocations:
    """The asynchronous invocation service: its durable queue (``events.db``), its
    retry policy (scaled by ``--retry-delay-scale``) and the destination targets."""
    clock = SystemClock()
    targets = targets or Targets()
    functions = registries.functions
    reservations = registries.concurrency.reservations()
    queue: EventQueue
    if settings.queue.startswith("nats://"):
        queue = JetStreamEventQueue(settings.queue, clock)
    elif settings.queue:
        raise SystemExit(
            f"unknown --queue {settings.queue!r}: use nats://HOST:PORT[/STREAM], or none for SQLite"
        )
    else:
        queue = SqliteEventQueue(settings.data_dir / "events.db", clock)
    events = AsyncInvocations(
        queue,
        invoker,
        functions,
        registries.event_invoke,
        reservations.get,
        targets,
        clock,
        RetryPolicy(settings.retry_delay_scale),
        dead_letter_arn=dead_letter.lookup(functions.get),
        max_in_flight=settings.async_max_in_flight,
    )
    targets.register(
        "lambda", function_targets(functions.exists, settings.region, settings.account_id, events.accept)
    )

    def destination_check(arn: str, name: str, config: Mapping[str, object]) -> None:
        check_on_failure_only(config)
        targets.check_destination(arn, name, config_text(config))

    registries.event_invoke.destination_check = destination_check
    functions.dead_letter_check = lambda arn: dead_letter.check_target(arn, settings.region, targets)
    return events


def choose_sandbox(
    isolation: str, scratch: Path, *, zygotes: bool = True, endpoint: tuple[str, int] | None = None
) -> Sandbox:
    """The sandbox for ``--isolation``: process, namespace (refused when the host
    cannot), or auto (namespace where possible); with ``zygotes``, Python
    environments of either level are forked from pre-initialised interpreters."""
    level: ProcessSandbox | NamespaceSandbox
    if isolation == "process":
        level = ProcessSandbox(scratch)
    elif isolation not in {"auto", "namespace"}:
        raise SystemExit(f"unknown isolation level {isolation!r}: use process, namespace or auto")
    else:
        level, facts = detect.choose_sandbox(
            scratch, shared_paths=lookup.interpreter_prefixes(), endpoint=endpoint
        )
        if isolation == "namespace" and facts.level != "namespace":
            raise SystemExit(f"namespace isolation is not available here: {facts.reason}")
    if zygotes:
        return ZygoteSandbox(level, bootstrap=lookup.PYTHON_BOOTSTRAP)
    return level


def _from_a_function(connection: socket.socket) -> bool:
    """Is the other end of this connection a function's process? A function
    with the host's network can reach our port, one with a namespace of its own
    our endpoint (``sandbox.netns``); it must not drive the API."""
    if from_environment_network(connection):
        return True
    uid = peer_uid(connection)
    return uid is not None and is_sandboxed(uid)


def _loopback_for(host: str) -> str:
    """The IPv4 address of our listener that environments' endpoint traffic is translated to."""
    return "127.0.0.1" if host in {"0.0.0.0", "::", "", "localhost", "127.0.0.1"} else host


def referenced_code(stores: Stores, pool: EnvironmentPool) -> set[str]:
    """The hex sha256 of every code package in use: of each function version
    (``$LATEST`` included) and its layers, of each layer version, and of each
    environment running or starting (an older revision may still be draining)."""
    in_use: set[str] = set()
    configs = [*stores.functions.all_versions(), *(env.function for env in pool.environments())]
    for config in configs:
        in_use.add(config.code_sha256)
        in_use.update(layer.code_sha256 for layer in config.layers)
    in_use.update(layer.code_sha256 for layer in stores.layers.all_layer_versions())
    return in_use


async def _flush_logs_forever(logs: LogStore) -> None:
    while True:
        await asyncio.sleep(LOG_FLUSH_INTERVAL_S)
        logs.flush()


def http_limits(settings: Settings) -> Limits:
    """The public port's HTTP bounds (a timeout of 0 or less is off)."""
    return Limits(
        head_timeout_s=settings.http_head_timeout_s if settings.http_head_timeout_s > 0 else None,
        idle_timeout_s=settings.http_idle_timeout_s if settings.http_idle_timeout_s > 0 else None,
        max_head_bytes=settings.http_max_head_bytes,
        max_header_lines=settings.http_max_header_lines,
        max_connections=settings.http_max_connections,
        max_unsent_bytes=settings.http_max_unsent_bytes,
        max_queued_requests=settings.http_max_queued_requests,
        max_body=MAX_BODY,
    )


async def run(settings: Settings) -> None:
    """Serve until SIGINT/SIGTERM, then shut down in order (see the module docstring).
    A second signal skips the grace period."""
    check_exposure(settings.auth, settings.host)
    tls = tls_context(settings)
    services = build(settings)
    services.pool.start_housekeeping()
    services.events.start()
    if services.pollers is not None:
        services.pollers.start()
    # The schedule timers and retries of EventBridge rules and Scheduler; SNS resumes its HTTP(S) deliveries.
    timed = [
        front
        for front in services.router.services.values()
        if isinstance(front, EventsFront | SchedulerFront | SnsFront)
    ]
    for front in timed:
        front.start()
    flusher = asyncio.ensure_future(_flush_logs_forever(services.logs))
    collector = CodeCollector(
        services.code,
        lambda: referenced_code(services.stores, services.pool),
        grace_s=settings.code_gc_grace_s,
    )
    collecting = asyncio.ensure_future(collector.run_forever(settings.code_gc_interval_s))
    audit_log = AuditLog(settings.data_dir / "audit.db", settings.audit_max_records)
    auditor = Auditor(
        services.router.handle,
        route_namer(services.router),
        audit_log,
        services.router.verifier,
    )
    server = HttpServer(
        auditor.handle,
        http_limits(settings),
        # Under sigv4 a function signs with its role's credentials and policies decide;
        # under none nothing is authorized, so functions are refused outright.
        refuse_peer=None if settings.auth == "sigv4" else _from_a_function,
        error_answer=layer_error,
        stream_route=services.router.stream_route,
    )
    # The key exists (and its file is written) before anyone can connect.
    key_line = (
        ensure_admin_key(services.keys, settings.data_dir, os.environ) if settings.auth == "sigv4" else None
    )
    await server.start(settings.host, settings.port, tls=tls)
    # What start-up built lives as long as the server: out of the collector's sight,
    # so that a full collection walks only what requests made since. With botocore's
    # models and the registries in view, one took about 100 ms of the loop (the accept
    # burst's p99 went from about 90 ms to 11 ms with this).
    gc.freeze()
    print(f"function URLs: {services.router.function_urls.base.url('<url-id>')}", flush=True)
    print(f"network of functions: {services.sandbox.network.summary}", flush=True)
    if key_line is not None:
        print(f"auth: sigv4; {key_line}", flush=True)
    # Last of the start-up lines: whoever waits for it (tests, benches, scripts) has read
    # the others by then.
    print(
        f"lambdalite listening on {settings.endpoint} "
        f"(region {settings.region}, account {settings.account_id}, "
        f"isolation: {services.sandbox.level}, data: {settings.data_dir})",
        flush=True,
    )
    # The CLI finds this server through these records when it is not told an endpoint.
    local = discovery.client_endpoint(settings.host, settings.port).replace("http:", f"{settings.scheme}:", 1)
    published = discovery.publish(local, settings.data_dir)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
        stop.clear()
        services.router.quiesce()
        grace = asyncio.ensure_future(server.shutdown(settings.shutdown_grace_s))
        hurry = asyncio.ensure_future(stop.wait())
        await asyncio.wait({grace, hurry}, return_when=asyncio.FIRST_COMPLETED)
        if not grace.done():
            await server.shutdown(0)
        else:
            # Running asynchronous invocations get the same grace (those cut off run
            # again after the next start).
            draining = asyncio.ensure_future(services.events.drain())
            await asyncio.wait(
                {draining, hurry}, timeout=settings.shutdown_grace_s, return_when=asyncio.FIRST_COMPLETED
            )
            draining.cancel()
        hurry.cancel()
    finally:
        discovery.withdraw(published)
        for sig in signals:
            loop.remove_signal_handler(sig)
        flusher.cancel()
        collecting.cancel()
        for front in timed:
            await front.close()
        await services.close()
        audit_log.close()
        print("lambdalite stopped", flush=True)


def serve(settings: Settings) -> None:
    """Serve until SIGINT/SIGTERM (blocking)."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for status in sdk.status():
        if not status.installed:
            # Never silently missing: functions would fail to import the SDK.
            logging.getLogger("lambdalite").warning("%s", status.line())
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux and macOS
        runner = asyncio.run
    else:
        runner = uvloop.run
    with contextlib.suppress(KeyboardInterrupt):
        runner(run(settings))
    sys.stdout.flush()
