"""The composition root: the only place that picks concrete backends.

``serve(settings)`` wires the stores, the registry, the sandbox, the pool and
the HTTP surfaces together, serves until SIGINT/SIGTERM, then shuts down in
order: stop accepting, let in-flight invocations finish (bounded by
``shutdown_grace_s``), stop every environment, flush the logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from lambdalite.api.asgi import LambdaliteApp
from lambdalite.api.lambda_api import LambdaApi
from lambdalite.config import Settings
from lambdalite.control.registry import FunctionRegistry
from lambdalite.dataplane.environment import RuntimeLaunch
from lambdalite.dataplane.pool import EnvironmentPool
from lambdalite.models import FunctionConfig
from lambdalite.observe.logs import LogStore
from lambdalite.runtimes import lookup
from lambdalite.sandbox.process import ProcessSandbox
from lambdalite.store.code import CodeStore
from lambdalite.store.functions import FunctionStore

log = logging.getLogger("lambdalite")

LOG_FLUSH_INTERVAL_S = 0.2
RUNTIME_DIR = Path(lookup.__file__).resolve().parent
"""LAMBDA_RUNTIME_DIR: where our bootstraps live."""


@dataclass(slots=True)
class Services:
    settings: Settings
    logs: LogStore
    code: CodeStore
    functions: FunctionStore
    registry: FunctionRegistry
    sandbox: ProcessSandbox
    pool: EnvironmentPool
    app: LambdaliteApp

    async def close(self) -> None:
        await self.pool.close(grace_s=0)
        self.logs.close()
        self.functions.close()


def build(settings: Settings) -> Services:
    """Create every service for ``settings``; must run inside the event loop."""
    data = settings.data_dir
    data.mkdir(parents=True, exist_ok=True)
    logs = LogStore(data / "logs")
    code = CodeStore(data / "code")
    functions = FunctionStore(data / "lambdalite.db")
    registry = FunctionRegistry(functions, settings.arn_prefix())
    sandbox = ProcessSandbox(data / "sandboxes")

    async def resolve_launch(function: FunctionConfig) -> RuntimeLaunch:
        task_root = await asyncio.to_thread(code.task_root, function.code_sha256)
        try:
            command = lookup.command_for(function.runtime, task_root, settings.strict_runtimes)
        except lookup.RuntimeUnavailable as exc:
            return RuntimeLaunch((), task_root, task_root, error=(exc.error_type, str(exc)))
        return RuntimeLaunch(command.argv, task_root, RUNTIME_DIR, warning=command.warning)

    pool = EnvironmentPool(
        sandbox=sandbox,
        logs=logs,
        resolve_launch=resolve_launch,
        region=settings.region,
        max_concurrency=settings.max_concurrency,
        keep_alive_s=settings.keep_alive_s,
    )

    def on_change(name: str, config: FunctionConfig | None) -> None:
        pool.in_background(pool.retire(name, config.revision_id if config else None))

    registry.subscribe(on_change)
    app = LambdaliteApp(
        LambdaApi(settings, registry, code, pool), code, logs, settings.region, settings.account_id
    )
    return Services(settings, logs, code, functions, registry, sandbox, pool, app)


async def _flush_logs_forever(logs: LogStore) -> None:
    while True:
        await asyncio.sleep(LOG_FLUSH_INTERVAL_S)
        logs.flush()


async def run(settings: Settings) -> None:
    services = build(settings)
    services.pool.start_housekeeping()
    flusher = asyncio.ensure_future(_flush_logs_forever(services.logs))
    config = uvicorn.Config(
        services.app,
        host=settings.host,
        port=settings.port,
        loop="none",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
        timeout_graceful_shutdown=int(settings.shutdown_grace_s),
        timeout_keep_alive=75,
        backlog=4096,
    )
    server = _Server(config)
    startup = asyncio.ensure_future(_announce_when_started(server, settings, services.sandbox.level))
    try:
        await server.serve()
    finally:
        startup.cancel()
        flusher.cancel()
        await services.close()
        print("lambdalite stopped", flush=True)


class _Server(uvicorn.Server):
    """uvicorn re-raises a caught SIGINT/SIGTERM once it has shut down, which
    would kill the process before the pool stops its environments. We take the
    signals ourselves: the first starts a graceful stop, a second forces it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.handle_exit, sig, None)
        try:
            yield
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)


async def _announce_when_started(server: uvicorn.Server, settings: Settings, isolation: str) -> None:
    while not server.started:
        await asyncio.sleep(0.01)
    print(
        f"lambdalite listening on {settings.endpoint} "
        f"(region {settings.region}, account {settings.account_id}, isolation: {isolation}, "
        f"data: {settings.data_dir})",
        flush=True,
    )


def serve(settings: Settings) -> None:
    """Serve until SIGINT/SIGTERM (blocking)."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux and macOS
        runner = asyncio.run
    else:
        runner = uvloop.run
    with contextlib.suppress(KeyboardInterrupt):
        runner(run(settings))
    sys.stdout.flush()
