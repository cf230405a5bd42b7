"""What asynchronous invocation costs (issue 12): durable accepts, and the way to the handler.

    .venv/bin/python bench/async_bench.py [--seconds 5] [--clients 16] [--starts 200] [--profile]
        [--kills 5] [--events 10000] [--before REF [--rounds 3]]

Starts its own ``python -m lambdalite serve`` on a free port with a fresh data
directory (bench/services.py: stopped with everything it forked on every
path), creates Python 3.11 functions with boto3, then, in one run:

* sync baseline: wrk, ``--clients`` connections for ``--seconds``, Invoke
  (RequestResponse) of the hello function: invokes/s, p50/p99;
* accept burst: the same wrk load with ``X-Amz-Invocation-Type: Event``:
  every answer is a 202 sent only after the event is durable in the queue
  (SQLite WAL, synchronous=FULL, group commit), so requests/s is events/s
  durably accepted and wrk's latency is the accept latency. Execution goes on
  behind the burst; the run then waits until the backlog has drained and checks
  that every accepted event was delivered (backlog view, /_lambdalite/async).
  The CPU the server process (all its threads) and its descendants (the
  environments) used during the burst and until the drain, per event, is the
  figure that survives a shared machine (the event loop's thread's share of it
  is shown too: at 16 clients the loop's CPU per accept bounds the accept rate,
  and so, by Little's law, the accept latency); ``--profile`` samples the server with
  py-spy during the burst (bench/results/async-profile.txt, summarised).
  ``--before REF`` runs the same sync baseline, burst and drain on lambdalite
  as of git REF too (a worktree, this virtualenv), in alternating rounds
  (``--rounds``, 3 by default then), and prints after/before of the medians:
  the comparison that survives a busy machine;
* 202 to handler: ``--starts`` Event invokes one at a time, each after the
  previous one's handler has started, on a warm environment: the handler sends
  its start time (time.time()) over TCP; the figure is that minus the time the
  client read the 202, p50/p99; and each of those accepts' round trip (the
  accept latency of one client, beside the burst's 16).

* kill -9 (``--kills``, ``--events``; 0 kills skips it): a second server on its
  own data directory is sent ``--events`` Event invokes by 8 raw-socket
  clients and killed with SIGKILL ``--kills`` times along the way (restarted on
  the same data directory each time); the handler reports each run over TCP.
  After the last restart every event that got a 202 must run: lost = accepted
  minus run, and duplicates (runs beyond the first) are counted.

Targets (2 cores): >= 5,000 events/s accepted durably, >= 0.4x the sync
invokes/s of the same run, accept p50 <= 1 ms, 202-to-handler p50 <= 5 ms,
0 events lost across 5 kill -9 restarts of 10,000 events.
Prints a table and writes bench/results/async.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import signal
import socket
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import profiling
import psutil
import worktree
from keepalive import HttpProtocolError, KeepAliveClient, build_request
from rich.console import Console
from rich.table import Table
from services import Service, free_port, hello_zip, lambda_client
from wrkrun import WrkResult, ensure_wrk, run_wrk

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results" / "async.json"
PROFILE = BENCH_DIR / "results" / "async-profile.txt"
PYTHON = sys.executable
READY_LINE = "lambdalite listening on"

TARGET_EVENTS_PER_S = 5000.0
TARGET_SYNC_RATIO = 0.4
TARGET_ACCEPT_P50_MS = 1.0
TARGET_HANDLER_P50_MS = 5.0

EVENT_SCRIPT = """\
wrk.method = "POST"
wrk.body = "{}"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Amz-Invocation-Type"] = "Event"
"""
SYNC_SCRIPT = """\
wrk.method = "POST"
wrk.body = "{}"
wrk.headers["Content-Type"] = "application/json"
"""
STAMP_HANDLER = """\
import json, os, socket, time, urllib.parse

# The host as this function reaches it (its own network namespace reaches the host's
# opened ports at AWS_ENDPOINT_URL's address); TCP, which a namespace's port opening carries.
_host = urllib.parse.urlsplit(os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1")).hostname
_to = (_host, int(os.environ["STAMP_PORT"]))

def handler(event, context):
    started = time.time()
    with socket.create_connection(_to, timeout=5) as out:
        out.sendall(json.dumps({"rid": context.aws_request_id, "t": started}).encode() + b"\\n")
    return {"ok": True}
"""


class StampListener:
    """Where the stamp handler reports (a TCP listener on loopback; one JSON line per
    connection, read by a thread into a queue)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1024)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stamps: queue.Queue[dict[str, Any]] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def env(self) -> dict[str, str]:
        """The stamp function's variables: this port, opened to its network namespace."""
        return {"STAMP_PORT": str(self.port), "LAMBDALITE_HOST_PORTS": str(self.port)}

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                data = b""
                while not data.endswith(b"\n"):
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            if data.strip():
                self.stamps.put(json.loads(data))

    def next(self, timeout_s: float = 10) -> dict[str, Any]:
        return self.stamps.get(timeout=timeout_s)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


console = Console()


def invoke_path(name: str) -> str:
    return f"/2015-03-31/functions/{name}/invocations"


def create(client: Any, name: str, source: str, env: dict[str, str] | None = None) -> None:
    client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role="arn:aws:iam::000000000000:role/bench",
        Handler="app.handler",
        Code={"ZipFile": hello_zip(source)},
        Environment={"Variables": env or {}},
    )
    client.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1})


def backlog(port: int, name: str) -> dict[str, int]:
    url = f"http://127.0.0.1:{port}/_lambdalite/async/{name}"
    with urllib.request.urlopen(url, timeout=10) as answer:
        functions: dict[str, dict[str, int]] = json.loads(answer.read())["Functions"]
    return functions.get(name, {})


def wrk_run(wrk: str, workdir: Path, script: str, port: int, clients: int, seconds: int) -> WrkResult:
    path = workdir / f"script-{abs(hash(script))}.lua"
    path.write_text(script)
    return run_wrk(
        wrk, path, f"http://127.0.0.1:{port}{invoke_path('hello')}", connections=clients, duration_s=seconds
    )


def drain(port: int, expected: int, timeout_s: float = 300) -> tuple[float, dict[str, int]]:
    """Wait until ``expected`` events of hello were delivered and nothing waits."""
    started = time.monotonic()
    while True:
        counts = backlog(port, "hello")
        finished = counts.get("Delivered", 0) + counts.get("Failed", 0)
        idle = not (counts.get("Waiting", 0) or counts.get("Running", 0) or counts.get("Retrying", 0))
        if finished >= expected and idle:
            return time.monotonic() - started, counts
        if time.monotonic() - started > timeout_s:
            raise SystemExit(f"the backlog did not drain within {timeout_s} s: {counts}")
        time.sleep(0.1)


def event_request(port: int, name: str) -> bytes:
    """The bytes of one Event invoke of ``name`` with an empty JSON payload."""
    request = build_request("POST", "127.0.0.1", port, invoke_path(name), b"{}")
    return request.replace(b"\r\n\r\n", b"\r\nX-Amz-Invocation-Type: Event\r\n\r\n", 1)


def handler_starts(port: int, stamps: StampListener, count: int) -> tuple[list[float], list[float]]:
    """Milliseconds from reading the 202 to the handler's start, one event at a time,
    and each accept's own round trip (one client)."""
    request = event_request(port, "stamp")
    gaps: list[float] = []
    accepts: list[float] = []
    with KeepAliveClient("127.0.0.1", port) as client:
        for n in range(count + 10):
            sent = time.perf_counter()
            response = client.roundtrip(request)
            accepted_at = time.time()
            accept_ms = (time.perf_counter() - sent) * 1000
            if response.status != 202:
                raise SystemExit(f"stamp: expected 202, got {response.status}: {response.body!r}")
            request_id = response.headers["x-amzn-requestid"]
            while True:
                stamp = stamps.next()
                if stamp["rid"] == request_id:
                    break
            if n >= 10:  # the first ones warm the environment up
                gaps.append((stamp["t"] - accepted_at) * 1000)
                accepts.append(accept_ms)
    return gaps, accepts


class RunReports:
    """Request ids the stamp handler reported, counted (a thread drains the listener)."""

    def __init__(self) -> None:
        self.listener = StampListener()
        self.runs: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def env(self) -> dict[str, str]:
        return self.listener.env()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                self.runs[self.listener.next(0.2)["rid"]] += 1
            except queue.Empty:
                continue

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.listener.close()


def start_server(workdir: Path, data: Path, port: int, name: str) -> Service:
    service = Service(
        name,
        [PYTHON, "-m", "lambdalite", "serve", "--port", str(port), "--data-dir", str(data)],
        log_path=workdir / f"{name}.log",
        cwd=REPO,
        env={"PYTHONUNBUFFERED": "1"},
    )
    service.wait_for_line(READY_LINE, timeout_s=30)
    return service


def send_events(port: int, quota: int, accepted: list[str], lock: threading.Lock) -> None:
    """Send Event invokes of stamp until ``quota`` are accepted in all or the server is gone."""
    request = event_request(port, "stamp")
    try:
        with KeepAliveClient("127.0.0.1", port, timeout_s=5) as client:
            while True:
                with lock:
                    if len(accepted) >= quota:
                        return
                response = client.roundtrip(request)
                if response.status == 202:
                    with lock:
                        accepted.append(response.headers["x-amzn-requestid"])
    except (OSError, HttpProtocolError):
        return  # killed: what was not answered 202 was not accepted


def crash_phase(workdir: Path, kills: int, events: int) -> dict[str, Any]:
    """Send ``events`` Event invokes across ``kills`` SIGKILLs; count lost and duplicate runs."""
    reports = RunReports()
    data = workdir / "crash-data"
    port = free_port()
    accepted: list[str] = []
    lock = threading.Lock()
    try:
        for life in range(kills + 1):
            service = start_server(workdir, data, port, f"crash-{life}")
            try:
                if life == 0:
                    create(lambda_client(port), "stamp", STAMP_HANDLER, reports.env())
                if life == kills:
                    break
                quota = events * (life + 1) // kills
                senders = [
                    threading.Thread(target=send_events, args=(port, events, accepted, lock))
                    for _ in range(8)
                ]
                for sender in senders:
                    sender.start()
                while len(accepted) < quota and all(sender.is_alive() for sender in senders):
                    time.sleep(0.005)
                service.process.send_signal(signal.SIGKILL)
                service.process.wait(timeout=10)
                for sender in senders:
                    sender.join(timeout=30)
            finally:
                service.stop()
        service = start_server(workdir, data, port, "crash-last")
        try:
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline and any(reports.runs[rid] == 0 for rid in accepted):
                time.sleep(0.1)
        finally:
            service.stop()
    finally:
        reports.close()
    lost = sum(1 for rid in set(accepted) if reports.runs[rid] == 0)
    duplicates = sum(count - 1 for count in reports.runs.values() if count > 1)
    return {"kills": kills, "accepted": len(accepted), "lost": lost, "duplicate_runs": duplicates}


def cpu_seconds(pid: int) -> tuple[float, float]:
    """CPU seconds used so far by process ``pid`` (all threads) and by its descendants alive now."""
    process = psutil.Process(pid)
    descendants = 0.0
    for child in process.children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.Error:
            continue
        descendants += times.user + times.system
    own = process.cpu_times()
    return own.user + own.system, descendants


def loop_cpu_seconds(pid: int) -> float:
    """CPU seconds used so far by the server's event loop (its main thread; the rest of
    the server's CPU is its other threads: the group commit's writer, the thread pool)."""
    for thread in psutil.Process(pid).threads():
        if thread.id == pid:
            return float(thread.user_time + thread.system_time)
    return 0.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass(frozen=True, slots=True)
class BenchServer:
    name: str
    service: Service
    port: int


def start_bench_server(
    stack: ExitStack, workdir: Path, key: str, tree: Path, env: dict[str, str]
) -> BenchServer:
    """``python -m lambdalite serve`` from ``tree`` (this one, or a --before worktree) with ``hello``."""
    port = free_port()
    service = Service(
        key,
        [
            PYTHON,
            "-m",
            "lambdalite",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(workdir / f"{key}-data"),
        ],
        log_path=workdir / f"{key}.log",
        cwd=tree,
        env={"PYTHONUNBUFFERED": "1", **env},
    )
    stack.callback(service.stop)
    service.wait_for_line(READY_LINE, timeout_s=30)
    create(lambda_client(port), "hello", 'def handler(event, context):\n    return {"ok": True}\n')
    return BenchServer(key, service, port)


def burst_round(
    wrk: str, workdir: Path, server: BenchServer, args: argparse.Namespace, profile: bool
) -> dict[str, Any]:
    """The sync baseline, the Event burst and its drain on one server: the figures."""
    port, pid = server.port, server.service.pid
    wrk_run(wrk, workdir, SYNC_SCRIPT, port, args.clients, 1)  # warm-up, unmeasured
    sync = wrk_run(wrk, workdir, SYNC_SCRIPT, port, args.clients, args.seconds)
    before = backlog(port, "hello")
    finished_before = before.get("Delivered", 0) + before.get("Failed", 0)
    own_before, rest_before = cpu_seconds(pid)
    loop_before = loop_cpu_seconds(pid)
    with profiling.recording(pid, args.seconds, PROFILE) if profile else nullcontext():
        burst = wrk_run(wrk, workdir, EVENT_SCRIPT, port, args.clients, args.seconds)
    own_burst, rest_burst = cpu_seconds(pid)
    loop_burst = loop_cpu_seconds(pid)
    at_burst_end = backlog(port, "hello")
    if burst.non_2xx or burst.socket_errors:
        raise SystemExit(
            f"the burst had {burst.non_2xx} non-2xx answers, {burst.socket_errors} socket errors"
        )
    drained_s, counts = drain(port, finished_before + burst.requests)
    own_drained, rest_drained = cpu_seconds(pid)
    console.print(
        f"{server.name}: burst of {burst.requests} events drained {drained_s:.1f} s after it ended: {counts}"
    )
    events = burst.requests
    return {
        "sync": sync.to_json(),
        "burst": burst.to_json(),
        "events_per_s": burst.requests_per_s,
        "sync_ratio": burst.requests_per_s / sync.requests_per_s,
        "accept_p50_ms": burst.p50_ms,
        "accept_p99_ms": burst.p99_ms,
        "drain_after_burst_s": drained_s,
        "run_during_burst": at_burst_end.get("Delivered", 0)
        + at_burst_end.get("Failed", 0)
        - finished_before,
        "server_cpu_us_per_event_burst": (own_burst - own_before) / events * 1e6,
        "loop_cpu_us_per_event_burst": (loop_burst - loop_before) / events * 1e6,
        "environment_cpu_us_per_event_burst": (rest_burst - rest_before) / events * 1e6,
        "server_cpu_us_per_event_total": (own_drained - own_before) / events * 1e6,
        "environment_cpu_us_per_event_total": (rest_drained - rest_before) / events * 1e6,
        "delivered": counts.get("Delivered", 0) - finished_before,
        "failed": counts.get("Failed", 0) - before.get("Failed", 0),
    }


def medians(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Each numeric figure's median over ``rounds`` (the wrk reports of the median round by events/s)."""
    middle = sorted(rounds, key=lambda r: r["events_per_s"])[len(rounds) // 2]
    out: dict[str, Any] = {"sync": middle["sync"], "burst": middle["burst"]}
    for key, value in rounds[0].items():
        if isinstance(value, int | float):
            out[key] = statistics.median(r[key] for r in rounds)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--starts", type=int, default=200)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--profile", action="store_true", help="py-spy the server during the (last) burst")
    parser.add_argument(
        "--before",
        metavar="REF",
        help="also run the burst on lambdalite as of git REF (a worktree), in alternating rounds",
    )
    parser.add_argument("--rounds", type=int, help="burst rounds per server (default 1; 3 with --before)")
    args = parser.parse_args()
    if args.profile and profiling.py_spy() is None:
        raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")
    rounds = args.rounds or (3 if args.before else 1)
    wrk = ensure_wrk()
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="async-bench-")))
        this = start_bench_server(stack, workdir, "lambdalite", REPO, {})
        servers = [this]
        if args.before:
            earlier = stack.enter_context(worktree.checkout(REPO, args.before, workdir))
            servers.append(
                start_bench_server(
                    stack, workdir, f"before@{args.before}", earlier.path, earlier.environment()
                )
            )
        port = this.port
        stamps = StampListener()
        stack.callback(stamps.close)
        create(lambda_client(port), "stamp", STAMP_HANDLER, stamps.env())
        console.print(
            f"lambdalite on port {port}: sync baseline, then the Event burst ({rounds} round(s)) ..."
        )
        figures: dict[str, list[dict[str, Any]]] = {server.name: [] for server in servers}
        for index in range(rounds):
            order = servers if index % 2 == 0 else servers[::-1]
            for server in order:
                last = index == rounds - 1 and server is this
                figures[server.name].append(burst_round(wrk, workdir, server, args, args.profile and last))
        gaps, single_accepts = handler_starts(port, stamps, args.starts)
        result = {
            "when": datetime.now(UTC).isoformat(),
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            "load_average": os.getloadavg(),
            "clients": args.clients,
            "seconds": args.seconds,
            "rounds": rounds,
            **medians(figures[this.name]),
            "accept_one_client_p50_ms": statistics.median(single_accepts),
            "accept_one_client_p99_ms": percentile(single_accepts, 0.99),
            "handler_start_p50_ms": statistics.median(gaps),
            "handler_start_p99_ms": percentile(gaps, 0.99),
        }
        if args.before:
            result["before"] = {"ref": args.before, **medians(figures[servers[1].name])}
        result["each_round"] = {
            name: [{k: v for k, v in r.items() if isinstance(v, int | float)} for r in rounds_of]
            for name, rounds_of in figures.items()
        }
        if args.profile:
            result["profile"] = profiling.summarise(PROFILE)
        if args.kills:
            console.print(f"kill -9 {args.kills} times across {args.events} events ...")
            result["crash"] = crash_phase(workdir, args.kills, args.events)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    report(result)


COMPARED = (
    ("events_per_s", "events accepted durably/s"),
    ("accept_p50_ms", "accept p50 ms"),
    ("accept_p99_ms", "accept p99 ms"),
    ("sync_ratio", "events/s over sync invokes/s"),
    ("server_cpu_us_per_event_burst", "server CPU us / event, burst"),
    ("loop_cpu_us_per_event_burst", "  of it the event loop's"),
    ("server_cpu_us_per_event_total", "server CPU us / event, burst + drain"),
    ("run_during_burst", "events run while the burst lasted"),
)


def report(result: dict[str, Any]) -> None:
    table = Table(title=f"Asynchronous invocation, {result['clients']} clients, {result['seconds']} s")
    for column in ("figure", "value", "target", ""):
        table.add_column(column, justify="right" if column in {"value", "target"} else "left")

    def row(name: str, value: float, unit: str, target: float | None = None, at_most: bool = False) -> None:
        verdict = ""
        shown_target = ""
        if target is not None:
            ok = value <= target if at_most else value >= target
            verdict = "[green]PASS[/]" if ok else "[red]FAIL[/]"
            shown_target = f"{'<=' if at_most else '>='} {target:,.1f} {unit}"
        table.add_row(name, f"{value:,.2f} {unit}", shown_target, verdict)

    sync = result["sync"]
    row("sync invokes/s (baseline)", sync["requests_per_s"], "/s")
    row("sync p50 / p99", sync["p50_ms"], f"ms (p99 {sync['p99_ms']:.2f} ms)")
    row("events accepted durably/s", result["events_per_s"], "/s", TARGET_EVENTS_PER_S)
    row("  ... as a multiple of sync", result["sync_ratio"], "x", TARGET_SYNC_RATIO)
    row("accept p50", result["accept_p50_ms"], "ms", TARGET_ACCEPT_P50_MS, at_most=True)
    row("accept p99", result["accept_p99_ms"], "ms")
    row("accept p50, one client at a time", result["accept_one_client_p50_ms"], "ms")
    row("accept p99, one client at a time", result["accept_one_client_p99_ms"], "ms")
    row("events run while the burst lasted", result["run_during_burst"], "")
    row("backlog drained after the burst", result["drain_after_burst_s"], "s")
    row("server CPU / event during the burst", result["server_cpu_us_per_event_burst"], "us")
    row("  of it the event loop's (its thread)", result["loop_cpu_us_per_event_burst"], "us")
    row("environment CPU / event during the burst", result["environment_cpu_us_per_event_burst"], "us")
    row("server CPU / event, burst + drain", result["server_cpu_us_per_event_total"], "us")
    row("environment CPU / event, burst + drain", result["environment_cpu_us_per_event_total"], "us")
    row(
        "202 to handler start p50 (warm)",
        result["handler_start_p50_ms"],
        "ms",
        TARGET_HANDLER_P50_MS,
        at_most=True,
    )
    row("202 to handler start p99 (warm)", result["handler_start_p99_ms"], "ms")
    crash = result.get("crash")
    if crash:
        row(
            f"events lost across {crash['kills']} kill -9 ({crash['accepted']:,} accepted)",
            crash["lost"],
            "",
            0,
            at_most=True,
        )
        row("  duplicate runs after those kills", crash["duplicate_runs"], "")
    console.print(table)
    before = result.get("before")
    if before:
        compare = Table(
            title=f"Burst, this tree against {before['ref']} (medians of {result['rounds']} rounds)"
        )
        for column in ("figure", "before", "after", "after/before"):
            compare.add_column(column, justify="left" if column == "figure" else "right")
        for key, name in COMPARED:
            ratio = result[key] / before[key] if before[key] else float("nan")
            compare.add_row(name, f"{before[key]:,.2f}", f"{result[key]:,.2f}", f"{ratio:.2f}x")
        console.print(compare)
    console.print(f"load average at the end: {' '.join(f'{x:.2f}' for x in result['load_average'])}")
    profile = result.get("profile")
    if profile:
        for key in ("top_self", "top_inclusive"):
            console.print(f"py-spy {key} ({profile['samples']} samples, {profile['file']}):")
            for entry in profile[key]:
                console.print(f"  {entry['share'] * 100:5.1f}%  {entry['frame']}")
    console.print(f"delivered {result['delivered']}, failed {result['failed']}; written to {RESULTS}")


if __name__ == "__main__":
    main()
