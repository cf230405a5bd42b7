"""How fast lambdalite invokes a function, beside bare echo servers and serverless-offline.

    .venv/bin/python bench/invoke_bench.py [--quick] [--profile]

One run starts, measures and stops four servers in turn (never two at once, so
they do not compete for the CPU), all on loopback:

lambdalite
    ``python -m lambdalite serve`` on a free port with a fresh data directory.
    A Python 3.11 ``hello`` function (``app.handler`` returning ``{"ok": True}``)
    is created with boto3 and waited for with ``function_active_v2``. Then:

    * warm latency: sequential ``POST /2015-03-31/functions/hello/invocations``
      with body ``{}`` over one keep-alive connection (raw-socket HTTP/1.1
      client with TCP_NODELAY, bench/keepalive.py), after a warm-up;
    * throughput and latency under load: ``wrk`` with 1 and with 16 connections
      (an unmeasured wrk warm-up first, so the pool has its environments);
    * memory: RSS (and USS) of the server process and of each environment
      process tree (the server's children), taken right after the load;
    * cold start: N new functions, each created and waited for, then the first
      invoke of each is timed (the create call is not in the figure).

echo baselines
    bench/echo_server.py answers the same request with its body, on uvicorn
    (raw ASGI app, uvloop, httptools, access log off) and on lambdalite's own
    HTTP server (``lambdalite.api.http_server``, uvloop + httptools); same
    sequential client, same wrk runs. The gap to them is what lambdalite's own
    code (and the relay to an environment) costs per invoke.

serverless-offline
    the peer, set up by /work/shared/peers/serverless-offline.sh and started
    with ``sls offline``; its Lambda Invoke endpoint gets the same sequential
    client and the same wrk runs.

A server that cannot be set up or started shows ``n/a`` and the rest still
runs. It prints one table, with lambdalite's ratio to each other server and
pass/fail beside the targets (warm p50 <= 0.5 ms, >= 8,000 invokes/s with 16
clients, p99 below serverless-offline's in the same run), and writes
everything to bench/results/invoke.json. ``--profile`` also samples the
lambdalite server with py-spy during its 16-client run (bench/profiling.py).
Every process it starts is stopped on every path (SIGINT and SIGTERM too).
A full run takes about 1 minute 50 seconds, ``--quick`` about 45 seconds.
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
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, NoReturn

import profiling
import psutil
from echo_server import READY_LINE as ECHO_READY_LINE
from keepalive import KeepAliveClient, build_request, timed_roundtrips
from rich.console import Console
from rich.table import Table
from services import Service, ServiceError, free_port, hello_zip, lambda_client
from wrkrun import WrkError, ensure_wrk, run_wrk, write_script

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results" / "invoke.json"
PROFILE = BENCH_DIR / "results" / "invoke-profile.txt"
PYTHON = sys.executable
PEER_SETUP = Path("/work/shared/peers/serverless-offline.sh")

HOST = "127.0.0.1"
REGION = "us-east-1"
ROLE = "arn:aws:iam::000000000000:role/lambda-role"
LAMBDALITE_READY_LINE = "lambdalite listening on"
SLS_READY_LINE = "Offline [http for lambda] listening on"
SLS_FUNCTION = "bench-dev-hello"
BODY = b"{}"

TARGET_WARM_P50_MS = 0.5
TARGET_RPS_16 = 8000.0

console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)


@dataclass(frozen=True, slots=True)
class Plan:
    """How much of each measurement one run does."""

    warm_requests: int
    warmup_requests: int
    cold_functions: int
    wrk_seconds: int
    wrk_warmup_seconds: tuple[int, int]
    """Unmeasured wrk run before the 1- and the 16-client run. The 16-client one is
    longer: a server may start an environment per connection (serverless-offline
    spawns a Python worker per concurrent request, ~0.4 s each), and we measure warm."""
    peer_setup_timeout_s: float


FULL = Plan(
    warm_requests=2000,
    warmup_requests=200,
    cold_functions=20,
    wrk_seconds=10,
    wrk_warmup_seconds=(1, 3),
    peer_setup_timeout_s=150,
)
QUICK = Plan(
    warm_requests=500,
    warmup_requests=100,
    cold_functions=5,
    wrk_seconds=2,
    wrk_warmup_seconds=(1, 3),
    peer_setup_timeout_s=30,
)
CONCURRENCY = (1, 16)

SERVERS = {
    "lambdalite": ("lambdalite", ""),
    "echo": ("echo (uvicorn)", "ll/echo"),
    "echo_lambdalite_http": ("echo (ll http)", "ll/echo-ll"),
    "serverless_offline": ("serverless-offline", "ll/sls"),
}
"""Result key -> (column title, title of lambdalite's ratio to it)."""
OTHERS = tuple(key for key in SERVERS if key != "lambdalite")


def add_baseline_columns() -> None:
    """--baseline: two more servers, compared like the others."""
    global OTHERS
    SERVERS["lambdalite_baseline"] = ("lambdalite (baseline)", "ll/base")
    SERVERS["echo_baseline_http"] = ("echo (baseline ll http)", "ll/echo-base")
    OTHERS = tuple(key for key in SERVERS if key != "lambdalite")


def invoke_path(function: str) -> str:
    return f"/2015-03-31/functions/{function}/invocations"


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


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


# ---------------------------------------------------------------- shared measurements


def measure_warm(port: int, path: str, plan: Plan) -> dict[str, Any]:
    """Sequential invokes over one keep-alive connection: warm-up, then the measured run."""
    request = build_request("POST", HOST, port, path, BODY)
    with KeepAliveClient(HOST, port) as client:
        timed_roundtrips(client, request, plan.warmup_requests)
        latencies_ns, failures = timed_roundtrips(client, request, plan.warm_requests)
    summary: dict[str, Any] = latency_summary([ns / 1e6 for ns in latencies_ns])
    summary["failures"] = len(failures)
    if failures:
        first = failures[0]
        summary["first_failure"] = f"{first.status}: {first.body[:200]!r}"
    return summary


def measure_wrk(
    wrk: str,
    script: Path,
    url: str,
    plan: Plan,
    around_last: Callable[[], AbstractContextManager[object]] = nullcontext,
) -> dict[str, Any]:
    """wrk with each concurrency level; ``around_last`` wraps the measured 16-client run."""
    results: dict[str, Any] = {}
    for connections, warmup_s in zip(CONCURRENCY, plan.wrk_warmup_seconds, strict=True):
        run_wrk(wrk, script, url, connections=connections, duration_s=warmup_s)
        wrapper = around_last() if connections == CONCURRENCY[-1] else nullcontext()
        with wrapper:
            result = run_wrk(wrk, script, url, connections=connections, duration_s=plan.wrk_seconds)
        results[str(connections)] = result.to_json()
    return results


def http_ok(port: int, path: str) -> Callable[[], bool]:
    def probe() -> bool:
        with KeepAliveClient(HOST, port, timeout_s=5.0) as client:
            return client.request("POST", path, BODY).status == 200

    return probe


@contextmanager
def running(service: Service) -> Iterator[Service]:
    try:
        yield service
    finally:
        service.stop()


def section(name: str, work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run one server's measurements; a failure becomes ``{"error": ...}`` in the results."""
    console.print(f"[bold]{name}[/bold] ...")
    started = time.monotonic()
    try:
        result = work()
    except Exception as exc:  # one server failing must not lose the others' numbers
        error = str(exc) if isinstance(exc, ServiceError | WrkError) else f"{type(exc).__name__}: {exc}"
        console.print(f"  [red]{name} failed:[/red] {error}", highlight=False)
        return {"error": error}
    result["seconds"] = round(time.monotonic() - started, 1)
    console.print(f"  done in {result['seconds']} s")
    return result


# ---------------------------------------------------------------- lambdalite


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


def check_hello(port: int, path: str) -> None:
    with KeepAliveClient(HOST, port) as client:
        response = client.request("POST", path, BODY)
    if response.status != 200 or json.loads(response.body) != {"ok": True}:
        raise RuntimeError(f"hello answered {response.status} {response.body[:300]!r}")


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


def measure_cold_starts(port: int, client: Any, plan: Plan) -> dict[str, Any]:
    code = hello_zip()
    samples_ms: list[float] = []
    failures = 0
    clock = time.perf_counter_ns
    with KeepAliveClient(HOST, port) as http:
        for index in range(plan.cold_functions):
            name = f"cold-{index:02d}"
            create_function(client, name, code)
            request = build_request("POST", HOST, port, invoke_path(name), BODY)
            started = clock()
            response = http.roundtrip(request)
            samples_ms.append((clock() - started) / 1e6)
            if response.status != 200 or "x-amz-function-error" in response.headers:
                failures += 1
    summary: dict[str, Any] = latency_summary(samples_ms)
    summary["failures"] = failures
    return summary


def bench_lambdalite(
    workdir: Path, wrk: str, script: Path, plan: Plan, profile_to: Path | None, tree: Path = REPO
) -> dict[str, Any]:
    port = free_port()
    tag = "" if tree == REPO else "-baseline"
    data_dir = workdir / f"lambdalite{tag}-data"
    server = Service(
        "lambdalite",
        [PYTHON, "-m", "lambdalite", "serve", "--port", str(port), "--data-dir", str(data_dir)],
        log_path=workdir / f"lambdalite{tag}.log",
        cwd=tree,
        env={"PYTHONUNBUFFERED": "1", "PYTHONPATH": str(tree)},
    )
    with running(server):
        server.wait_for_line(LAMBDALITE_READY_LINE, timeout_s=30)
        client = lambda_client(port)
        create_function(client, "hello", hello_zip())
        path = invoke_path("hello")
        check_hello(port, path)
        result: dict[str, Any] = {"port": port, "server_pid": server.pid}
        result["warm"] = measure_warm(port, path, plan)
        url = f"http://{HOST}:{port}{path}"
        if profile_to is None:
            result["wrk"] = measure_wrk(wrk, script, url, plan)
        else:
            around = partial(profiling.recording, server.pid, plan.wrk_seconds, profile_to)
            result["wrk"] = measure_wrk(wrk, script, url, plan, around_last=around)
            result["profile"] = profiling.summarise(profile_to)
        result["memory"] = memory_of(server)
        result["cold_start"] = measure_cold_starts(port, client, plan)
        return result


# ---------------------------------------------------------------- echo baseline


def bench_echo(
    workdir: Path, wrk: str, script: Path, plan: Plan, stack: str, tree: Path = REPO
) -> dict[str, Any]:
    port = free_port()
    tag = "" if tree == REPO else "-baseline"
    server = Service(
        f"echo on {stack}",
        [PYTHON, str(tree / "bench" / "echo_server.py"), "--port", str(port), "--stack", stack],
        log_path=workdir / f"echo-{stack}{tag}.log",
        cwd=tree,
        env={"PYTHONPATH": str(tree)},
    )
    path = invoke_path("hello")  # same path and body; the echo ignores the path
    with running(server):
        server.wait_for_line(ECHO_READY_LINE, timeout_s=15)
        return {
            "port": port,
            "stack": stack,
            "warm": measure_warm(port, path, plan),
            "wrk": measure_wrk(wrk, script, f"http://{HOST}:{port}{path}", plan),
        }


# ---------------------------------------------------------------- serverless-offline


def setup_peer(timeout_s: float) -> Path:
    """Run the shared setup script (npm install on its first run); returns the peer's directory."""
    if not PEER_SETUP.exists():
        raise RuntimeError(f"{PEER_SETUP} is missing")
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
            raise RuntimeError(f"peer setup did not finish within {timeout_s:.0f} s (npm install?)") from exc
        raise
    lines = stdout.strip().splitlines()
    if setup.returncode != 0 or not lines:
        raise RuntimeError(f"peer setup failed ({setup.returncode}): {stderr.strip()[-500:]}")
    directory = Path(lines[-1])
    if not (directory / "node_modules" / ".bin" / "sls").exists():
        raise RuntimeError(f"peer setup gave {directory} without node_modules/.bin/sls")
    return directory


def bench_peer(workdir: Path, wrk: str, script: Path, plan: Plan) -> dict[str, Any]:
    directory = setup_peer(plan.peer_setup_timeout_s)
    http_port, lambda_port = free_port(), free_port()
    server = Service(
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
    path = invoke_path(SLS_FUNCTION)
    with running(server):
        server.wait_for_line(SLS_READY_LINE, timeout_s=60)
        server.wait_until(http_ok(lambda_port, path), timeout_s=30, what="a 200 from its Invoke endpoint")
        check_hello(lambda_port, path)
        return {
            "directory": str(directory),
            "lambda_port": lambda_port,
            "warm": measure_warm(lambda_port, path, plan),
            "wrk": measure_wrk(wrk, script, f"http://{HOST}:{lambda_port}{path}", plan),
        }


# ---------------------------------------------------------------- report


def dig(results: dict[str, Any], *keys: str) -> Any:
    value: Any = results
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


@dataclass(frozen=True, slots=True)
class Row:
    label: str
    keys: tuple[str, ...]
    unit: str
    """"ms", "rps", "count" or "mb"; how the value is printed."""
    ratio: str | None = None
    """Key of lambdalite/other in the ratios, for rows compared across servers."""


ROWS = (
    Row("warm invoke p50 (sequential)", ("warm", "p50_ms"), "ms", "warm_p50"),
    Row("warm invoke p90 (sequential)", ("warm", "p90_ms"), "ms", "warm_p90"),
    Row("warm invoke p99 (sequential)", ("warm", "p99_ms"), "ms", "warm_p99"),
    Row("sequential: failed invokes", ("warm", "failures"), "count"),
    Row("1 client: req/s", ("wrk", "1", "requests_per_s"), "rps", "throughput_1"),
    Row("1 client: p50", ("wrk", "1", "p50_ms"), "ms", "p50_1"),
    Row("1 client: p99", ("wrk", "1", "p99_ms"), "ms", "p99_1"),
    Row("1 client: non-2xx", ("wrk", "1", "non_2xx"), "count"),
    Row("16 clients: req/s", ("wrk", "16", "requests_per_s"), "rps", "throughput_16"),
    Row("16 clients: p50", ("wrk", "16", "p50_ms"), "ms", "p50_16"),
    Row("16 clients: p99", ("wrk", "16", "p99_ms"), "ms", "p99_16"),
    Row("16 clients: non-2xx", ("wrk", "16", "non_2xx"), "count"),
    Row("16 clients: socket errors", ("wrk", "16", "socket_errors"), "count"),
    Row("cold start p50 (first invoke)", ("cold_start", "p50_ms"), "ms"),
    Row("cold start p99 (first invoke)", ("cold_start", "p99_ms"), "ms"),
    Row("server RSS", ("memory", "server_rss_mb"), "mb"),
    Row("one warm env RSS (median)", ("memory", "environment_rss_mb"), "mb"),
    Row("one warm env USS (median)", ("memory", "environment_uss_mb"), "mb"),
    Row("environments after load", ("memory", "environment_count"), "count"),
)


def fmt(value: Any, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "ms":
        return f"{value:.3f} ms" if value < 10 else f"{value:.1f} ms"
    if unit == "rps":
        return f"{value:,.0f}/s"
    if unit == "mb":
        return f"{value:.1f} MB"
    return str(value)


def fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def compute_ratios(results: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    """lambdalite / other for every row that has a ratio key: above 1 is better
    for req/s, below 1 is better for latency."""
    mine = results["lambdalite"]
    return {
        f"vs_{other}": {
            row.ratio: ratio(dig(mine, *row.keys), dig(results[other], *row.keys))
            for row in ROWS
            if row.ratio
        }
        for other in OTHERS
    }


def evaluate_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    mine, peer = results["lambdalite"], results["serverless_offline"]

    def below(a: float | None, b: float | None) -> bool | None:
        return None if a is None or b is None else a < b

    warm_p50 = dig(mine, "warm", "p50_ms")
    rps_16 = dig(mine, "wrk", "16", "requests_per_s")
    return [
        {
            "row": "warm invoke p50 (sequential)",
            "target": f"<= {TARGET_WARM_P50_MS} ms",
            "passed": None if warm_p50 is None else warm_p50 <= TARGET_WARM_P50_MS,
        },
        {
            "row": "16 clients: req/s",
            "target": f">= {TARGET_RPS_16:,.0f}/s",
            "passed": None if rps_16 is None else rps_16 >= TARGET_RPS_16,
        },
        {
            "row": "warm invoke p99 (sequential)",
            "target": "< serverless-offline",
            "passed": below(dig(mine, "warm", "p99_ms"), dig(peer, "warm", "p99_ms")),
        },
        {
            "row": "16 clients: p99",
            "target": "< serverless-offline",
            "passed": below(dig(mine, "wrk", "16", "p99_ms"), dig(peer, "wrk", "16", "p99_ms")),
        },
    ]


def render(results: dict[str, Any]) -> Table:
    table = Table(title=f"lambdalite invoke benchmark ({'quick' if results['quick'] else 'full'} run)")
    table.add_column("metric")
    for title, _ in SERVERS.values():
        table.add_column(title, justify="right")
    for other in OTHERS:
        table.add_column(SERVERS[other][1], justify="right")
    table.add_column("target")
    table.add_column("result")
    targets = {t["row"]: t for t in results["targets"]}
    for row in ROWS:
        cells = []
        for server in SERVERS:
            if "error" in results[server]:
                cells.append("[red]n/a[/red]")
            else:
                cells.append(fmt(dig(results[server], *row.keys), row.unit))
        ratio_cells = [
            fmt_ratio(results["ratios"][side][row.ratio]) if row.ratio else ""
            for side in (f"vs_{other}" for other in OTHERS)
        ]
        target = targets.get(row.label)
        verdict = ""
        if target:
            passed = target["passed"]
            verdict = "[green]PASS[/green]" if passed else "[red]FAIL[/red]" if passed is False else "n/a"
        table.add_row(row.label, *cells, *ratio_cells, target["target"] if target else "", verdict)
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


def _raise_exit(signum: int, _frame: object) -> NoReturn:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="shorter runs (under a minute)")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"JSON results (default {RESULTS})")
    parser.add_argument(
        "--profile",
        action="store_true",
        help=f"sample lambdalite with py-spy during the 16-client run (collapsed stacks to {PROFILE})",
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the servers' logs and data directory")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="another checkout of lambdalite (e.g. `git archive main`) to measure in the same run, "
        "beside this one: its server and its own echo stack",
    )
    args = parser.parse_args(argv)
    if args.baseline is not None:
        add_baseline_columns()
    plan = QUICK if args.quick else FULL
    # SIGTERM unwinds like Ctrl-C, so every `finally` stops its servers; SIGINT is
    # reinstated in case a parent shell left it ignored (background jobs).
    signal.signal(signal.SIGTERM, _raise_exit)
    signal.signal(signal.SIGINT, signal.default_int_handler)

    if args.profile and profiling.py_spy() is None:
        console.print("[red]--profile needs py-spy: .venv/bin/pip install py-spy[/red]")
        return 2
    started = time.monotonic()
    wrk = ensure_wrk()
    workdir = Path(tempfile.mkdtemp(prefix="lambdalite-bench-"))
    results: dict[str, Any] = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "plan": asdict(plan),
        "host": host_facts(),
    }
    try:
        script = write_script(workdir)
        results["lambdalite"] = section(
            "lambdalite",
            lambda: bench_lambdalite(workdir, wrk, script, plan, PROFILE if args.profile else None),
        )
        results["echo"] = section(
            "echo baseline (uvicorn)", lambda: bench_echo(workdir, wrk, script, plan, "uvicorn")
        )
        results["echo_lambdalite_http"] = section(
            "echo baseline (lambdalite's HTTP server)",
            lambda: bench_echo(workdir, wrk, script, plan, "lambdalite"),
        )
        if args.baseline is not None:
            baseline = args.baseline.resolve()
            results["lambdalite_baseline"] = section(
                "lambdalite (baseline)",
                lambda: bench_lambdalite(workdir, wrk, script, plan, None, tree=baseline),
            )
            results["echo_baseline_http"] = section(
                "echo baseline (the baseline's HTTP server)",
                lambda: bench_echo(workdir, wrk, script, plan, "lambdalite", tree=baseline),
            )
        results["serverless_offline"] = section(
            "serverless-offline", lambda: bench_peer(workdir, wrk, script, plan)
        )
    finally:
        if args.keep_logs:
            console.print(f"logs and data kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    results["ratios"] = compute_ratios(results)
    results["targets"] = evaluate_targets(results)
    results["seconds"] = round(time.monotonic() - started, 1)
    results["host"]["load_average_1m_end"] = os.getloadavg()[0]
    results["host"]["cpu_busy_after_percent"] = psutil.cpu_percent(interval=1.0)

    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2, default=str) + "\n")
    console.print(render(results))
    if "profile" in results["lambdalite"]:
        console.print(render_profile(results["lambdalite"]["profile"]))
    for server in SERVERS:
        if "error" in results[server]:
            console.print(f"[red]{server}: {results[server]['error']}[/red]", highlight=False)
    busy = max(results["host"]["cpu_busy_before_percent"], results["host"]["cpu_busy_after_percent"])
    if busy > BUSY_WARNING_PERCENT:
        console.print(
            f"[yellow]other work kept the CPUs {busy:.0f}% busy around this run: noisy figures[/yellow]"
        )
    console.print(f"ran {results['seconds']} s; results in {args.output}")
    return 1 if "error" in results["lambdalite"] else 0


if __name__ == "__main__":
    sys.exit(main())
