"""Queue to function through an event source mapping (issue 13).

    .venv/bin/python bench/esm_bench.py [--quick]

Starts its own ``python -m lambdalite serve`` on a free port with a fresh data
directory (bench/services.py: stopped with everything it forked on every path),
creates a Python 3.11 function that, as its first act, sends one UDP datagram
to the benchmark (the time it started and how many records it got), and
measures:

* send to handler start, warm: a standard queue, a mapping with BatchSize 1 and
  no batching window, the environment warmed first. Each sample sends one
  message with SendMessage (the JSON protocol on one keep-alive raw socket with
  TCP_NODELAY, bench/keepalive.py: no SDK CPU in the figure) and waits for the
  handler's datagram; the sample is handler start minus the moment just
  before the request was written (one clock: same host). Target: p50 <= 10 ms.
* drain rate: ``messages`` messages are sent in batches of 10 while the
  mapping is disabled; the mapping (BatchSize 100, MaximumBatchingWindowInSeconds
  1) is then enabled and the clock runs until every message was delivered to the
  handler and deleted from the queue. Reported as messages per second.

Prints one table and writes bench/results/esm.json.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from keepalive import KeepAliveClient
from recording import exit_on_sigterm, record
from rich.console import Console
from rich.table import Table
from services import hello_zip, lambda_client, lambdalite_running

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "results" / "esm.json"
HOST = "127.0.0.1"
ACCOUNT = "000000000000"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/lambda-role"
LATENCY_TARGET_MS = 10.0
HANDLER = """
import json, os, socket, time

_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
_to = ("127.0.0.1", int(os.environ["BENCH_UDP_PORT"]))

def handler(event, context):
    started = time.time()
    records = event["Records"]
    _sock.sendto(json.dumps({"t": started, "n": len(records), "first": records[0]["body"]}).encode(), _to)
    return {}
"""

console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)


@dataclass(frozen=True, slots=True)
class Plan:
    warmup: int
    samples: int
    messages: int


FULL = Plan(warmup=50, samples=1000, messages=20_000)
QUICK = Plan(warmup=10, samples=100, messages=2_000)


def percentile(ordered: list[float], q: float) -> float:
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def summary(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    return {
        "p50_ms": percentile(ordered, 0.50),
        "p99_ms": percentile(ordered, 0.99),
        "mean_ms": statistics.fmean(ordered),
        "count": len(ordered),
    }


def sqs_request(port: int, operation: str, body: dict[str, Any]) -> bytes:
    """One SQS JSON-protocol request (unsigned: routed by its X-Amz-Target)."""
    data = json.dumps(body).encode()
    head = (
        f"POST / HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
        "Content-Type: application/x-amz-json-1.0\r\n"
        f"X-Amz-Target: AmazonSQS.{operation}\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    )
    return head.encode("ascii") + data


def sqs_client(port: int) -> Any:
    return boto3.client(
        "sqs",
        endpoint_url=f"http://{HOST}:{port}",
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )


def wait_enabled(lam: Any, uuid: str, state: str = "Enabled") -> None:
    deadline = time.monotonic() + 30
    while lam.get_event_source_mapping(UUID=uuid)["State"] != state:
        if time.monotonic() > deadline:
            raise RuntimeError(f"mapping {uuid} never became {state}")
        time.sleep(0.02)


def measure_latency(port: int, udp: socket.socket, lam: Any, sqs: Any, plan: Plan) -> dict[str, Any]:
    url = sqs.create_queue(QueueName="latency", Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
    uuid = lam.create_event_source_mapping(
        FunctionName="bench-esm", EventSourceArn=f"arn:aws:sqs:us-east-1:{ACCOUNT}:latency", BatchSize=1
    )["UUID"]
    wait_enabled(lam, uuid)
    samples: list[float] = []
    with KeepAliveClient(HOST, port) as client:
        for number in range(plan.warmup + plan.samples):
            request = sqs_request(port, "SendMessage", {"QueueUrl": url, "MessageBody": str(number)})
            before = time.time()
            response = client.roundtrip(request)
            if response.status != 200:
                raise RuntimeError(f"SendMessage answered {response.status}: {response.body[:200]!r}")
            while True:
                report = json.loads(udp.recv(65536))
                if report["first"] == str(number):
                    break
            if number >= plan.warmup:
                samples.append((report["t"] - before) * 1000)
    lam.delete_event_source_mapping(UUID=uuid)
    result: dict[str, Any] = summary(samples)
    result["pass"] = result["p50_ms"] <= LATENCY_TARGET_MS
    return result


def measure_drain(udp: socket.socket, lam: Any, sqs: Any, plan: Plan) -> dict[str, Any]:
    url = sqs.create_queue(QueueName="drain", Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
    uuid = lam.create_event_source_mapping(
        FunctionName="bench-esm",
        EventSourceArn=f"arn:aws:sqs:us-east-1:{ACCOUNT}:drain",
        BatchSize=100,
        MaximumBatchingWindowInSeconds=1,
        Enabled=False,
    )["UUID"]
    wait_enabled(lam, uuid, "Disabled")
    for start in range(0, plan.messages, 10):
        entries = [
            {"Id": str(n), "MessageBody": f"m{start + n}"} for n in range(min(10, plan.messages - start))
        ]
        sqs.send_message_batch(QueueUrl=url, Entries=entries)
    udp.settimeout(60)
    started = time.monotonic()
    lam.update_event_source_mapping(UUID=uuid, Enabled=True)
    delivered = batches = 0
    while delivered < plan.messages:
        report = json.loads(udp.recv(65536))
        if report["first"].startswith("m"):
            delivered += report["n"]
            batches += 1
    delivered_s = time.monotonic() - started
    while True:
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        left = int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )
        if left == 0:
            break
        time.sleep(0.005)
    drained_s = time.monotonic() - started
    lam.delete_event_source_mapping(UUID=uuid)
    return {
        "messages": plan.messages,
        "batches": batches,
        "mean_batch": round(plan.messages / batches, 1),
        "delivered_s": round(delivered_s, 3),
        "drained_s": round(drained_s, 3),
        "messages_per_s": round(plan.messages / drained_s),
    }


def run(plan: Plan) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="lambdalite-esm-bench-"))
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp,
        lambdalite_running(workdir, env={"PYTHONUNBUFFERED": "1", "LAMBDALITE_KEEP_ALIVE_S": "600"}) as port,
    ):
        udp.bind((HOST, 0))
        udp.settimeout(30)
        lam, sqs = lambda_client(port), sqs_client(port)
        lam.create_function(
            FunctionName="bench-esm",
            Runtime="python3.11",
            Role=ROLE,
            Handler="app.handler",
            Code={"ZipFile": hello_zip(HANDLER)},
            Environment={"Variables": {"BENCH_UDP_PORT": str(udp.getsockname()[1])}},
            Timeout=10,
        )
        lam.get_waiter("function_active_v2").wait(FunctionName="bench-esm", WaiterConfig={"Delay": 0.1})
        return {
            "send_to_handler": measure_latency(port, udp, lam, sqs, plan),
            "drain": measure_drain(udp, lam, sqs, plan),
        }


def render(results: dict[str, Any]) -> None:
    latency = results["send_to_handler"]
    mark = "[green]pass[/green]" if latency["pass"] else "[red]FAIL[/red]"
    table = Table(title="lambdalite: SQS event source mapping")
    for column in ("measurement", "p50 ms", "p99 ms", "mean ms", "n", "target"):
        table.add_column(column, justify="left" if column == "measurement" else "right")
    table.add_row(
        "SendMessage -> handler start (warm, BatchSize 1)",
        f"{latency['p50_ms']:.2f}",
        f"{latency['p99_ms']:.2f}",
        f"{latency['mean_ms']:.2f}",
        str(latency["count"]),
        f"p50 <= {LATENCY_TARGET_MS:.0f} ms {mark}",
    )
    console.print(table)
    drain = results["drain"]
    table = Table(title="one mapping draining a queue (BatchSize 100, window 1 s)")
    for column in ("messages", "batches", "mean batch", "delivered s", "drained s", "messages/s"):
        table.add_column(column, justify="right")
    table.add_row(
        str(drain["messages"]),
        str(drain["batches"]),
        str(drain["mean_batch"]),
        str(drain["delivered_s"]),
        str(drain["drained_s"]),
        str(drain["messages_per_s"]),
    )
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer samples and messages (about 15 seconds)")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"JSON results (default {RESULTS})")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    exit_on_sigterm()
    results = record(plan, args.quick, lambda: run(plan), args.output)
    render(results)
    console.print(f"results: {args.output} ({results['duration_s']} s)")
    return 0 if results["send_to_handler"]["pass"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
