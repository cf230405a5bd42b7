"""One execution environment: a runtime process that serves one invocation at a time.

State changes only through ``_move``::

    STARTING -> READY -> BUSY -> READY ... -> STOPPED

The environment is the Runtime API's handler for its own listener, so the
events it hands out and the responses it receives never cross to another
environment. It owns its process, its listener and its log stream, and
releases all three in ``stop()`` on every path.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import math
import os
import signal
import socket
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple, Protocol

import orjson

from lambdalite.dataplane import runtime_api
from lambdalite.dataplane.output import OutputSplitter
from lambdalite.dataplane.runtime_channel import RuntimeChannel, open_channel
from lambdalite.dataplane.runtime_env import Placement, runtime_environment, runtime_path
from lambdalite.errors import InvalidTransition
from lambdalite.models import FunctionConfig, Invocation, InvocationResult
from lambdalite.observe import report
from lambdalite.observe.billing import Billing, bill
from lambdalite.observe.platform_log import PlatformLog
from lambdalite.runtimes import sdk
from lambdalite.sandbox.peers import peer_uid
from lambdalite.sandbox.spec import RUNTIME_API_PORT, Sandbox, SandboxedProcess, SandboxSpec

INIT_TIMEOUT_S = 10.0
"""AWS gives the init phase of an on-demand environment 10 seconds."""
PEAK_REFRESH_S = 0.05
NETWORK_UNAVAILABLE = "Sandbox.NetworkIsolationUnavailable"
"""The init error of a function without network on a level that cannot give it one."""
UNHANDLED = "Unhandled"
ON_DEMAND = "on-demand"
PROVISIONED = "provisioned-concurrency"
SNAP_START = "snap-start"
"""AWS_LAMBDA_INITIALIZATION_TYPE values. A provisioned environment is started
ahead of any invocation: no invocation waits for its init, so REPORT never
shows an Init Duration for it."""

_TIMER_SLACK_S = 0.001
"""A loop timer may fire up to a millisecond early (uvloop counts whole ms)."""

_SIGNAL_NAMES = {
    signal.SIGKILL: "killed",
    signal.SIGSEGV: "segmentation fault",
    signal.SIGABRT: "aborted",
    signal.SIGTERM: "terminated",
    signal.SIGBUS: "bus error",
    signal.SIGILL: "illegal instruction",
    signal.SIGFPE: "floating point exception",
}


class LogSink(Protocol):
    def append(self, group: str, stream: str, events: Sequence[tuple[int, str]]) -> None: ...

    def prepare(self, group: str, stream: str) -> None:
        """Create the stream now, so that the first ``append`` is cheap."""


class EnvState(enum.Enum):
    STARTING = "starting"
    READY = "ready"
    BUSY = "busy"
    STOPPED = "stopped"

    # Members are singletons: identity hashing (in C) instead of Enum's hash of the
    # name (in Python), which every transition's lookups paid twice per invocation.
    __hash__ = object.__hash__


_NEXT = {
    EnvState.STARTING: {EnvState.READY, EnvState.STOPPED},
    EnvState.READY: {EnvState.BUSY, EnvState.STOPPED},
    EnvState.BUSY: {EnvState.READY, EnvState.STOPPED},
    EnvState.STOPPED: set(),
}


@dataclass(frozen=True, slots=True)
class RuntimeLaunch:
    """How to start the runtime: argv run in ``task_root``, and an optional
    warning to write into the function's log (e.g. a substituted interpreter)."""

    argv: tuple[str, ...]
    task_root: Path
    runtime_dir: Path
    warning: str | None = None
    extra_env: Mapping[str, str] | None = None
    error: tuple[str, str] | None = None
    """(errorType, errorMessage) when the runtime cannot be started at all."""
    hidden_paths: tuple[Path, ...] = ()
    """Host directories the function must not see (the platform's data directory)."""
    layers: tuple[Path, ...] = ()
    """The function's unpacked layers, in order, for the sandbox to show merged at /opt."""
    interpreter_version: str | None = None
    """The version of ``argv[0]`` when it is the runtime's interpreter (``3.12.3``):
    INIT_START names the runtime version from it (``observe.report.runtime_version``)."""
    network: bool = True
    """False: the function runs without network (``control.network``), and the
    Runtime API is served inside its own network namespace."""
    own_network: bool = False
    """With ``network``: a network namespace of its own (``SandboxSpec.own_network``),
    with the Runtime API served inside it as without network."""
    host_ports: tuple[int, ...] = ()
    """The host's loopback ports opened to it (``control.network``)."""
    endpoint_url: str = ""
    """lambdalite's endpoint as the function reaches it: AWS_ENDPOINT_URL."""
    opt_dir: Path | None = None
    """Where the layers are for a level that cannot mount them at /opt (process level:
    one merged host directory, see ``sandbox.opt``); None: at /opt.

    Difference from AWS: at that level the layers are not at /opt. The runtime finds
    them through LAMBDALITE_OPT (our Python bootstrap puts ``<opt>/python`` and
    ``<opt>/python/lib/pythonX.Y/site-packages`` on sys.path), NODE_PATH
    (``<opt>/nodejs/nodeN/node_modules``, ``<opt>/nodejs/node_modules``), PATH
    (``<opt>/bin``) and LD_LIBRARY_PATH (``<opt>/lib``), in AWS's order; code that
    opens ``/opt/...`` by its literal path does not find them."""


class _Outcome(NamedTuple):
    """How an invocation ended. (A tuple: one is made per invoke, and a frozen
    dataclass costs a call of object.__setattr__ per field.)"""

    payload: bytes
    function_error: str | None
    status: str | None = None
    """REPORT's Status field when the invocation did not end normally (timeout, error)."""
    error_type: str | None = None


def exit_description(returncode: int | None) -> str:
    """Go-style wording AWS uses: ``exit status 1`` or ``signal: killed``."""
    if returncode is None:
        return "signal: killed"
    if returncode < 0:
        try:
            name = _SIGNAL_NAMES.get(signal.Signals(-returncode), signal.Signals(-returncode).name.lower())
        except ValueError:
            name = f"signal {-returncode}"
        return f"signal: {name}"
    return f"exit status {returncode}"


def log_stream_name(version: str, env_id: str) -> str:
    """AWS's stream naming: ``2024/01/31/[$LATEST]<32 hex>``."""
    return f"{datetime.now(UTC):%Y/%m/%d}/[{version}]{env_id}"


class ExecutionEnvironment:
    """Runs ``function`` in one sandboxed runtime process."""

    def __init__(
        self,
        function: FunctionConfig,
        launch: RuntimeLaunch,
        *,
        sandbox: Sandbox,
        logs: LogSink,
        region: str,
        on_stopped: Callable[[ExecutionEnvironment], None] | None = None,
        initialization_type: str = ON_DEMAND,
    ) -> None:
        self.id = uuid.uuid4().hex
        self.initialization_type = initialization_type
        self.function = function
        self._platform = PlatformLog.for_function(function)
        """The platform's wording and the log-level filters of the function's LoggingConfig."""
        self.state = EnvState.STARTING
        self.log_stream = log_stream_name(function.version, self.id)
        self._log_group = function.log_group
        self.last_used = time.monotonic()
        self.retired = False
        """Set when newer code/configuration exists: stop instead of returning to the pool."""
        self._launch = launch
        self._sandbox = sandbox
        self._logs = logs
        self._region = region
        self._on_stopped = on_stopped
        self._loop = asyncio.get_running_loop()
        self._server: asyncio.Server | None = None
        self._process: SandboxedProcess | None = None
        self._sandbox_uid: int | None = None
        """The runtime's own uid: the only peer the Runtime API serves (None: anyone local)."""
        self._output: OutputSplitter | None = None
        self._exit_watch: asyncio.Task[None] | None = None
        self._parked: runtime_api.RuntimeApiConnection | RuntimeChannel | None = None
        """Where the runtime waits for its next event: its Runtime API connection, or its channel."""
        self._channel: RuntimeChannel | None = None
        """Our own bootstraps' door (``runtime_channel``); None for any other runtime."""
        self._ready: asyncio.Future[_Outcome | None] = self._loop.create_future()
        self._told_settled = False
        """The sandbox was told that the first invocation is over (``start_settled``)."""
        self._init_failure: _Outcome | None = None
        self._out_of_memory = False
        self._peak_mb = 0
        self._peak_read_at = -math.inf
        """The highest peak resident memory seen, kept for REPORT after the process is gone."""
        self._init_ms: float | None = None
        self._current: Invocation | None = None
        self._pending_event: runtime_api.RuntimeEvent | None = None
        self._result: asyncio.Future[_Outcome] | None = None
        self._deadline = math.inf
        """The loop time at which the invocation in progress times out (inf: none)."""
        self._watchdog: asyncio.TimerHandle | None = None
        """At most one timer per environment, re-armed only when it fires early
        (``_on_watchdog``): a timer made and cancelled per invocation costs more."""
        self._events: list[tuple[int, str]] = []
        self._init_events: list[tuple[int, str]] = []
        """Output of the init phase: logged when init ends, or shown with its failure."""

    # -- lifecycle ----------------------------------------------------------
    def _move(self, to: EnvState) -> None:
        if to not in _NEXT[self.state]:
            raise InvalidTransition(f"environment {self.id}: {self.state.value} -> {to.value}")
        self.state = to

    async def start(self) -> bool:
        """Start the runtime and wait for its first /next. True when READY;
        otherwise the environment is STOPPED and ``fail_invocation`` reports why."""
        started = time.perf_counter()
        # AWS opens every environment's stream with INIT_START; writing it now
        # also creates the stream before the first invocation needs it.
        self._init_events.extend(
            self._platform.init_start(
                _now_ms(), self._runtime_version(), self.function, self.initialization_type
            )
        )
        if self._launch.warning:
            self._log_now([self._launch.warning])
        if self._launch.error is not None:
            self._init_failure = _error_outcome(*self._launch.error, "error")
            await self.stop()
            return False
        network = self._launch.network
        # With the host's network: served only once the sandbox has said which uid is
        # the runtime's. Without, or with its own: the sandbox makes it inside.
        inside = not network or self._own_network
        listener = runtime_api.open_listener() if not inside else None
        port = listener.getsockname()[1] if listener is not None else RUNTIME_API_PORT
        theirs = self._open_channel()
        try:
            self._process = await self._sandbox.start(self._sandbox_spec(port, network, theirs))
        except BaseException as exc:
            if listener is not None:
                listener.close()
            if not isinstance(exc, OSError):
                self._close_listener()
                raise
            self._init_failure = _error_outcome(
                "Runtime.InvalidEntrypoint", f"Couldn't start the runtime: {exc.strerror or exc}", "error"
            )
            await self.stop()
            return False
        finally:
            # The runtime has its own copies now (or never will).
            for fd in theirs:
                os.close(fd)
        if self._restored and not hasattr(self._process, "snapshot_ms"):
            # The sandbox could not restore it from a snapshot: an ordinary init after all.
            self.initialization_type = ON_DEMAND
            self._init_events[0] = (self._init_events[0][0], report.init_start_line(self._runtime_version()))
        if not inside:
            self._sandbox_uid = self._process.sandbox_uid
        else:
            # Only the function's own processes share its network namespace.
            listener = self._process.runtime_api_listener
            if listener is None:  # a level that cannot take the network away: fail closed
                message = f"The {self._sandbox.level} isolation level cannot run a function without network."
                if network:
                    message = f"The {self._sandbox.level} isolation level gave no network namespace."
                self._init_failure = _error_outcome(NETWORK_UNAVAILABLE, message, "error")
                await self.stop()
                return False
        assert listener is not None
        self._server = await runtime_api.listen(self, listener)
        self._output = OutputSplitter(self._process.output_fd)
        self._loop.add_reader(self._process.output_fd, self._on_output)
        self._exit_watch = asyncio.ensure_future(self._watch_exit())
        # The runtime is importing its handler: the loop has time for the stream's
        # files now, which the first log write after READY would otherwise create.
        self._logs.prepare(self.function.log_group, self.log_stream)
        timeout = max(INIT_TIMEOUT_S, float(self.function.timeout_s))
        try:
            failure = await asyncio.wait_for(asyncio.shield(self._ready), timeout)
        except TimeoutError:
            failure = _error_outcome(
                "Runtime.Unknown", f"Init timed out after {timeout:.2f} seconds", "timeout"
            )
        # A restore that had to wait for its snapshot to be made counts the restore only.
        snapshot_ms = float(getattr(self._process, "snapshot_ms", 0.0))
        self._init_ms = (time.perf_counter() - started) * 1000 - snapshot_ms
        if failure is not None:
            self._init_failure = failure
            await self.stop()
            return False
        self._drain_output()
        self._move(EnvState.READY)
        self._flush_init_events()
        if self.initialization_type == PROVISIONED:
            self._init_ms = None
        return True

    def _flush_init_events(self) -> None:
        events, self._init_events = self._init_events, []
        if events:
            self._logs.append(self.function.log_group, self.log_stream, events)

    def fail_invocation(self, invocation: Invocation) -> InvocationResult:
        """The result of an invocation that this environment could not serve
        because its start failed: AWS's error body, and the log lines for it."""
        outcome = self._init_failure or _error_outcome("Runtime.Unknown", "Unknown error", "error")
        if outcome.error_type == "Runtime.ExitError":
            # AWS names the invocation the failed init was serving.
            message = orjson.loads(outcome.payload)["errorMessage"]
            outcome = _error_outcome(
                outcome.error_type, f"RequestId: {invocation.request_id} Error: {message}", "error"
            )
        self._drain_output()
        before, self._init_events = self._init_events, []
        self._events = []
        # Nothing ran: no duration to bill (an init that timed out included).
        return self._finish(invocation, outcome, bill(0.0), self._init_ms, _now_ms(), before)

    async def stop(self) -> None:
        """Kill the runtime and everything it started; close the listener. Idempotent."""
        if self.state is not EnvState.STOPPED:
            self._move(EnvState.STOPPED)
        if self._process is not None:
            self._process.kill_tree()
        if self._exit_watch is not None and self._exit_watch is not asyncio.current_task():
            with contextlib.suppress(asyncio.CancelledError):
                await self._exit_watch
        self._close_listener()

    def _open_channel(self) -> tuple[int, ...]:
        """Our own bootstraps get a channel beside the Runtime API (``runtime_channel``):
        the runtime's ends of it, to pass (none for any other runtime)."""
        if not _speaks_channel(self._launch):
            return ()
        ours, theirs = open_channel()
        self._channel = RuntimeChannel(self._loop, self, *ours)
        return theirs

    def _close_listener(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if self._parked is not None:
            self._parked.close()
            self._parked = None
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        if self._server is not None:
            self._server.close()
            self._server = None

    async def _watch_exit(self) -> None:
        assert self._process is not None
        process = self._process
        returncode = await process.wait()
        if process.out_of_memory():
            self._out_of_memory = True
            self._peak_mb = max(self._peak_mb, self.function.memory_mb)
        # Make sure every descendant is gone too, then collect the last output.
        process.kill_tree()
        self._drain_output()
        if self._output is not None:
            self._route_output(self._output.flush_partial(final=True))
        # Forget the splitter before closing its descriptor: the number may be
        # reused at once by another environment's pipe.
        self._output = None
        self._loop.remove_reader(process.output_fd)
        os.close(process.output_fd)
        await process.stop()
        reason = exit_description(returncode)
        if not self._ready.done():
            self._ready.set_result(
                _error_outcome("Runtime.ExitError", f"Runtime exited with error: {reason}", status="error")
            )
        if self._result is not None and not self._result.done() and self._current is not None:
            message = f"RequestId: {self._current.request_id} Error: Runtime exited with error: {reason}"
            outcome = _error_outcome("Runtime.ExitError", message, status="error")
            if self._out_of_memory:
                outcome = outcome._replace(error_type="Runtime.OutOfMemory")
            self._result.set_result(outcome)
        if self.state is not EnvState.STOPPED:
            self._move(EnvState.STOPPED)
        self._close_listener()
        if self._on_stopped is not None:
            self._on_stopped(self)

    # -- invoking -----------------------------------------------------------
    async def invoke(self, invocation: Invocation) -> InvocationResult:
        """Run one invocation. READY -> BUSY -> READY, or STOPPED when the
        runtime timed out or died (the result then says so, as AWS would)."""
        self._move(EnvState.BUSY)
        cold_init_ms, self._init_ms = self._init_ms, None
        function = self.function
        self._current = invocation
        self._events = []  # the function's output during the invocation (START is written with END)
        result: asyncio.Future[_Outcome] = self._loop.create_future()
        self._result = result
        start_ms = _now_ms()
        self._deliver(invocation, start_ms + function.timeout_s * 1000)
        started = time.perf_counter()
        deadline = self._loop.time() + function.timeout_s
        watchdog = self._watchdog
        if watchdog is None or watchdog.when() > deadline:
            self._arm_watchdog(deadline)
        else:
            self._deadline = deadline  # the timer there fires first and re-arms itself (_on_watchdog)
        try:
            outcome = await result
        finally:
            self._deadline = math.inf
            self._current = None
            self._result = None
        duration_ms = (time.perf_counter() - started) * 1000
        # A timeout bills exactly the configured timeout, whenever it was noticed.
        timed_out = function.timeout_s if outcome.status == "timeout" else None
        billing = bill(duration_ms, timed_out_after_s=timed_out)
        if outcome.status is not None:
            # A timeout or an exit: what the runtime wrote until now is this
            # invocation's. (After a posted response ``_on_output`` has read it.)
            self._drain_output()
        self.last_used = now = time.monotonic()
        if self._process is not None and not self._told_settled:
            self._told_settled = True
            # After this step of the task, which writes the invocation's answer.
            self._loop.call_soon(self._process.start_settled)
        return self._finish(invocation, outcome, billing, cold_init_ms, start_ms, now=now)

    def _finish(
        self,
        invocation: Invocation,
        outcome: _Outcome,
        billing: Billing,
        init_ms: float | None,
        start_ms: int,
        before: list[tuple[int, str]] | None = None,
        *,
        now: float | None = None,
    ) -> InvocationResult:
        """Log the invocation (``before``: events that precede its START) and return its
        result; ``now``: the monotonic clock, when the caller has just read it."""
        function = self.function
        platform = self._platform
        output, self._events = self._events, []
        if self._output is not None:
            partial = self._output.flush_partial()
            if partial:
                output.extend(platform.application(partial))
        events = platform.invocation(
            start_ms,
            _now_ms(),
            invocation.request_id,
            function.version,
            output,
            billing,
            memory_size_mb=function.memory_mb,
            max_memory_used_mb=self._peak_memory_mb(now),
            timeout_s=function.timeout_s,
            produced_bytes=len(outcome.payload),
            init_ms=init_ms,
            restored=self._restored,
            status=outcome.status,
            error_type=outcome.error_type,
            function_error=outcome.function_error is not None,
        )
        if before:
            events = [*before, *events]
        self._logs.append(self._log_group, self.log_stream, events)
        if self.state is EnvState.BUSY:
            self._move(EnvState.READY)
        # By position (payload, function_error, log_events, executed_version): one per invoke.
        return InvocationResult(outcome.payload, outcome.function_error, events, function.version)

    def _deliver(self, invocation: Invocation, deadline_ms: int) -> None:
        event: runtime_api.RuntimeEvent = (
            invocation.request_id,
            deadline_ms,
            invocation.invoked_arn,
            invocation.trace_id,  # the Invoker's: the caller's trace continued (observe.tracing)
            invocation.client_context,
            invocation.cognito_identity,
            invocation.payload,
        )
        parked, self._parked = self._parked, None
        if parked is None or not parked.send_event(*event):
            self._pending_event = event

    def _arm_watchdog(self, deadline: float) -> None:
        """Time out the invocation in progress at ``deadline`` (loop time). The
        timer left by an earlier invocation stays when it fires no later than
        that: it then re-arms itself for the deadline in force."""
        self._deadline = deadline
        watchdog = self._watchdog
        if watchdog is None or watchdog.when() > deadline:
            if watchdog is not None:
                watchdog.cancel()
            self._watchdog = self._loop.call_at(deadline, self._on_watchdog)

    def _on_watchdog(self) -> None:
        self._watchdog = None
        if self._deadline == math.inf or self.state is EnvState.STOPPED:
            return  # no invocation in progress: the next one arms a new timer
        if self._loop.time() + _TIMER_SLACK_S < self._deadline:
            self._watchdog = self._loop.call_at(self._deadline, self._on_watchdog)
            return
        if self._current is not None:
            self._on_timeout(self._current)

    def _on_timeout(self, invocation: Invocation) -> None:
        if self._result is None or self._result.done():
            return
        message = (
            f"RequestId: {invocation.request_id} Error: "
            f"Task timed out after {self.function.timeout_s:.2f} seconds"
        )
        self._result.set_result(_error_outcome("Sandbox.Timedout", message, status="timeout"))
        # The runtime may be stuck anywhere: the only safe continuation is a new environment.
        self._move(EnvState.STOPPED)
        if self._process is not None:
            self._process.kill_tree()

    def kill_for_memory(self) -> None:
        """The runtime went past MemorySize: end it like the kernel's OOM killer
        would. The caller still sees Runtime.ExitError (``signal: killed``);
        REPORT names the cause, Runtime.OutOfMemory, as AWS's platform does."""
        self._out_of_memory = True
        self._peak_mb = max(self._peak_mb, self.function.memory_mb)
        if self._process is not None:
            self._process.kill_tree()

    # -- Runtime API handler ------------------------------------------------
    def on_next(self, connection: runtime_api.RuntimeApiConnection | RuntimeChannel) -> None:
        if self.state is EnvState.STARTING and not self._ready.done():
            self._ready.set_result(None)
        event, self._pending_event = self._pending_event, None
        if event is not None and connection.send_event(*event):
            return
        self._parked = connection

    def on_response(self, request_id: str, body: bytes) -> tuple[int, bytes]:
        return self._complete(request_id, _Outcome(body, None))

    def on_response_too_large(self, request_id: str) -> tuple[int, bytes]:
        limit = runtime_api.MAX_RESPONSE_BYTES
        outcome = _error_outcome(
            "Function.ResponseSizeTooLarge",
            f"Response payload size exceeded maximum allowed payload size ({limit} bytes).",
        )
        status, _ = self._complete(request_id, outcome)
        if status != 202:
            return status, _
        return 413, runtime_api.error_body(
            "RequestEntityTooLarge", f"Exceeded maximum allowed payload size ({limit} bytes)."
        )

    def on_error(self, request_id: str, body: bytes, error_type: str | None) -> tuple[int, bytes]:
        return self._complete(request_id, _Outcome(_error_payload(body, error_type), UNHANDLED))

    def accepts_peer(self, connection: socket.socket) -> bool:
        """With the host's network, any local process can reach this listener:
        serve only the environment's own uid when the level gives it one (a
        function scanning loopback ports must not take another's events)."""
        return self._sandbox_uid is None or peer_uid(connection) == self._sandbox_uid

    def on_init_error(self, body: bytes, error_type: str | None) -> tuple[int, bytes]:
        if self.state is not EnvState.STARTING:
            return 403, runtime_api.error_body("InvalidStateTransition", "State transition is not allowed")
        payload = _error_payload(body, error_type)
        if not self._ready.done():
            self._drain_output()
            self._ready.set_result(_Outcome(payload, UNHANDLED, "error", _error_type_of(payload)))
        return runtime_api.ACCEPTED

    def _complete(self, request_id: str, outcome: _Outcome) -> tuple[int, bytes]:
        current = self._current
        if current is None or current.request_id != request_id or self._result is None:
            return 400, runtime_api.error_body("InvalidRequestID", "Invalid request ID")
        if not self._result.done():
            # Everything the runtime wrote before this response belongs to this
            # invocation, and needs no asking here (FIONREAD): its writes made the
            # pipe readable before the response's, so the loop reports both in the
            # same poll or the pipe earlier, and ``_on_output`` reads it before
            # ``invoke`` resumes (set_result wakes it through call_soon, after
            # the poll's callbacks), while ``_current`` still names it.
            self._result.set_result(outcome)
        return runtime_api.ACCEPTED

    # -- output -------------------------------------------------------------
    def _on_output(self) -> None:
        if self._drain_output(readable=True) and self._process is not None:
            # Every writer is gone (the runtime ended, or closed its output): an
            # EOF stays readable, and would call us without end until the exit
            # watcher, which closes the descriptor, gets its turn.
            self._loop.remove_reader(self._process.output_fd)

    def _drain_output(self, *, readable: bool = False) -> bool:
        """Route what the output pipe holds (``OutputSplitter.read_available``);
        True at EOF."""
        if self._output is None:
            return False
        events, eof = self._output.read_available(readable=readable)
        if events:
            self._route_output(events)
        return eof

    def _route_output(self, events: list[tuple[int, str]]) -> None:
        """Output belongs to the invocation in progress, to the init phase, or
        straight to the log stream (a runtime printing between invocations)."""
        events = self._platform.application(events)
        if not events:
            return
        if self._current is not None:
            self._events.extend(events)
        elif self.state is EnvState.STARTING:
            self._init_events.extend(events)
        else:
            self._logs.append(self.function.log_group, self.log_stream, events)

    def _log_now(self, lines: list[str]) -> None:
        now = _now_ms()
        self._logs.append(self.function.log_group, self.log_stream, [(now, line) for line in lines])

    # -- helpers ------------------------------------------------------------
    def _sandbox_spec(self, port: int, network: bool, channel: tuple[int, ...]) -> SandboxSpec:
        function = self.function
        launch = self._launch
        spec = SandboxSpec(
            env_id=self.id,
            argv=launch.argv,
            env={},
            task_root=launch.task_root,
            runtime_dir=launch.runtime_dir,
            memory_mb=function.memory_mb,
            ephemeral_storage_mb=function.ephemeral_storage_mb,
            hidden_paths=launch.hidden_paths,
            layers=launch.layers,
            network=network,
            own_network=self._own_network,
            host_ports=launch.host_ports,
            # AWS's CPU cap (memory / 1769 vCPU) makes a 128 MB cold start four
            # times slower; a proportional weight shares the host fairly.
            cpu_limit=False,
            pass_fds=channel,
        )
        task_root, runtime_dir = self._sandbox.inside_paths(spec)
        env = self._environment_variables(port, task_root, runtime_dir, channel)
        return dataclasses.replace(spec, env=env)

    def _environment_variables(
        self, port: int, task_root: str, runtime_dir: str, channel: tuple[int, ...]
    ) -> dict[str, str]:
        placement = Placement(
            runtime_api=f"127.0.0.1:{port}",
            task_root=task_root,
            runtime_dir=runtime_dir,
            log_stream=self.log_stream,
            initialization_type=self.initialization_type,
            region=self._region,
            opt_dir=self._launch.opt_dir,
            runtime_path=runtime_path(self._launch.argv),
            sdk_python=sdk.python_sdk_path(),
            sdk_node=sdk.node_sdk_path(),
            endpoint_url=self._launch.endpoint_url,
            channel=",".join(map(str, channel)),
        )
        return runtime_environment(self.function, placement, self._launch.extra_env)

    @property
    def _own_network(self) -> bool:
        """A network namespace of its own (an environment restored from a SnapStart
        snapshot shares the snapshot's with its siblings: ``sandbox.snapstart``)."""
        return self._launch.own_network

    @property
    def _restored(self) -> bool:
        """Restored from a SnapStart snapshot (``sandbox.snapstart``)."""
        return self.initialization_type == SNAP_START

    def _runtime_version(self) -> report.RuntimeVersion:
        launch = self._launch
        interpreter = launch.argv[0] if launch.argv and launch.interpreter_version else None
        return report.runtime_version(
            self.function.runtime, self._region, interpreter, launch.interpreter_version
        )

    def _peak_memory_mb(self, now: float | None = None) -> int:
        """The peak memory REPORT shows, in MB, as the sandbox measures it
        (``SandboxedProcess.peak_memory_bytes``); the last value once the process
        is gone. Asked at most every PEAK_REFRESH_S: at thousands of invocations
        a second, /proc is not free, and a peak cannot shrink. ``now``: the
        monotonic clock, when the caller has just read it."""
        if now is None:
            now = time.monotonic()
        if self._process is not None and now - self._peak_read_at >= PEAK_REFRESH_S:
            self._peak_read_at = now
            peak = self._process.peak_memory_bytes()
            if peak is not None:
                self._peak_mb = max(self._peak_mb, math.ceil(peak / (1024 * 1024)))
        return self._peak_mb

    @property
    def memory_limited(self) -> bool:
        """Its sandbox holds it to MemorySize itself (``SandboxedProcess.memory_limited``)."""
        return self._process is not None and self._process.memory_limited

    def rss_bytes(self) -> int:
        """Current resident memory of the runtime's process tree (0 when gone)."""
        return self._process.memory_bytes() if self._process is not None else 0


_CHANNEL_BOOTSTRAPS = (("python", "bootstrap.py"), ("node", "bootstrap.js"))
"""Our own bootstraps that speak the channel: (directory under the runtime directory, file)."""


def _speaks_channel(launch: RuntimeLaunch) -> bool:
    """Does ``launch`` run one of our own bootstraps (``_CHANNEL_BOOTSTRAPS``)?"""
    if len(launch.argv) != 2:
        return False
    program = Path(launch.argv[1])
    return any(program == launch.runtime_dir / d / name for d, name in _CHANNEL_BOOTSTRAPS)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _error_outcome(error_type: str, message: str, status: str | None = None) -> _Outcome:
    payload = orjson.dumps({"errorType": error_type, "errorMessage": message})
    return _Outcome(payload, UNHANDLED, status, error_type)


def _error_type_of(payload: bytes) -> str | None:
    try:
        value = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    error_type = value.get("errorType") if isinstance(value, dict) else None
    return error_type if isinstance(error_type, str) else None


def _error_payload(body: bytes, error_type: str | None) -> bytes:
    """The error body as the caller sees it: the runtime's JSON when it sent
    JSON, otherwise AWS's wrapper around whatever it sent."""
    try:
        orjson.loads(body)
        return body
    except orjson.JSONDecodeError:
        return orjson.dumps(
            {"errorType": error_type or "Runtime.Unknown", "errorMessage": body.decode("utf-8", "replace")}
        )
