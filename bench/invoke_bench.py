"""How fast lambdalite invokes a function, beside bare echo servers, serverless-offline
and (``--before REF``) lambdalite as it was at another commit: all in one run.

    .venv/bin/python bench/invoke_bench.py [--quick] [--rounds N] [--before REF] [--profile]

The servers, all on loopback, started once and kept running (idle) while the
others are measured:

lambdalite
    ``python -m lambdalite serve`` from this tree, on a free port with a fresh
    data directory; a Python 3.11 ``hello`` function (``app.handler`` returning
    ``{"ok": True}``) created with boto3 and waited for with ``function_active_v2``.
lambdalite@REF (``--before REF``, or ``--baseline DIR`` for a checkout already there)
    the same, from a detached git worktree of REF (bench/worktree.py) run with
    this tree's virtualenv: "before" and "after" side by side in one run; and
    REF's own bench/echo_server.py on REF's HTTP stack, beside this tree's.
echo baselines
    bench/echo_server.py answers the same request with its body, on lambdalite's
    own HTTP stack and on uvicorn (raw ASGI, uvloop, httptools): what serving
    HTTP costs, without lambdalite's work and without the relay to an environment.
serverless-offline
    the peer, set up by /work/shared/peers/serverless-offline.sh and started with
    ``sls offline``; its Lambda Invoke endpoint.

Rounds: the machine is shared and noisy, so every figure is taken ``--rounds``
times. Each round first runs sequential warm invokes over one keep-alive
connection per server (raw-socket HTTP/1.1 client with TCP_NODELAY,
bench/keepalive.py; p50/p90/p99, and the CPU the server and its descendants
spent per invoke), interleaved in WARM_BLOCKS blocks server after server so
that all of them are sampled over the same seconds; then wrk with 1 connection
against each server in turn, then with 16: an unmeasured warm-up of each, and
the measured seconds in WRK_SLICE_SECONDS slices interleaved server after
server, so that the 16-client figures of one round (and their ratios) cover
the same stretch of time too (the order rotates from round to round). A
server's figure is the median of its rounds; a ratio between two servers is
taken per round (both measured seconds apart) and reported as the median of
those, with its range; ``spread`` is (max - min) / median over the rounds,
printed for the headline figures so the reader sees how noisy the run was
(bench/rounds.py). After the rounds: memory of each lambdalite (server RSS/USS,
each environment tree), then cold starts, alternating between the lambdalite
servers function by function: N new functions each, the first invoke of each
timed (the create call is not in the figure).

Targets, checked in the run and printed PASS/FAIL (issue 10 and before):
warm p50 at least 2x faster than serverless-offline (median of per-round
ratios); 16-client throughput at least 1.6x serverless-offline's in every
round (the worst round's ratio); warm p50 within 2.5x of the echo server on
lambdalite's HTTP stack; warm p50 <= 0.5 ms; >= 8,000 invokes/s with 16
clients; p99 below serverless-offline's. With ``--before``: no regression of
warm p50, 16-client throughput (within NOISE_ALLOWANCE of the earlier
commit, median of per-round ratios) and cold start p50 (within
COLD_NOISE_ALLOWANCE).

A server that cannot be set up or started shows ``n/a`` and the rest still
runs. Everything goes to bench/results/invoke.json. ``--profile`` also samples
this tree's lambdalite with py-spy during an extra 16-client run after the rounds
(in no figure; bench/profiling.py). Every process it starts is stopped on every path
(SIGINT and SIGTERM too), and the worktree is removed.
A full run (5 rounds, with --before) takes about 6 minutes; ``--quick`` about 2.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack, nullcontext
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, NoReturn

import profiling
import psutil
import rounds
import worktree
from echo_server import READY_LINE as ECHO_READY_LINE
from keepalive import KeepAliveClient, build_request, timed_roundtrips
from rich.console import Console
from rich.table import Table
from services import Service, ServiceError, free_port, hello_zip, lambda_client
from wrkrun import WrkError, WrkResult, combine, ensure_wrk, run_wrk, write_script

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results" / "invoke.json"
PROFILE = BENCH_DIR / "results" / "invoke-profile.txt"
PYTHON = sys.executable
PEER_SETUP = Path("/work/shared/peers/serverless-offline.sh")

HOST = "127.0.0.1"
ROLE = "arn:aws:iam::000000000000:role/lambda-role"
LAMBDALITE_READY_LINE = "lambdalite listening on"
SLS_READY_LINE = "Offline [http for lambda] listening on"
SLS_FUNCTION = "bench-dev-hello"
BODY = b"{}"

TARGET_WARM_P50_MS = 0.5
TARGET_RPS_16 = 8000.0
TARGET_FASTER_THAN_PEER = 2.0
"""Warm p50: at least this many times faster than serverless-offline."""
TARGET_RPS_OVER_PEER = 1.6
"""16-client throughput: at least this multiple of serverless-offline's, every round."""
TARGET_OVER_ECHO = 2.5
"""Warm p50: at most this multiple of the echo server on lambdalite's HTTP stack."""
NOISE_ALLOWANCE = 0.05
"""--before: a warm figure counts as regressed only past 5% (median of per-round ratios)."""
COLD_NOISE_ALLOWANCE = 0.10
"""--before: cold start p50 may move 10% (fewer samples, and each forks and mounts)."""

console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 220)


@dataclass(frozen=True, slots=True)
class Plan:
    """How much of each measurement one run does."""

    rounds: int
    warm_requests: int
    warmup_requests: int
    cold_functions: int
    wrk_seconds: int
    wrk_warmup_seconds: int
    first_warmup_seconds: int
    """The first round's warm-up before 16 clients is longer: a server may start an
    environment per connection (serverless-offline spawns a Python worker per
    concurrent request, ~0.4 s each), and we measure warm."""
    peer_setup_timeout_s: float


FULL = Plan(
    rounds=5,
    warm_requests=2000,
    warmup_requests=200,
    cold_functions=20,
    wrk_seconds=3,
    wrk_warmup_seconds=1,
    first_warmup_seconds=3,
    peer_setup_timeout_s=150,
)
QUICK = Plan(
    rounds=3,
    warm_requests=500,
    warmup_requests=100,
    cold_functions=6,
    wrk_seconds=1,
    wrk_warmup_seconds=1,
    first_warmup_seconds=3,
    peer_setup_timeout_s=30,
)
CONCURRENCY = (1, 16)
WARM_BLOCKS = 10
"""Blocks per round of the sequential run, interleaved between the servers."""
WRK_SLICE_SECONDS = 1
"""The 16-client run of a round is taken in slices this long, interleaved between the servers."""


def invoke_path(function: str) -> str:
    return f"/2015-03-31/functions/{function}/invocations"


@dataclass(slots=True)
class Server:
    """One running server under test."""

    key: str
    """Result key: lambdalite, before, echo_lambdalite_http, echo, serverless_offline."""
    title: str
    port: int
    path: str
    service: Service
    lambda_api: Any = None
    """A boto3 Lambda client, for the lambdalite servers (cold starts)."""
    info: dict[str, Any] = field(default_factory=dict)
    request: bytes | None = None
    """The exact request to send (a signed one, bench/sigv4_bench.py); None: an unsigned
    ``POST path`` with ``BODY``."""


# ---------------------------------------------------------------- numbers


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, -(-len(sorted_values) * q // 100))  # ceil without floats drifting
    return sorted_values[int(rank) - 1]


def latency_summary(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    return {
        "count": len(ordered),
        "p50_ms": percentile(ordered, 50),
        "p90_ms": percentile(ordered, 90),
        "p99_ms": percentile(ordered, 99),
        "mean_ms": statistics.fmean(ordered),
        "max_ms": ordered[-1],
    }


# ---------------------------------------------------------------- one round of one server


def cpu_seconds(process: psutil.Process) -> tuple[float, float]:
    """CPU time used so far by ``process`` itself, and by its descendants alive now
    (environments, zygotes, workers)."""
    descendants = 0.0
    for child in process.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            descendants += _on_cpu_s(child)
    return _on_cpu_s(process), descendants


def _on_cpu_s(process: psutil.Process) -> float:
    """Seconds on a CPU, all threads: the scheduler's nanoseconds (/proc/PID/task/*/schedstat)
    where readable, else user + system in ticks of 10 ms."""
    total_ns = 0
    try:
        for task in Path(f"/proc/{process.pid}/task").iterdir():
            total_ns += int((task / "schedstat").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        times = process.cpu_times()
        return float(times.user + times.system)
    return total_ns / 1e9


def measure_warm(servers: list[Server], plan: Plan) -> dict[str, dict[str, Any]]:
    """Sequential invokes over one keep-alive connection per server, interleaved: after a
    warm-up, WARM_BLOCKS blocks of requests, server after server, so that every server's
    latencies are sampled across the same stretch of time (on a shared machine the load
    changes within seconds). With each: the CPU the server process and its descendants
    spent per request during its blocks, which moves much less than latency when other
    work shares the machine. A server that fails gets ``{"error": ...}`` in this round."""
    block = max(1, plan.warm_requests // WARM_BLOCKS)
    results: dict[str, dict[str, Any]] = {}
    with ExitStack() as stack:
        live: dict[str, tuple[Server, KeepAliveClient, bytes, psutil.Process]] = {}
        samples: dict[str, list[int]] = {}
        failed: dict[str, list[Any]] = {}
        cpu = {}
        for server in servers:
            try:
                client = stack.enter_context(KeepAliveClient(HOST, server.port))
                request = server.request or build_request("POST", HOST, server.port, server.path, BODY)
                timed_roundtrips(client, request, plan.warmup_requests)
            except OSError as exc:
                results[server.key] = {"error": f"warm: {exc}"}
                continue
            live[server.key] = (server, client, request, psutil.Process(server.service.pid))
            samples[server.key], failed[server.key], cpu[server.key] = [], [], [0.0, 0.0]
        for _ in range(WARM_BLOCKS):
            for key, (_, client, request, process) in list(live.items()):
                try:
                    own_before, rest_before = cpu_seconds(process)
                    latencies_ns, failures = timed_roundtrips(client, request, block)
                    own_after, rest_after = cpu_seconds(process)
                except (OSError, psutil.Error) as exc:
                    results[key] = {"error": f"warm: {exc}"}
                    del live[key]
                    continue
                samples[key] += latencies_ns
                failed[key] += failures
                cpu[key][0] += own_after - own_before
                cpu[key][1] += rest_after - rest_before
        for key in live:
            summary: dict[str, Any] = latency_summary([ns / 1e6 for ns in samples[key]])
            count = len(samples[key])
            summary["server_cpu_us"] = cpu[key][0] / count * 1e6
            summary["all_cpu_us"] = (cpu[key][0] + cpu[key][1]) / count * 1e6
            summary["failures"] = len(failed[key])
            if failed[key]:
                first = failed[key][0]
                summary["first_failure"] = f"{first.status}: {first.body[:200]!r}"
            results[key] = summary
    return results


def measure_wrk(
    wrk: str,
    script: Path,
    url: str,
    plan: Plan,
    first: bool,
    around_last: Callable[[], AbstractContextManager[object]] = nullcontext,
    levels: tuple[int, ...] = CONCURRENCY,
) -> dict[str, Any]:
    """wrk with each concurrency level of ``levels`` (each after an unmeasured warm-up,
    longer before 16 clients in the first round); ``around_last`` wraps the measured
    16-client run."""
    results: dict[str, Any] = {}
    for connections in levels:
        last = connections == CONCURRENCY[-1]
        warmup_s = plan.first_warmup_seconds if first and last else plan.wrk_warmup_seconds
        run_wrk(wrk, script, url, connections=connections, duration_s=warmup_s)
        with around_last() if last else nullcontext():
            result = run_wrk(wrk, script, url, connections=connections, duration_s=plan.wrk_seconds)
        results[str(connections)] = result.to_json()
    return results


def measure_paired(
    servers: list[Server],
    measured: dict[str, dict[str, Any]],
    wrk: str,
    script: Path,
    plan: Plan,
    first: bool,
) -> None:
    """The 16-client figure of one round, for each server whose round has not failed
    (``measured``: key -> its round so far, given ``wrk[16]`` here): an unmeasured
    warm-up each, then ``plan.wrk_seconds`` slices of WRK_SLICE_SECONDS, server after
    server, combined per server (wrkrun.combine). So the servers are measured over
    the same seconds, as the sequential run's blocks are: measured one after the
    other, 16-client windows of two servers were 10-40 s apart, and the other load
    on a shared machine changes within seconds, so a round's ratio compared two
    different machines (a worst round of 1.29x beside 1.31x-2.22x paired, same run)."""
    urls = {s.key: f"http://{HOST}:{s.port}{s.path}" for s in servers if "error" not in measured[s.key]}
    last = CONCURRENCY[-1]
    for server in servers:
        if server.key in urls:
            warmup_s = plan.first_warmup_seconds if first else plan.wrk_warmup_seconds
            try:
                run_wrk(wrk, script, urls[server.key], connections=last, duration_s=warmup_s)
            except WrkError as exc:
                console.print(f"  [red]{server.title}: {exc}[/red]", highlight=False)
                measured[server.key] = {"error": str(exc)}
                del urls[server.key]
    slices: dict[str, list[WrkResult]] = {key: [] for key in urls}
    for _ in range(max(1, plan.wrk_seconds // WRK_SLICE_SECONDS)):
        for server in servers:
            if server.key not in urls:
                continue
            try:
                slices[server.key].append(
                    run_wrk(wrk, script, urls[server.key], connections=last, duration_s=WRK_SLICE_SECONDS)
                )
            except WrkError as exc:
                console.print(f"  [red]{server.title}: {exc}[/red]", highlight=False)
                measured[server.key] = {"error": str(exc)}
                del urls[server.key]
    for key in urls:
        measured[key]["wrk"][str(last)] = combine(slices[key]).to_json()


def measure_round(server: Server, warm: dict[str, Any], wrk: str, script: Path, plan: Plan) -> dict[str, Any]:
    """One round of one server: its share of the interleaved warm run, then its wrk runs
    but the 16-client one (``measure_paired``); a failure becomes ``{"error": ...}``
    for this round only."""
    if "error" in warm:
        return {"error": warm["error"]}
    started = time.monotonic()
    try:
        url = f"http://{HOST}:{server.port}{server.path}"
        load = measure_wrk(wrk, script, url, plan, first=False, levels=CONCURRENCY[:-1])
    except (OSError, WrkError, ServiceError) as exc:
        console.print(f"  [red]{server.title}: {exc}[/red]", highlight=False)
        return {"error": str(exc)}
    return {"warm": warm, "wrk": load, "seconds": round(time.monotonic() - started, 1)}


# ---------------------------------------------------------------- starting the servers


def http_ok(port: int, path: str) -> Callable[[], bool]:
    def probe() -> bool:
        with KeepAliveClient(HOST, port, timeout_s=5.0) as client:
            return client.request("POST", path, BODY).status == 200

    return probe


def check_hello(port: int, path: str) -> None:
    with KeepAliveClient(HOST, port) as client:
        response = client.request("POST", path, BODY)
    if response.status != 200 or json.loads(response.body) != {"ok": True}:
        raise ServiceError(f"hello answered {response.status} {response.body[:300]!r}")


def create_function(client: Any, name: str, code: bytes) -> None:
    client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Handler="app.handler",
        Role=ROLE,
        Code={"ZipFile": code},
    )
    client.get_waiter("function_active_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30}
    )


def start_lambdalite(
    stack: ExitStack, workdir: Path, key: str, title: str, tree: Path, env: dict[str, str]
) -> Server:
    """``python -m lambdalite serve`` from ``tree`` (this one, or a worktree), with ``hello``."""
    port = free_port()
    data_dir = workdir / f"{key}-data"
    service = Service(
        title,
        [PYTHON, "-m", "lambdalite", "serve", "--port", str(port), "--data-dir", str(data_dir)],
        log_path=workdir / f"{key}.log",
        cwd=tree,
        env={"PYTHONUNBUFFERED": "1", **env},
    )
    stack.callback(service.stop)
    service.wait_for_line(LAMBDALITE_READY_LINE, timeout_s=30)
    client = lambda_client(port)
    create_function(client, "hello", hello_zip())
    path = invoke_path("hello")
    check_hello(port, path)
    return Server(key, title, port, path, service, client, {"port": port, "server_pid": service.pid})


def start_echo(
    stack: ExitStack,
    workdir: Path,
    key: str,
    title: str,
    echo_stack: str,
    tree: Path = REPO,
    env: dict[str, str] | None = None,
) -> Server:
    """``tree``'s bench/echo_server.py (this tree's, or the --before one's on its own HTTP stack)."""
    port = free_port()
    service = Service(
        title,
        [PYTHON, str(tree / "bench" / "echo_server.py"), "--port", str(port), "--stack", echo_stack],
        log_path=workdir / f"{key}.log",
        cwd=tree,
        env=env,
    )
    stack.callback(service.stop)
    service.wait_for_line(ECHO_READY_LINE, timeout_s=15)
    # Same path and body as lambdalite's invoke; the echo ignores the path.
    return Server(key, title, port, invoke_path("hello"), service, info={"port": port, "stack": echo_stack})


def setup_peer(timeout_s: float) -> Path:
    """Run the shared setup script (npm install on its first run); returns the peer's directory."""
    if not PEER_SETUP.exists():
        raise ServiceError(f"{PEER_SETUP} is missing")
    setup = subprocess.Popen(
        ["sh", str(PEER_SETUP)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = setup.communicate(timeout=timeout_s)
    except BaseException as exc:
        # The whole group: sh and the npm install it may be running.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(setup.pid, signal.SIGKILL)
        setup.communicate()
        if isinstance(exc, subprocess.TimeoutExpired):
            raise ServiceError(f"peer setup did not finish within {timeout_s:.0f} s (npm install?)") from exc
        raise
    lines = stdout.strip().splitlines()
    if setup.returncode != 0 or not lines:
        raise ServiceError(f"peer setup failed ({setup.returncode}): {stderr.strip()[-500:]}")
    directory = Path(lines[-1])
    if not (directory / "node_modules" / ".bin" / "sls").exists():
        raise ServiceError(f"peer setup gave {directory} without node_modules/.bin/sls")
    return directory


def start_peer(stack: ExitStack, workdir: Path, plan: Plan) -> Server:
    directory = setup_peer(plan.peer_setup_timeout_s)
    http_port, lambda_port = free_port(), free_port()
    service = Service(
        "serverless-offline",
        [
            str(directory / "node_modules" / ".bin" / "sls"),
            "offline",
            "--host",
            HOST,
            "--httpPort",
            str(http_port),
            "--lambdaPort",
            str(lambda_port),
        ],
        cwd=directory,
        log_path=workdir / "serverless-offline.log",
        env={
            # Keep it on loopback: no telemetry, update checks or interactive setup.
            "SLS_TELEMETRY_DISABLED": "1",
            "SLS_NOTIFICATIONS_MODE": "off",
            "SLS_DEPRECATION_DISABLE": "*",
            "SLS_INTERACTIVE_SETUP_DISABLE": "1",
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
        },
    )
    stack.callback(service.stop)
    path = invoke_path(SLS_FUNCTION)
    service.wait_for_line(SLS_READY_LINE, timeout_s=60)
    service.wait_until(http_ok(lambda_port, path), timeout_s=30, what="a 200 from its Invoke endpoint")
    check_hello(lambda_port, path)
    info = {"directory": str(directory), "lambda_port": lambda_port}
    return Server("serverless_offline", "serverless-offline", lambda_port, path, service, info=info)


def start(name: str, results: dict[str, Any], key: str, begin: Callable[[], Server]) -> Server | None:
    """Start one server; a failure is recorded as ``{"error": ...}`` and the run goes on."""
    console.print(f"starting [bold]{name}[/bold] ...")
    try:
        return begin()
    except (OSError, ServiceError, worktree.WorktreeError, RuntimeError) as exc:
        error = str(exc) if isinstance(exc, ServiceError) else f"{type(exc).__name__}: {exc}"
        console.print(f"  [red]{name} failed:[/red] {error}", highlight=False)
        results[key] = {"error": error}
        return None
    except Exception as exc:  # boto3/botocore errors while creating hello: still only this server
        console.print(f"  [red]{name} failed:[/red] {type(exc).__name__}: {exc}", highlight=False)
        results[key] = {"error": f"{type(exc).__name__}: {exc}"}
        return None


# ---------------------------------------------------------------- after the rounds


def memory_of(server: Service) -> dict[str, Any]:
    """RSS of the server process and of each environment (a runtime and its
    descendants). USS is the memory only that process holds (not shared pages).
    Environments are the server's children, or a zygote's children for Python
    runtimes forked from one; the zygotes themselves are reported apart."""
    proc = psutil.Process(server.pid)
    environments = []
    zygotes: list[psutil.Process] = []
    candidates: list[psutil.Process] = []
    for child in proc.children():
        try:
            if "_zygote_main" in " ".join(child.cmdline()):
                zygotes.append(child)
                candidates.extend(child.children())
            else:
                candidates.append(child)
        except psutil.Error:
            continue
    for child in candidates:
        try:
            tree = [child, *child.children(recursive=True)]
            environments.append(
                {
                    "pid": child.pid,
                    "cmdline": " ".join(child.cmdline())[:160],
                    "processes": len(tree),
                    "rss_mb": sum(p.memory_info().rss for p in tree) / 2**20,
                    "uss_mb": sum(p.memory_full_info().uss for p in tree) / 2**20,
                }
            )
        except psutil.Error:
            continue
    return {
        "server_rss_mb": proc.memory_info().rss / 2**20,
        "server_uss_mb": proc.memory_full_info().uss / 2**20,
        "environment_count": len(environments),
        "environment_rss_mb": statistics.median(e["rss_mb"] for e in environments) if environments else None,
        "environment_uss_mb": statistics.median(e["uss_mb"] for e in environments) if environments else None,
        "environments": environments,
        "zygote_rss_mb": [z.memory_info().rss / 2**20 for z in zygotes if z.is_running()],
    }


def measure_cold_starts(servers: list[Server], plan: Plan) -> dict[str, dict[str, Any]]:
    """N new functions on each server, alternating server by server so that both
    see the same machine; the first invoke of each is timed."""
    code = hello_zip()
    samples: dict[str, list[float]] = {s.key: [] for s in servers}
    failures = dict.fromkeys(samples, 0)
    clock = time.perf_counter_ns
    with ExitStack() as stack:
        clients = {s.key: stack.enter_context(KeepAliveClient(HOST, s.port)) for s in servers}
        for index in range(plan.cold_functions):
            for server in servers if index % 2 == 0 else reversed(servers):
                name = f"cold-{index:02d}"
                create_function(server.lambda_api, name, code)
                request = build_request("POST", HOST, server.port, invoke_path(name), BODY)
                started = clock()
                response = clients[server.key].roundtrip(request)
                samples[server.key].append((clock() - started) / 1e6)
                if response.status != 200 or "x-amz-function-error" in response.headers:
                    failures[server.key] += 1
    return {key: {**latency_summary(values), "failures": failures[key]} for key, values in samples.items()}


# ---------------------------------------------------------------- summary


ROUND_FIGURES: tuple[rounds.Path, ...] = (
    ("warm", "p50_ms"),
    ("warm", "p90_ms"),
    ("warm", "p99_ms"),
    ("warm", "failures"),
    ("warm", "server_cpu_us"),
    ("warm", "all_cpu_us"),
    *(("wrk", str(c), figure) for c in CONCURRENCY for figure in ("requests_per_s", "p50_ms", "p99_ms")),
    *(("wrk", str(c), figure) for c in CONCURRENCY for figure in ("non_2xx", "socket_errors")),
)


@dataclass(frozen=True, slots=True)
class Row:
    label: str
    keys: tuple[str, ...]
    unit: str
    """"ms", "rps", "count" or "mb"; how the value is printed."""
    ratio: str | None = None
    """Name of the ratio (lambdalite / other) for rows compared across servers."""


ROWS = (
    Row("warm invoke p50 (sequential)", ("warm", "p50_ms"), "ms", "warm_p50"),
    Row("warm invoke p90 (sequential)", ("warm", "p90_ms"), "ms", "warm_p90"),
    Row("warm invoke p99 (sequential)", ("warm", "p99_ms"), "ms", "warm_p99"),
    Row("sequential: failed invokes", ("warm", "failures"), "count"),
    Row("sequential: server CPU / invoke", ("warm", "server_cpu_us"), "us", "server_cpu"),
    Row("sequential: all CPU / invoke", ("warm", "all_cpu_us"), "us", "all_cpu"),
    Row("1 client: req/s", ("wrk", "1", "requests_per_s"), "rps", "throughput_1"),
    Row("1 client: p99", ("wrk", "1", "p99_ms"), "ms", "p99_1"),
    Row("16 clients: req/s", ("wrk", "16", "requests_per_s"), "rps", "throughput_16"),
    Row("16 clients: p50", ("wrk", "16", "p50_ms"), "ms", "p50_16"),
    Row("16 clients: p99", ("wrk", "16", "p99_ms"), "ms", "p99_16"),
    Row("16 clients: non-2xx", ("wrk", "16", "non_2xx"), "count"),
    Row("16 clients: socket errors", ("wrk", "16", "socket_errors"), "count"),
    Row("cold start p50 (first invoke)", ("cold_start", "p50_ms"), "ms", "cold_p50"),
    Row("cold start p99 (first invoke)", ("cold_start", "p99_ms"), "ms"),
    Row("server RSS", ("memory", "server_rss_mb"), "mb"),
    Row("one warm env RSS (median)", ("memory", "environment_rss_mb"), "mb"),
    Row("one warm env USS (median)", ("memory", "environment_uss_mb"), "mb"),
    Row("environments after load", ("memory", "environment_count"), "count"),
)
ROW = {row.label: row for row in ROWS}
SPREAD_ROWS = (
    ROW["warm invoke p50 (sequential)"],
    ROW["16 clients: req/s"],
    ROW["sequential: all CPU / invoke"],
)
"""The headline figures whose noise (spread over the rounds) is printed."""


def summarise_server(result: dict[str, Any]) -> None:
    """Add the medians over the rounds (``median``) and the noise of the headline figures."""
    per_round = [r for r in result.get("rounds", []) if "error" not in r]
    result["median"] = rounds.median_of_rounds(per_round, ROUND_FIGURES)
    for extra in ("cold_start", "memory"):
        if extra in result:
            result["median"][extra] = result[extra]
    result["spread"] = {
        "/".join(row.keys): rounds.summary(rounds.numbers(per_round, row.keys)) for row in SPREAD_ROWS
    }


def compute_ratios(results: dict[str, Any], others: list[str]) -> dict[str, dict[str, Any]]:
    """lambdalite / other for every row that has a ratio: per round for the round
    figures (median, min, max of the per-round ratios), from the medians for cold starts.
    Above 1 is better for req/s, below 1 is better for latency."""
    mine = results["lambdalite"]
    ratios: dict[str, dict[str, Any]] = {}
    for other in others:
        theirs = results[other]
        found: dict[str, Any] = {}
        for row in ROWS:
            if row.ratio is None:
                continue
            if row.keys[0] in ("warm", "wrk"):
                found[row.ratio] = rounds.paired_ratio(
                    mine.get("rounds", []), theirs.get("rounds", []), row.keys
                )
            else:
                numerator = rounds.dig(mine.get("median"), row.keys)
                denominator = rounds.dig(theirs.get("median"), row.keys)
                value = numerator / denominator if numerator is not None and denominator else None
                found[row.ratio] = None if value is None else rounds.summary([value])
        ratios[f"vs_{other}"] = found
    return ratios


def _ratio(results: dict[str, Any], other: str, name: str, statistic: str = "median") -> float | None:
    summary = rounds.dig(results.get("ratios"), (f"vs_{other}", name))
    return None if summary is None else float(summary[statistic])


def check(
    row: str, wanted: str, value: float | None, bound: float | None, at_least: bool, shown: str
) -> dict[str, Any]:
    """One target: PASS (True) when ``value`` is at least (or at most) ``bound``; n/a (None)
    when either is missing. ``shown`` formats the value, with ``{}`` for it."""
    passed = None if value is None or bound is None else value >= bound if at_least else value <= bound
    return {
        "row": row,
        "target": wanted,
        "value": value,
        "shown": "-" if value is None else shown.format(value),
        "passed": passed,
    }


def evaluate_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target with the figure it was judged on and PASS (True) / FAIL (False) / n/a (None)."""
    median = results["lambdalite"].get("median", {})
    peer = results.get("serverless_offline", {}).get("median", {})
    over_peer = _ratio(results, "serverless_offline", "warm_p50")
    warm, rps, p99 = "warm invoke p50 (sequential)", "16 clients: req/s", "warm invoke p99 (sequential)"
    checks = [
        check(
            warm,
            f">= {TARGET_FASTER_THAN_PEER:g}x faster than serverless-offline",
            1 / over_peer if over_peer else None,
            TARGET_FASTER_THAN_PEER,
            True,
            "{:.2f}x faster (median of rounds)",
        ),
        check(
            rps,
            f">= {TARGET_RPS_OVER_PEER:g}x serverless-offline, every round",
            _ratio(results, "serverless_offline", "throughput_16", "min"),
            TARGET_RPS_OVER_PEER,
            True,
            "worst round {:.2f}x",
        ),
        check(
            warm,
            f"<= {TARGET_OVER_ECHO:g}x the echo on lambdalite's HTTP",
            _ratio(results, "echo_lambdalite_http", "warm_p50"),
            TARGET_OVER_ECHO,
            False,
            "{:.2f}x (median of rounds)",
        ),
        check(
            warm,
            f"<= {TARGET_WARM_P50_MS} ms",
            rounds.dig(median, ROW[warm].keys),
            TARGET_WARM_P50_MS,
            False,
            "{:.3f} ms",
        ),
        check(
            rps,
            f">= {TARGET_RPS_16:,.0f}/s",
            rounds.dig(median, ROW[rps].keys),
            TARGET_RPS_16,
            True,
            "{:,.0f}/s",
        ),
    ]
    for label in (p99, "16 clients: p99"):
        row = ROW[label]
        theirs = rounds.dig(peer, row.keys)
        bound = None if theirs is None else theirs * (1 - 1e-9)  # strictly below
        checks.append(
            check(label, "< serverless-offline", rounds.dig(median, row.keys), bound, False, "{:.3f} ms")
        )
    if "before" in results:
        ref = results.get("before_ref", {}).get("ref", "the earlier tree")
        for label, name, allowance, lower_is_better in (
            (warm, "warm_p50", NOISE_ALLOWANCE, True),
            (rps, "throughput_16", NOISE_ALLOWANCE, False),
            ("cold start p50 (first invoke)", "cold_p50", COLD_NOISE_ALLOWANCE, True),
        ):
            bound = 1 + allowance if lower_is_better else 1 - allowance
            wanted = f"no regression vs {ref} (within {allowance:.0%})"
            value = _ratio(results, "before", name)
            checks.append(check(label, wanted, value, bound, not lower_is_better, "after/before {:.2f}x"))
    return checks


# ---------------------------------------------------------------- report


def fmt(value: Any, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "ms":
        return f"{value:.3f} ms" if value < 10 else f"{value:.1f} ms"
    if unit == "us":
        return f"{value:.0f} us"
    if unit == "rps":
        return f"{value:,.0f}/s"
    if unit == "mb":
        return f"{value:.1f} MB"
    return str(round(value) if isinstance(value, float) and value.is_integer() else value)


def fmt_ratio(summary: dict[str, float] | None) -> str:
    if summary is None:
        return "-"
    if summary["rounds"] <= 1 or summary["min"] == summary["max"]:
        return f"{summary['median']:.2f}x"
    return f"{summary['median']:.2f}x ({summary['min']:.2f}-{summary['max']:.2f})"


def render(results: dict[str, Any], servers: list[tuple[str, str]], others: list[str]) -> Table:
    run = "quick" if results["quick"] else "full"
    table = Table(
        title=f"lambdalite invoke benchmark ({run} run, medians of {results['plan']['rounds']} rounds)"
    )
    table.add_column("metric")
    for _, title in servers:
        table.add_column(title, justify="right")
    for other in others:
        table.add_column(f"ll/{dict(servers)[other]}", justify="right")
    for row in ROWS:
        cells = []
        for key, _ in servers:
            result = results.get(key, {})
            cells.append(
                "[red]n/a[/red]"
                if "error" in result
                else fmt(rounds.dig(result.get("median"), row.keys), row.unit)
            )
        ratio_cells = [
            fmt_ratio(rounds.dig(results["ratios"], (f"vs_{other}", row.ratio))) if row.ratio else ""
            for other in others
        ]
        table.add_row(row.label, *cells, *ratio_cells)
    return table


def render_targets(results: dict[str, Any]) -> Table:
    table = Table(title="targets (ratios are lambdalite / other, paired round by round)")
    for column in ("figure", "target", "this run", "result"):
        table.add_column(column)
    for check in results["targets"]:
        passed = check["passed"]
        verdict = "[green]PASS[/green]" if passed else "[red]FAIL[/red]" if passed is False else "n/a"
        table.add_row(check["row"], check["target"], check["shown"], verdict)
    return table


def render_noise(results: dict[str, Any], servers: list[tuple[str, str]]) -> Table:
    table = Table(title="noise: each headline figure over the rounds (min - max, spread = (max-min)/median)")
    table.add_column("server")
    for row in SPREAD_ROWS:
        table.add_column(row.label, justify="right")
    for key, title in servers:
        spread = results.get(key, {}).get("spread", {})
        cells = []
        for row in SPREAD_ROWS:
            summary = spread.get("/".join(row.keys))
            cells.append(
                "-"
                if summary is None
                else f"{fmt(summary['min'], row.unit)} - {fmt(summary['max'], row.unit)}"
                f" ({summary['spread']:.0%})"
            )
        table.add_row(title, *cells)
    return table


def render_profile(profile: dict[str, Any]) -> Table:
    table = Table(
        title=f"lambdalite under 16 clients: py-spy, {profile['samples']} samples ({profile['file']})"
    )
    table.add_column("self", justify="right")
    table.add_column("frame (self time)")
    table.add_column("incl.", justify="right")
    table.add_column("lambdalite frame (inclusive)")
    rows = max(len(profile["top_self"]), len(profile["top_inclusive"]))
    for index in range(rows):
        cells: list[str] = []
        for key in ("top_self", "top_inclusive"):
            entries = profile[key]
            if index < len(entries):
                cells += [f"{100 * entries[index]['share']:.1f}%", entries[index]["frame"]]
            else:
                cells += ["", ""]
        table.add_row(*cells)
    return table


BUSY_WARNING_PERCENT = 15.0


def host_facts() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average_1m": os.getloadavg()[0],
        # Sampled before any server starts: what other work takes from this run.
        "cpu_busy_before_percent": psutil.cpu_percent(interval=1.0),
    }


# ---------------------------------------------------------------- the run


def run(args: argparse.Namespace, plan: Plan, workdir: Path, stack: ExitStack) -> dict[str, Any]:
    wrk = ensure_wrk()
    script = write_script(workdir)
    results: dict[str, Any] = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "plan": asdict(plan),
        "host": host_facts(),
        "commit": worktree.head(REPO),
    }
    servers: list[Server] = []

    def add(name: str, key: str, begin: Callable[[], Server]) -> None:
        server = start(name, results, key, begin)
        if server is not None:
            servers.append(server)
            results[key] = {**server.info, "title": server.title, "rounds": []}

    add(
        "lambdalite",
        "lambdalite",
        lambda: start_lambdalite(stack, workdir, "lambdalite", "lambdalite", REPO, {}),
    )
    earlier = before_tree(args, stack, workdir, results)
    if earlier is not None:
        label = args.before or earlier.path.name
        env = earlier.environment()

        def before() -> Server:
            code = worktree.code_of(PYTHON, earlier.path, env)
            if not code.is_relative_to(earlier.path):
                raise worktree.WorktreeError(f"lambdalite would come from {code}, not {earlier.path}")
            return start_lambdalite(stack, workdir, "before", f"ll@{label}", earlier.path, env)

        add(f"lambdalite at {label}", "before", before)
        title = f"echo (ll http @{label})"
        echo_before = partial(
            start_echo, stack, workdir, "echo_before_http", title, "lambdalite", earlier.path, env
        )
        add(f"echo on the HTTP stack of {label}", "echo_before_http", echo_before)
    add(
        "echo (lambdalite's HTTP)",
        "echo_lambdalite_http",
        lambda: start_echo(stack, workdir, "echo_lambdalite_http", "echo (ll http)", "lambdalite"),
    )
    add("echo (uvicorn)", "echo", lambda: start_echo(stack, workdir, "echo", "echo (uvicorn)", "uvicorn"))
    add("serverless-offline", "serverless_offline", lambda: start_peer(stack, workdir, plan))
    if not servers or servers[0].key != "lambdalite":
        raise ServiceError(f"lambdalite did not start: {results['lambdalite']['error']}")

    for index in range(plan.rounds):
        shift = index % len(servers)
        order = servers[shift:] + servers[:shift]
        console.print(f"round {index + 1}/{plan.rounds}: " + ", ".join(s.title for s in order))
        warm = measure_warm(order, plan)
        measured = {s.key: measure_round(s, warm[s.key], wrk, script, plan) for s in order}
        measure_paired(order, measured, wrk, script, plan, first=index == 0)
        for server in order:
            results[server.key]["rounds"].append(measured[server.key])
    if args.profile:
        # An extra run, in no figure: py-spy pauses the server 250 times a second, which
        # on a busy 2-core machine cost the profiled round up to half its throughput.
        with (
            contextlib.suppress(WrkError),
            profiling.recording(servers[0].service.pid, plan.wrk_seconds, PROFILE),
        ):
            url = f"http://{HOST}:{servers[0].port}{servers[0].path}"
            run_wrk(wrk, script, url, connections=CONCURRENCY[-1], duration_s=plan.wrk_seconds)
        if PROFILE.exists():
            results["lambdalite"]["profile"] = profiling.summarise(PROFILE)

    lambdalites = [s for s in servers if s.lambda_api is not None]
    for server in lambdalites:
        results[server.key]["memory"] = memory_of(server.service)
    console.print("cold starts: " + " / ".join(s.title for s in lambdalites))
    try:
        for key, cold in measure_cold_starts(lambdalites, plan).items():
            results[key]["cold_start"] = cold
    except Exception as exc:  # a failed create must not lose the rounds
        console.print(f"  [red]cold starts failed: {type(exc).__name__}: {exc}[/red]", highlight=False)
        results["cold_start_error"] = f"{type(exc).__name__}: {exc}"

    for server in servers:
        summarise_server(results[server.key])
    return results


def before_tree(
    args: argparse.Namespace, stack: ExitStack, workdir: Path, results: dict[str, Any]
) -> worktree.Checkout | None:
    """The earlier tree to run beside this one: a worktree of --before REF, or the
    --baseline directory as it is; None without either, or (recorded) when git fails."""
    if args.baseline is not None:
        path = args.baseline.resolve()
        results["before_ref"] = {"ref": str(path), "commit": None}
        return worktree.Checkout(str(path), "", path)
    if args.before is None:
        return None
    try:
        checkout = stack.enter_context(worktree.checkout(REPO, args.before, workdir))
    except worktree.WorktreeError as exc:
        console.print(f"  [red]--before {args.before}: {exc}[/red]", highlight=False)
        results["before"] = {"error": str(exc)}
        return None
    results["before_ref"] = {"ref": checkout.ref, "commit": checkout.commit}
    return checkout


def _raise_exit(signum: int, _frame: object) -> NoReturn:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="shorter rounds (about 2 minutes)")
    parser.add_argument("--rounds", type=int, help="rounds (default 5, --quick 3)")
    parser.add_argument(
        "--before",
        metavar="REF",
        help="also run lambdalite as of git REF (a worktree of it), and the echo on its HTTP stack, "
        "side by side with this tree",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="DIR",
        help="like --before, with a checkout that is already there (e.g. `git archive main`)",
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"JSON results (default {RESULTS})")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="sample lambdalite with py-spy during an extra 16-client run after the rounds, "
        f"in no figure (collapsed stacks to {PROFILE})",
    )
    parser.add_argument(
        "--keep-logs", action="store_true", help="keep the servers' logs and data directories"
    )
    args = parser.parse_args(argv)
    if args.before is not None and args.baseline is not None:
        parser.error("--before and --baseline name the same comparison: give one")
    plan = QUICK if args.quick else FULL
    if args.rounds is not None:
        if args.rounds < 1:
            parser.error("--rounds must be at least 1")
        plan = Plan(**{**asdict(plan), "rounds": args.rounds})
    # SIGTERM unwinds like Ctrl-C, so every `finally` stops its servers; SIGINT is
    # reinstated in case a parent shell left it ignored (background jobs).
    signal.signal(signal.SIGTERM, _raise_exit)
    signal.signal(signal.SIGINT, signal.default_int_handler)

    if args.profile and profiling.py_spy() is None:
        console.print("[red]--profile needs py-spy: .venv/bin/pip install py-spy[/red]")
        return 2
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="lambdalite-bench-"))
    try:
        with ExitStack() as stack:
            try:
                results = run(args, plan, workdir, stack)
            except (ServiceError, WrkError, worktree.WorktreeError) as exc:
                console.print(f"[red]{exc}[/red]", highlight=False)
                return 1
    finally:
        if args.keep_logs:
            console.print(f"logs and data kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    order = ["lambdalite", "before", "echo_lambdalite_http", "echo_before_http", "echo", "serverless_offline"]
    present = [key for key in order if key in results]
    titles = [(key, results[key].get("title", key)) for key in present]
    others = [key for key in present if key != "lambdalite" and "error" not in results[key]]
    results["ratios"] = compute_ratios(results, others)
    results["targets"] = evaluate_targets(results)
    results["seconds"] = round(time.monotonic() - started, 1)
    results["host"]["load_average_1m_end"] = os.getloadavg()[0]
    results["host"]["cpu_busy_after_percent"] = psutil.cpu_percent(interval=1.0)

    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2, default=str) + "\n")
    console.print(render(results, titles, others))
    console.print(render_targets(results))
    console.print(render_noise(results, [t for t in titles if "error" not in results[t[0]]]))
    if "profile" in results["lambdalite"]:
        console.print(render_profile(results["lambdalite"]["profile"]))
    for key in present:
        if "error" in results[key]:
            console.print(f"[red]{key}: {results[key]['error']}[/red]", highlight=False)
    busy = max(results["host"]["cpu_busy_before_percent"], results["host"]["cpu_busy_after_percent"])
    if busy > BUSY_WARNING_PERCENT:
        console.print(
            f"[yellow]other work kept the CPUs {busy:.0f}% busy around this run: noisy figures[/yellow]"
        )
    console.print(f"ran {results['seconds']} s (commit {results['commit']}); results in {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
