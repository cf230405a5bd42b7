"""The queue service's throughput and latency, beside moto's server, in one run.

    .venv/bin/python bench/sqs_bench.py [--quick] [--rounds N] [--clients 16]

Servers, both on loopback, started once with fresh state:

lambdalite
    ``python -m lambdalite serve`` from this tree (messages in SQLite, WAL).
moto
    moto's standalone server (pinned by /work/shared/peers/moto-server.sh): in memory,
    no durability; the peer baseline.

The load generator is a raw asyncio client for SQS's JSON protocol (pre-built
requests, one keep-alive connection per client, uvloop when present), so that the
CPU it spends is a small part of what it measures (boto3 costs about 1.35 ms of
client CPU per call here, more than the server's work). Requests are unsigned;
both servers route them by ``X-Amz-Target``.

Per round and per server (servers alternate within a round so both see the same
noise), on a fresh queue:

send        ``--clients`` clients send SendMessageBatch (10 messages of 100 bytes)
            for ``duration`` seconds: messages/s, and p50/p99 per batch call;
drain       the same clients ReceiveMessage (10, VisibilityTimeout 60) and
            DeleteMessageBatch what they got until the queue is empty or the time
            is up: messages/s received and deleted, p50/p99 per receive+delete pair;
sequential  one client: SendMessage, ReceiveMessage, DeleteMessage one at a time,
            p50/p99 of each.

The CPU each server spends per message (its process and children, user + system)
is measured over the send and drain phases too: on a shared, noisy machine it is
the steadier figure of the two.

A figure is the median over rounds; a ratio is lambdalite / moto per round, median.
Targets (issue 13): >= 20,000 messages/s sent in batches and >= 3x moto.
Prints one table; writes bench/results/sqs.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import psutil
from rich.console import Console
from rich.table import Table
from services import Service, ServiceError, free_port, start_lambdalite

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results" / "sqs.json"
MOTO_SETUP = Path("/work/shared/peers/moto-server.sh")
HOST = "127.0.0.1"
BODY = "x" * 100
_AUTHORIZATION = (
    b"Authorization: AWS4-HMAC-SHA256 Credential=bench/20240101/us-east-1/sqs/aws4_request, "
    b"SignedHeaders=host, Signature=0\r\n"
)
"""Not a valid signature (neither server checks one); moto routes by the credential scope."""
SEND_TARGET_PER_S = 20_000
RATIO_TARGET = 3.0

console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)


class Connection:
    """One keep-alive HTTP/1.1 connection speaking SQS's JSON protocol."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._host = f"{HOST}:{port}".encode()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    @classmethod
    async def open(cls, port: int) -> Connection:
        connection = cls(port)
        await connection._connect()
        return connection

    async def _connect(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(HOST, self._port)
        sock = self._writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def request(self, operation: str, payload: dict[str, Any]) -> bytes:
        body = orjson.dumps(payload)
        return (
            b"POST / HTTP/1.1\r\nHost: %s\r\nX-Amz-Target: AmazonSQS.%s\r\n%s"
            b"Content-Type: application/x-amz-json-1.0\r\nContent-Length: %d\r\n\r\n%s"
            % (self._host, operation.encode(), _AUTHORIZATION, len(body), body)
        )

    async def send(self, raw: bytes) -> dict[str, Any]:
        if self._writer is None or self._reader is None:
            await self._connect()
        assert self._writer is not None and self._reader is not None
        self._writer.write(raw)
        head = await self._reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        close = False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        body = await self._reader.readexactly(length) if length else b""
        if close:
            # moto's server (werkzeug) closes every connection: the next request reconnects.
            self.close()
        if status != 200:
            raise RuntimeError(f"HTTP {status}: {body[:300]!r}")
        result: dict[str, Any] = orjson.loads(body) if body else {}
        return result

    async def call(self, operation: str, payload: dict[str, Any]) -> dict[str, Any]:
        return await self.send(self.request(operation, payload))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


@dataclass
class Figures:
    send_per_s: float = 0.0
    send_p50_ms: float = 0.0
    send_p99_ms: float = 0.0
    drain_per_s: float = 0.0
    drain_p50_ms: float = 0.0
    drain_p99_ms: float = 0.0
    send_cpu_us: float = 0.0
    """Server CPU (user + system, with its children) per message sent."""
    drain_cpu_us: float = 0.0
    """Server CPU per message received and deleted."""
    sequential_ms: dict[str, dict[str, float]] = field(default_factory=dict)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def cpu_seconds(pid: int) -> float:
    """CPU time of a process and its descendants so far."""
    total = 0.0
    process = psutil.Process(pid)
    for each in (process, *process.children(recursive=True)):
        try:
            times = each.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


async def measure(pid: int, port: int, queue: str, clients: int, duration: float, sequential: int) -> Figures:
    figures = Figures()
    connections = [await Connection.open(port) for _ in range(clients)]
    try:
        url = (await connections[0].call("CreateQueue", {"QueueName": queue}))["QueueUrl"]
        entries = [{"Id": str(i), "MessageBody": BODY} for i in range(10)]
        send_latencies: list[float] = []

        async def sender(connection: Connection, until: float) -> int:
            raw = connection.request("SendMessageBatch", {"QueueUrl": url, "Entries": entries})
            sent = 0
            while time.perf_counter() < until:
                start = time.perf_counter()
                answer = await connection.send(raw)
                send_latencies.append(time.perf_counter() - start)
                sent += len(answer.get("Successful", []))
            return sent

        cpu = cpu_seconds(pid)
        start = time.perf_counter()
        counts = await asyncio.gather(*(sender(c, start + duration) for c in connections))
        elapsed = time.perf_counter() - start
        figures.send_cpu_us = (cpu_seconds(pid) - cpu) / max(1, sum(counts)) * 1e6
        figures.send_per_s = sum(counts) / elapsed
        figures.send_p50_ms = percentile(send_latencies, 0.5) * 1000
        figures.send_p99_ms = percentile(send_latencies, 0.99) * 1000

        drain_latencies: list[float] = []

        async def drainer(connection: Connection, until: float) -> int:
            raw = connection.request(
                "ReceiveMessage", {"QueueUrl": url, "MaxNumberOfMessages": 10, "VisibilityTimeout": 60}
            )
            drained = 0
            while time.perf_counter() < until:
                begin = time.perf_counter()
                messages = (await connection.send(raw)).get("Messages", [])
                if not messages:
                    break
                handles = [
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
                ]
                await connection.call("DeleteMessageBatch", {"QueueUrl": url, "Entries": handles})
                drain_latencies.append(time.perf_counter() - begin)
                drained += len(messages)
            return drained

        cpu = cpu_seconds(pid)
        start = time.perf_counter()
        counts = await asyncio.gather(*(drainer(c, start + duration) for c in connections))
        elapsed = time.perf_counter() - start
        figures.drain_cpu_us = (cpu_seconds(pid) - cpu) / max(1, sum(counts)) * 1e6
        figures.drain_per_s = sum(counts) / elapsed
        figures.drain_p50_ms = percentile(drain_latencies, 0.5) * 1000
        figures.drain_p99_ms = percentile(drain_latencies, 0.99) * 1000

        one = connections[0]
        await one.call("PurgeQueue", {"QueueUrl": url})
        timings: dict[str, list[float]] = {"SendMessage": [], "ReceiveMessage": [], "DeleteMessage": []}
        send_raw = one.request("SendMessage", {"QueueUrl": url, "MessageBody": BODY})
        receive_raw = one.request("ReceiveMessage", {"QueueUrl": url, "MaxNumberOfMessages": 1})
        for _ in range(sequential):
            begin = time.perf_counter()
            await one.send(send_raw)
            timings["SendMessage"].append(time.perf_counter() - begin)
            begin = time.perf_counter()
            messages = (await one.send(receive_raw)).get("Messages", [])
            timings["ReceiveMessage"].append(time.perf_counter() - begin)
            if messages:
                begin = time.perf_counter()
                await one.call(
                    "DeleteMessage", {"QueueUrl": url, "ReceiptHandle": messages[0]["ReceiptHandle"]}
                )
                timings["DeleteMessage"].append(time.perf_counter() - begin)
        figures.sequential_ms = {
            name: {"p50": percentile(values, 0.5) * 1000, "p99": percentile(values, 0.99) * 1000}
            for name, values in timings.items()
        }
    finally:
        for connection in connections:
            connection.close()
    return figures


def start_moto(scratch: Path) -> tuple[Service, int] | None:
    try:
        moto = subprocess.run(
            ["sh", str(MOTO_SETUP)], capture_output=True, text=True, check=True, timeout=600
        )
    except (OSError, subprocess.SubprocessError) as exc:
        console.print(f"[yellow]moto unavailable: {exc}[/]")
        return None
    port = free_port()
    service = Service(
        "moto", [moto.stdout.strip(), "-H", HOST, "-p", str(port)], log_path=scratch / "moto.log"
    )

    def ready() -> bool:
        with socket.create_connection((HOST, port), timeout=0.2):
            return True

    service.wait_until(ready, 60, "its port")
    return service, port


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="1 round, 2 s phases")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per throughput phase")
    parser.add_argument("--sequential", type=int, default=300, help="calls per sequential operation")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.duration, args.sequential = 1, 2.0, 100
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    results: dict[str, list[Figures]] = {"lambdalite": [], "moto": []}
    with tempfile.TemporaryDirectory(prefix="sqs-bench-") as tmp:
        scratch = Path(tmp)
        servers: dict[str, tuple[Service, int]] = {}
        try:
            servers["lambdalite"] = start_lambdalite(scratch)
            moto = start_moto(scratch)
            if moto is not None:
                servers["moto"] = moto
            for round_index in range(args.rounds):
                order = list(servers) if round_index % 2 == 0 else list(reversed(servers))
                for name in order:
                    service, port = servers[name]
                    queue = f"bench-{round_index}"
                    figures = asyncio.run(
                        measure(service.pid, port, queue, args.clients, args.duration, args.sequential)
                    )
                    results[name].append(figures)
                    console.print(
                        f"round {round_index + 1} {name}: send {figures.send_per_s:,.0f}/s, "
                        f"drain {figures.drain_per_s:,.0f}/s"
                    )
        except ServiceError as exc:
            console.print(f"[red]{exc}[/]")
            return 1
        finally:
            for service, _ in servers.values():
                service.stop()
    report = summarise(results, args)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    console.print(f"written to {RESULTS.relative_to(REPO)}")
    return 0 if report["targets"]["pass"] else 1


def summarise(results: dict[str, list[Figures]], args: argparse.Namespace) -> dict[str, Any]:
    def med(name: str, key: str) -> float:
        return median([getattr(f, key) for f in results[name]])

    def ratio(key: str, higher_is_better: bool = True) -> float | None:
        pairs = list(zip(results["lambdalite"], results["moto"], strict=False))
        if not pairs:
            return None
        values = [
            (getattr(a, key) / getattr(b, key)) if higher_is_better else (getattr(b, key) / getattr(a, key))
            for a, b in pairs
            if getattr(a, key) and getattr(b, key)
        ]
        return median(values) if values else None

    table = Table(title=f"SQS JSON protocol, {args.clients} clients, median of {args.rounds} round(s)")
    table.add_column("figure")
    table.add_column("lambdalite", justify="right")
    table.add_column("moto", justify="right")
    table.add_column("lambdalite vs moto", justify="right")
    rows: list[tuple[str, str, bool]] = [
        ("SendMessageBatch messages/s", "send_per_s", True),
        ("  per call p50 ms", "send_p50_ms", False),
        ("  per call p99 ms", "send_p99_ms", False),
        ("  server CPU µs per message", "send_cpu_us", False),
        ("Receive+DeleteBatch messages/s", "drain_per_s", True),
        ("  per pair p50 ms", "drain_p50_ms", False),
        ("  per pair p99 ms", "drain_p99_ms", False),
        ("  server CPU µs per message", "drain_cpu_us", False),
    ]
    have_moto = bool(results["moto"])
    summary: dict[str, Any] = {}
    for label, key, higher in rows:
        ours = med("lambdalite", key)
        theirs = med("moto", key) if have_moto else None
        r = ratio(key, higher) if have_moto else None
        summary[key] = {"lambdalite": ours, "moto": theirs, "ratio": r}
        fmt = "{:,.0f}" if higher else "{:.2f}"
        table.add_row(
            label,
            fmt.format(ours),
            fmt.format(theirs) if theirs is not None else "n/a",
            f"{r:.1f}x {'faster' if higher else 'lower'}" if r else "n/a",
        )
    for operation in ("SendMessage", "ReceiveMessage", "DeleteMessage"):
        for q in ("p50", "p99"):
            ours = median([f.sequential_ms[operation][q] for f in results["lambdalite"]])
            theirs = median([f.sequential_ms[operation][q] for f in results["moto"]]) if have_moto else None
            summary[f"{operation}_{q}_ms"] = {"lambdalite": ours, "moto": theirs}
            table.add_row(
                f"sequential {operation} {q} ms",
                f"{ours:.2f}",
                f"{theirs:.2f}" if theirs is not None else "n/a",
                f"{theirs / ours:.1f}x lower" if theirs and ours else "n/a",
            )
    console.print(table)
    send = summary["send_per_s"]
    checks = {
        f"send >= {SEND_TARGET_PER_S:,}/s": send["lambdalite"] >= SEND_TARGET_PER_S,
        f"send >= {RATIO_TARGET}x moto": bool(send["ratio"] and send["ratio"] >= RATIO_TARGET),
    }
    for name, ok in checks.items():
        console.print(f"{'PASS' if ok else 'FAIL'}  {name}")
    return {
        "when": datetime.now(UTC).isoformat(),
        "host": platform.node(),
        "cpus": __import__("os").cpu_count(),
        "clients": args.clients,
        "rounds": args.rounds,
        "duration_s": args.duration,
        "summary": summary,
        "rounds_raw": {name: [asdict(f) for f in figures] for name, figures in results.items()},
        "targets": {"checks": checks, "pass": all(checks.values())},
    }


if __name__ == "__main__":
    sys.exit(main())
