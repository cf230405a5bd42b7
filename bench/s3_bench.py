"""S3 object store benchmark: lambdalite against a moto server, same client code, same run.

    .venv/bin/python bench/s3_bench.py [--duration 5] [--big-mb 256] [--json out.json]

Measures, for each server:
- PUT and GET of a 1 KB object, requests/s at 16 connections (wrk: a C client, so the
  client costs the 2 cores as little as possible);
- PUT and GET of one large object (256 MB by default), MB/s over one connection from a
  raw-socket client that sends and reads 1 MB buffers, with the server's peak RSS
  during the transfer (S3's data must stream: memory stays flat);
- lambdalite only (moto runs functions in Docker): upload-to-handler latency of a
  bucket notification to a warm function, p50/p99.

Requests are path-style with a SigV4-shaped Authorization header that neither server
verifies (see AUTH). moto comes from ``/work/shared/peers/moto-server.sh``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil
from services import Service, free_port, start_lambdalite
from wrkrun import ensure_wrk, run_wrk

MB = 1024 * 1024
CONNECTIONS = 16
BUCKET = "bench-bucket"
AUTH = (
    "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/s3/aws4_request, "
    "SignedHeaders=host, Signature=0000000000000000000000000000000000000000000000000000000000000000"
)
"""A SigV4-shaped Authorization header: neither server checks it, but moto treats an
unsigned GET as anonymous (403 on a private object), and it routes us by scope."""
AUTH_LUA = f'wrk.headers["Authorization"] = "{AUTH}"\n'
PUT_LUA = (
    'wrk.method = "PUT"\nwrk.body = string.rep("x", 1024)\n'
    'wrk.headers["Content-Type"] = "application/octet-stream"\n' + AUTH_LUA
)
GET_LUA = 'wrk.method = "GET"\n' + AUTH_LUA
MOTO_SETUP = Path("/work/shared/peers/moto-server.sh")


def request(port: int, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: {AUTH}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        sock.sendall(head.encode() + body)
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        status = int(data.split(b" ", 2)[1])
        return status, data


def read_head(sock: socket.socket) -> tuple[int, int, bytes]:
    """(status, Content-Length, body bytes already read)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the head")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return int(head.split(b" ", 2)[1]), length, rest


class PeakRss:
    """Samples a process tree's RSS every 20 ms while active."""

    def __init__(self, pid: int) -> None:
        self._proc = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _rss(self) -> int:
        total = 0
        for proc in [self._proc, *self._proc.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                total += proc.memory_info().rss
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            time.sleep(0.02)

    def __enter__(self) -> PeakRss:
        self.before = self._rss()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def big_put(port: int, size: int) -> float:
    """Seconds to PUT ``size`` bytes (until the answer's head)."""
    block = bytes(range(256)) * 4096  # 1 MB
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        start = time.perf_counter()
        sock.sendall(
            f"PUT /{BUCKET}/big HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: {AUTH}\r\n"
            f"Content-Length: {size}\r\n\r\n".encode()
        )
        sent = 0
        while sent < size:
            piece = block if size - sent >= len(block) else block[: size - sent]
            sock.sendall(piece)
            sent += len(piece)
        status, _, _ = read_head(sock)
        elapsed = time.perf_counter() - start
    if status != 200:
        raise RuntimeError(f"big PUT answered {status}")
    return elapsed


def big_get(port: int, size: int) -> float:
    buffer = bytearray(MB)
    with socket.create_connection(("127.0.0.1", port)) as sock:
        start = time.perf_counter()
        sock.sendall(
            f"GET /{BUCKET}/big HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: {AUTH}\r\n\r\n".encode()
        )
        status, length, rest = read_head(sock)
        if status != 200 or length != size:
            raise RuntimeError(f"big GET answered {status} with {length} bytes")
        received = len(rest)
        while received < length:
            got = sock.recv_into(buffer)
            if not got:
                raise ConnectionError("closed mid-body")
            received += got
        return time.perf_counter() - start


def measure(name: str, service: Service, port: int, duration: int, big: int, workdir: Path) -> dict[str, Any]:
    status, _ = request(port, "PUT", f"/{BUCKET}")
    if status != 200:
        raise RuntimeError(f"{name}: CreateBucket answered {status}")
    status, _ = request(port, "PUT", f"/{BUCKET}/small", b"x" * 1024)
    if status != 200:
        raise RuntimeError(f"{name}: PutObject answered {status}")
    wrk = ensure_wrk()
    put_script = workdir / "put.lua"
    put_script.write_text(PUT_LUA)
    get_script = workdir / "get.lua"
    get_script.write_text(GET_LUA)
    url = f"http://127.0.0.1:{port}/{BUCKET}/small"
    put = run_wrk(wrk, put_script, url, connections=CONNECTIONS, duration_s=duration)
    get = run_wrk(wrk, get_script, url, connections=CONNECTIONS, duration_s=duration)
    with PeakRss(service.pid) as put_rss:
        put_s = big_put(port, big)
    with PeakRss(service.pid) as get_rss:
        get_s = big_get(port, big)
    return {
        "put_1kb_rps": put.requests_per_s,
        "put_1kb_p99_ms": put.p99_ms,
        "put_1kb_errors": put.non_2xx + put.socket_errors,
        "get_1kb_rps": get.requests_per_s,
        "get_1kb_p99_ms": get.p99_ms,
        "get_1kb_errors": get.non_2xx + get.socket_errors,
        "put_big_mb_s": big / MB / put_s,
        "get_big_mb_s": big / MB / get_s,
        "put_big_rss_growth_mb": (put_rss.peak - put_rss.before) / MB,
        "get_big_rss_growth_mb": (get_rss.peak - get_rss.before) / MB,
    }


HANDLER = """\
import time
def handler(event, context):
    key = event["Records"][0]["s3"]["object"]["key"]
    return {"latency_ms": (time.time_ns() - int(key.split("-")[1])) / 1e6}
"""


def notification_latency(port: int, count: int) -> dict[str, float]:
    """Upload-to-handler latency of a notification to a warm function: the key carries
    the upload's start time, the handler returns the difference, an OnSuccess queue
    brings it back."""
    import boto3
    from botocore.config import Config
    from services import hello_zip

    def client(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(retries={"total_max_attempts": 1}),
        )

    s3, sqs, lam = client("s3"), client("sqs"), client("lambda")
    account = "000000000000"
    url = sqs.create_queue(QueueName="handled")["QueueUrl"]
    lam.create_function(
        FunctionName="on-upload",
        Runtime="python3.12",
        Role=f"arn:aws:iam::{account}:role/r",
        Handler="app.handler",
        Code={"ZipFile": hello_zip(HANDLER)},
    )
    lam.get_waiter("function_active_v2").wait(FunctionName="on-upload", WaiterConfig={"Delay": 0.1})
    lam.put_function_event_invoke_config(
        FunctionName="on-upload",
        DestinationConfig={"OnSuccess": {"Destination": f"arn:aws:sqs:us-east-1:{account}:handled"}},
    )
    s3.create_bucket(Bucket="notified")
    arn = f"arn:aws:lambda:us-east-1:{account}:function:on-upload"
    s3.put_bucket_notification_configuration(
        Bucket="notified",
        NotificationConfiguration={
            "LambdaFunctionConfigurations": [{"LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"]}]
        },
    )
    latencies: list[float] = []
    for number in range(count + 3):  # the first three warm the function
        s3.put_object(Bucket="notified", Key=f"k{number}-{time.time_ns()}", Body=b"x")
        deadline = time.monotonic() + 10
        got = None
        while got is None and time.monotonic() < deadline:
            for message in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", []):
                got = json.loads(message["Body"])["responsePayload"]["latency_ms"]
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        if got is None:
            raise RuntimeError("no notification reached the handler within 10 s")
        if number >= 3:
            latencies.append(got)
    latencies.sort()
    return {
        "notify_to_handler_p50_ms": latencies[len(latencies) // 2],
        "notify_to_handler_p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
    }


def wait_port(service: Service, port: int) -> None:
    def ready() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True

    service.wait_until(ready, 60, f"port {port}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--big-mb", type=int, default=256)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--skip-moto", action="store_true")
    parser.add_argument("--notifications", type=int, default=50, help="uploads timed to the handler")
    args = parser.parse_args()
    big = args.big_mb * MB
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="s3-bench-") as tmp:
        workdir = Path(tmp)
        ours, port = start_lambdalite(workdir)
        try:
            results["lambdalite"] = measure("lambdalite", ours, port, args.duration, big, workdir)
            results["lambdalite"].update(notification_latency(port, args.notifications))
        finally:
            ours.stop()
        if not args.skip_moto:
            moto_bin = subprocess.run(
                ["sh", str(MOTO_SETUP)], capture_output=True, text=True, check=True
            ).stdout
            port = free_port()
            moto = Service(
                "moto", [moto_bin.strip(), "-H", "127.0.0.1", "-p", str(port)], log_path=workdir / "moto.log"
            )
            try:
                wait_port(moto, port)
                results["moto"] = measure("moto", moto, port, args.duration, big, workdir)
            finally:
                moto.stop()
    if "moto" in results:
        ours_r, peer = results["lambdalite"], results["moto"]
        results["ratios"] = {
            key: round(ours_r[key] / peer[key], 2)
            for key in ("put_1kb_rps", "get_1kb_rps", "put_big_mb_s", "get_big_mb_s")
            if peer[key]
        }
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text)


if __name__ == "__main__":
    main()
