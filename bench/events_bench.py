"""PutEvents throughput and publish-to-handler latency, against lambdalite and a moto
server in the same run (issue 15).

    .venv/bin/python bench/events_bench.py [--quick]

Starts ``lambdalite serve`` (fresh data directory) and moto's standalone server
(/work/shared/peers/moto-server.sh), both on free loopback ports, and sets up the
same things on each with boto3: an SQS queue, and 100 rules on the default bus
(rule i matches ``{"source": ["bench.app"], "detail-type": ["type-i"]}``), each
with the queue as its target. Then, with the same client code on both:

* PutEvents throughput: 16 threads, each on its own keep-alive connection
  (TCP_NODELAY), send signed PutEvents requests of 10 entries whose detail-types
  spread over the rules, so every event matches one rule and lands in the queue.
  Events accepted per second (FailedEntryCount checked). Target: >= 5,000/s.
* Publish to an SQS subscriber: a topic with the queue subscribed (raw delivery);
  sequential Publish, then receive; the time from Publish sent to message received.
* Publish to a Lambda handler (lambdalite only: moto runs Lambda handlers only in
  Docker, which this machine does not have): a topic with a Python function
  subscribed; the handler computes ``time.time() - sent`` at its start and reports
  it to a loopback collector off the measured path. Target: p50 <= 10 ms.

Prints one table and writes bench/results/events.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from keepalive import KeepAliveClient
from rich.console import Console
from rich.table import Table
from services import Service, free_port, hello_zip, start_lambdalite

BENCH_DIR = Path(__file__).resolve().parent
KEEP_ALIVE = {"LAMBDALITE_KEEP_ALIVE_S": "600"}
RESULTS = BENCH_DIR / "results" / "events.json"
MOTO_SCRIPT = Path("/work/shared/peers/moto-server.sh")
HOST = "127.0.0.1"
REGION = "us-east-1"
RULES = 100
CLIENTS = 16
BATCH = 10
ROLE = "arn:aws:iam::000000000000:role/lambda-role"
TARGETS = {"put_events_per_s": 5000, "publish_to_handler_p50_ms": 10.0}

HANDLER = """
import json, os, time, urllib.request

def handler(event, context):
    started = time.time()
    sent = float(event["Records"][0]["Sns"]["Message"])
    body = json.dumps({"latency_ms": (started - sent) * 1000}).encode()
    report = urllib.request.Request(os.environ["COLLECTOR"], data=body, method="POST")
    urllib.request.urlopen(report, timeout=10).read()
"""


def client(service: str, port: int) -> Any:
    return boto3.client(
        service,
        endpoint_url=f"http://{HOST}:{port}",
        region_name=REGION,
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}, read_timeout=60),
    )


def setup_rules(port: int) -> str:
    sqs = client("sqs", port)
    events = client("events", port)
    url: str = sqs.create_queue(QueueName="bench-sink")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    for n in range(RULES):
        pattern = {"source": ["bench.app"], "detail-type": [f"type-{n}"]}
        events.put_rule(Name=f"rule-{n}", EventPattern=json.dumps(pattern))
        events.put_targets(Rule=f"rule-{n}", Targets=[{"Id": "q", "Arn": arn}])
    return url


def signed_put_events(port: int, seed: int) -> bytes:
    """One signed PutEvents request of BATCH entries, as raw bytes (sent many times)."""
    entries = [
        {
            "Source": "bench.app",
            "DetailType": f"type-{(seed * BATCH + n) % RULES}",
            "Detail": json.dumps({"order": seed * BATCH + n, "total": 42.5, "items": ["a", "b"]}),
        }
        for n in range(BATCH)
    ]
    body = json.dumps({"Entries": entries}).encode()
    request = AWSRequest(
        method="POST",
        url=f"http://{HOST}:{port}/",
        data=body,
        headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "AWSEvents.PutEvents"},
    )
    SigV4Auth(Credentials("bench", "bench"), "events", REGION).add_auth(request)
    head = f"POST / HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Length: {len(body)}\r\n"
    for name, value in request.headers.items():
        if name.lower() not in ("host", "content-length"):
            head += f"{name}: {value}\r\n"
    return (head + "\r\n").encode() + body


def put_events_throughput(port: int, seconds: float) -> dict[str, Any]:
    requests = [signed_put_events(port, seed) for seed in range(CLIENTS)]
    counts = [0] * CLIENTS
    errors: list[str] = []
    stop = threading.Event()
    latencies: list[list[float]] = [[] for _ in range(CLIENTS)]

    def run(index: int) -> None:
        conn: KeepAliveClient | None = None
        reconnects = 0
        while not stop.is_set():
            try:
                if conn is None:
                    conn = KeepAliveClient(HOST, port, timeout_s=120)
                start = time.perf_counter()
                response = conn.roundtrip(requests[index])
            except OSError as exc:
                # A server that closes connections after each answer (moto's) is asked again on a new one.
                if conn is not None:
                    conn.close()
                conn = None
                reconnects += 1
                if reconnects > 100_000:
                    errors.append(f"client {index}: {exc}")
                    return
                continue
            latencies[index].append(time.perf_counter() - start)
            if response.headers.get("connection", "").lower() == "close":
                conn.close()
                conn = None
            if response.status != 200 or json.loads(response.body).get("FailedEntryCount", 0):
                errors.append(f"{response.status} {response.body[:200]!r}")
                return
            counts[index] += BATCH
        if conn is not None:
            conn.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)  # warm-up, not counted
    baseline = sum(counts)
    start = time.perf_counter()
    time.sleep(seconds)
    done = sum(counts) - baseline
    elapsed = time.perf_counter() - start
    stop.set()
    for thread in threads:
        thread.join()
    flat = sorted(x for per in latencies for x in per)
    return {
        "events_per_s": round(done / elapsed),
        "request_p50_ms": round(flat[len(flat) // 2] * 1000, 2) if flat else None,
        "request_p99_ms": round(flat[int(len(flat) * 0.99)] * 1000, 2) if flat else None,
        "errors": errors[:3],
    }


def publish_to_queue(port: int, count: int) -> dict[str, Any]:
    sns = client("sns", port)
    sqs = client("sqs", port)
    url = sqs.create_queue(QueueName="bench-topic-q")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic = sns.create_topic(Name="bench-topic-q")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    samples: list[float] = []
    for n in range(count):
        start = time.perf_counter()
        sns.publish(TopicArn=topic, Message=str(n))
        while True:
            messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", [])
            if messages:
                break
        samples.append((time.perf_counter() - start) * 1000)
        sqs.delete_message(QueueUrl=url, ReceiptHandle=messages[0]["ReceiptHandle"])
    return _percentiles(samples)


def publish_to_handler(port: int, count: int) -> dict[str, Any]:
    latencies: list[float] = []
    done = threading.Semaphore(0)

    class Collect(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            latencies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"])))["latency_ms"])
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
            done.release()

        def log_message(self, *args: Any) -> None:
            pass

    collector = ThreadingHTTPServer((HOST, 0), Collect)
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    try:
        lam = client("lambda", port)
        lam.create_function(
            FunctionName="bench-sns",
            Runtime="python3.11",
            Role=ROLE,
            Handler="app.handler",
            Code={"ZipFile": hello_zip(HANDLER)},
            Environment={"Variables": {"COLLECTOR": f"http://{HOST}:{collector.server_address[1]}/"}},
        )
        sns = client("sns", port)
        topic = sns.create_topic(Name="bench-topic-fn")["TopicArn"]
        function = "arn:aws:lambda:us-east-1:000000000000:function:bench-sns"
        sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=function)
        for n in range(count + 5):
            sns.publish(TopicArn=topic, Message=repr(time.time()))
            if not done.acquire(timeout=30):
                raise RuntimeError("the handler did not report")
            if n == 4:
                latencies.clear()  # the first few start environments
            time.sleep(0.01)
        return _percentiles(latencies)
    finally:
        collector.shutdown()
        collector.server_close()


def _percentiles(samples: list[float]) -> dict[str, Any]:
    ordered = sorted(samples)
    return {
        "count": len(ordered),
        "p50_ms": round(statistics.median(ordered), 2),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 2),
    }


def start_moto(scratch: Path) -> tuple[Service, int]:
    binary = subprocess.run(
        ["sh", str(MOTO_SCRIPT)], check=True, capture_output=True, text=True
    ).stdout.strip()
    port = free_port()
    service = Service("moto", [binary, "-H", HOST, "-p", str(port)], log_path=scratch / "moto.log")
    service.wait_until(lambda: KeepAliveClient(HOST, port, 1).close() is None, 60, "a listening port")
    return service, port


def measure(
    name: str, starter: Any, scratch: Path, seconds: float, samples: int, handler: bool
) -> dict[str, Any]:
    service, port = starter(scratch)
    try:
        setup_rules(port)
        result: dict[str, Any] = {"put_events": put_events_throughput(port, seconds)}
        result["publish_to_queue"] = publish_to_queue(port, samples)
        if handler:
            result["publish_to_handler"] = publish_to_handler(port, samples)
        return result
    finally:
        service.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="3 s of PutEvents and 50 publishes instead of 10 s and 200"
    )
    args = parser.parse_args()
    seconds, samples = (3.0, 50) if args.quick else (10.0, 200)
    with tempfile.TemporaryDirectory(prefix="events-bench-") as tmp:
        scratch = Path(tmp)
        (scratch / "ll").mkdir()
        (scratch / "moto").mkdir()
        ours = measure(
            "lambdalite",
            lambda workdir: start_lambdalite(workdir, env=KEEP_ALIVE),
            scratch / "ll",
            seconds,
            samples,
            handler=True,
        )
        moto = measure("moto", start_moto, scratch / "moto", seconds, samples, handler=False)
    ratio = {
        "put_events_per_s": round(
            ours["put_events"]["events_per_s"] / max(1, moto["put_events"]["events_per_s"]), 2
        ),
        "publish_to_queue_p50": round(
            moto["publish_to_queue"]["p50_ms"] / ours["publish_to_queue"]["p50_ms"], 2
        ),
    }
    table = Table(
        title=f"events: PutEvents at {CLIENTS} clients x {BATCH} entries, {RULES} rules; publish latency"
    )
    for column in ("measure", "lambdalite", "moto", "lambdalite / moto", "target"):
        table.add_column(column, justify="right")
    table.add_row(
        "PutEvents events/s",
        f"{ours['put_events']['events_per_s']:,}",
        f"{moto['put_events']['events_per_s']:,}",
        f"{ratio['put_events_per_s']}x",
        f">= {TARGETS['put_events_per_s']:,}",
    )
    table.add_row(
        "PutEvents request p50/p99 ms",
        f"{ours['put_events']['request_p50_ms']} / {ours['put_events']['request_p99_ms']}",
        f"{moto['put_events']['request_p50_ms']} / {moto['put_events']['request_p99_ms']}",
        "",
        "",
    )
    table.add_row(
        "publish -> SQS subscriber p50/p99 ms",
        f"{ours['publish_to_queue']['p50_ms']} / {ours['publish_to_queue']['p99_ms']}",
        f"{moto['publish_to_queue']['p50_ms']} / {moto['publish_to_queue']['p99_ms']}",
        f"{ratio['publish_to_queue_p50']}x faster",
        "",
    )
    handler = ours["publish_to_handler"]
    table.add_row(
        "publish -> Lambda handler p50/p99 ms",
        f"{handler['p50_ms']} / {handler['p99_ms']}",
        "n/a (Docker)",
        "",
        f"p50 <= {TARGETS['publish_to_handler_p50_ms']}",
    )
    Console().print(table)
    for side, result in (("lambdalite", ours), ("moto", moto)):
        if result["put_events"]["errors"]:
            print(f"{side} PutEvents errors: {result['put_events']['errors']}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "lambdalite": ours,
        "moto": moto,
        "ratios": ratio,
        "targets": TARGETS,
    }
    RESULTS.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
