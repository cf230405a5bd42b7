"""What verifying AWS Signature Version 4 costs: per verification, and on the warm invoke path.

    .venv/bin/python bench/sigv4_bench.py [--quick] [--rounds N] [--micro-only]

1. Per verification, in this process (no server): lambdalite's ``Verifier.verify`` on
   three requests as boto3 signs them (Lambda Invoke, Logs PutLogEvents with a 1 KB
   body, a presigned ListFunctions URL), with its signing key cached (every request
   after a key's first of the day) and uncached (the first: four more HMACs); beside
   botocore's own signer (``SigV4Auth.add_auth`` / ``SigV4QueryAuth``) on the same
   requests, which is what verifying by signing again with botocore would cost.
   Each figure is the median of REPEATS timings of LOOPS calls.

2. On the warm path: two lambdalite servers from this tree in one run, one under
   ``--auth none`` and one under ``--auth sigv4`` (the operator's key from the
   environment), each with the same Python ``hello`` function, started afresh every
   round (two long-lived processes would keep whatever placement they got, a bias
   that rounds alone cannot average out). Every round takes,
   for each server, a fresh Invoke as boto3 signs and sends it (its exact headers,
   so that both servers parse the same request and only verification differs; a
   signed request may be replayed within the 5 minutes AWS allows, so replaying it
   costs the sigv4 server a full verification each time; the client signs nothing
   while measuring, so both servers get the same client work), then
   bench/invoke_bench.py's machinery: sequential warm
   invokes over one keep-alive connection, interleaved between the two servers in
   blocks (p50/p90/p99 and server CPU per invoke), then wrk with 1 and 16
   connections (the signed headers set in wrk's Lua script), also interleaved:
   WRK_SLICES runs of a second per server, server after server, so that both see
   the same stretch of a shared machine (a throughput measured for one second per
   server in turn moved by 20% from the load alone); each server's figure is the
   mean of its slices, with its CPU per request. Ratios are taken per
   round and summarised by their median and range (bench/rounds.py).

Target (issue 14): signature checking costs at most 10% - warm p50 under sigv4 at
most 1.10x none's, and 16-client throughput at least 1/1.10 of none's (medians of
the per-round ratios). Everything goes to bench/results/sigv4.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import invoke_bench
import psutil
import rounds
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from keepalive import KeepAliveClient
from rich.console import Console
from rich.table import Table
from services import Service, free_port, hello_zip
from wrkrun import WrkResult, ensure_wrk, run_wrk

from lambdalite.auth.credentials import Credential, Principal
from lambdalite.auth.sigv4 import Verifier
from lambdalite.http.message import HttpRequest

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "results" / "sigv4.json"
HOST = "127.0.0.1"
KEY_ID = "AKIABENCHBENCHBENCH0"
SECRET = "bench-secret-bench-secret-bench-secret00"
LOOPS = 2000
WRK_SLICES = 3
"""At least this many one-second wrk runs per server and concurrency (the plan's
``wrk_seconds`` if more), interleaved between the servers."""
REPEATS = 7
TARGET_COST = 0.10

console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)


# ---------------------------------------------------------------- 1. per verification


class _OneKey:
    def __init__(self) -> None:
        principal = Principal("arn:aws:iam::000000000000:user/admin", "000000000000", KEY_ID)
        self.credential_ = Credential(KEY_ID, SECRET, principal)

    def credential(self, access_key_id: str) -> Credential | None:
        return self.credential_ if access_key_id == KEY_ID else None


def _received(request: AWSRequest, port: int = 9001) -> HttpRequest:
    """A signed AWSRequest as lambdalite's HTTP layer hands it to the router."""
    prepared = request.prepare()
    path, _, query = prepared.url.split(f"{HOST}:{port}", 1)[1].partition("?")
    headers = {name.lower().encode(): value.encode() for name, value in prepared.headers.items()}
    headers[b"host"] = f"{HOST}:{port}".encode()
    body = prepared.body or b""
    body = body.encode() if isinstance(body, str) else body
    return HttpRequest(
        prepared.method, path, query.encode(), headers, body, len(body), raw_path=path.encode()
    )


def _invoke_request() -> AWSRequest:
    """An Invoke as boto3's Lambda client sends it (headers included)."""
    return AWSRequest(
        method="POST",
        url=f"http://{HOST}:9001/2015-03-31/functions/hello/invocations",
        data=b"{}",
        headers={
            "X-Amz-Invocation-Type": "RequestResponse",
            "X-Amz-Log-Type": "None",
            "User-Agent": "Boto3/1.34 md/Botocore#1.34 ua/2.0 os/linux lang/python#3.11 cfg/mode#standard",
            "amz-sdk-invocation-id": "5d0a4b3e-9a44-4bd6-94f5-1f8b1e4a2c9d",
            "amz-sdk-request": "attempt=1; max=1",
        },
    )


def _logs_request() -> AWSRequest:
    events = [{"timestamp": 1_700_000_000_000 + i, "message": "x" * 40} for i in range(16)]
    body = json.dumps({"logGroupName": "/aws/lambda/hello", "logStreamName": "s", "logEvents": events})
    return AWSRequest(
        method="POST",
        url=f"http://{HOST}:9001/",
        data=body.encode(),
        headers={
            "X-Amz-Target": "Logs_20140328.PutLogEvents",
            "Content-Type": "application/x-amz-json-1.1",
            "User-Agent": "Boto3/1.34 md/Botocore#1.34 ua/2.0 os/linux lang/python#3.11",
        },
    )


def _presigned_request() -> AWSRequest:
    return AWSRequest(method="GET", url=f"http://{HOST}:9001/2015-03-31/functions/?MaxItems=50", data=b"")


MICRO_CASES: dict[str, tuple[Callable[[], AWSRequest], Callable[[Credentials], Any], tuple[str, ...]]] = {
    "lambda_invoke": (_invoke_request, lambda c: SigV4Auth(c, "lambda", "us-east-1"), ("lambda",)),
    "logs_put_log_events_1kb": (_logs_request, lambda c: SigV4Auth(c, "logs", "us-east-1"), ("logs",)),
    "presigned_list_functions": (
        _presigned_request,
        lambda c: SigV4QueryAuth(c, "lambda", "us-east-1", expires=3600),
        ("lambda",),
    ),
}


def _per_call_us(call: Callable[[], object], loops: int = LOOPS, repeats: int = REPEATS) -> float:
    timings = []
    for _ in range(repeats):
        started = time.perf_counter_ns()
        for _ in range(loops):
            call()
        timings.append((time.perf_counter_ns() - started) / loops / 1000)
    return statistics.median(timings)


def measure_micro(loops: int = LOOPS) -> dict[str, dict[str, float]]:
    """µs per call of each case: ours (cached key, uncached key) and botocore's signer."""
    credentials = Credentials(KEY_ID, SECRET)
    results: dict[str, dict[str, float]] = {}
    for name, (build, make_signer, services) in MICRO_CASES.items():
        signer = make_signer(credentials)
        request = build()
        signer.add_auth(request)
        received = _received(request)
        verifier = Verifier(_OneKey())
        assert verifier.verify(received, services).access_key_id == KEY_ID  # a real success, not an error
        cold = Verifier(_OneKey())

        def uncached(
            received: HttpRequest = received, cold: Verifier = cold, services: tuple[str, ...] = services
        ) -> None:
            cold._signing_keys.clear()  # the first request of a key, date, region and service
            cold._bound.clear()
            cold.verify(received, services)

        def cached(
            received: HttpRequest = received,
            verifier: Verifier = verifier,
            services: tuple[str, ...] = services,
        ) -> None:
            verifier.verify(received, services)

        resign = build()
        results[name] = {
            "ours_us": _per_call_us(cached, loops),
            "ours_uncached_key_us": _per_call_us(uncached, loops),
            "botocore_signer_us": _per_call_us(lambda s=signer, r=resign: s.add_auth(r), loops // 4),
        }
        results[name]["botocore_over_ours"] = results[name]["botocore_signer_us"] / results[name]["ours_us"]
    return results


# ---------------------------------------------------------------- 2. the warm invoke path


def _client(port: int, service: str = "lambda") -> Any:
    return boto3.client(
        service,
        endpoint_url=f"http://{HOST}:{port}",
        region_name="us-east-1",
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}, read_timeout=30),
    )


def start_server(stack: ExitStack, workdir: Path, key: str, auth: str) -> invoke_bench.Server:
    port = free_port()
    service = Service(
        f"lambdalite --auth {auth}",
        [
            sys.executable,
            "-m",
            "lambdalite",
            "serve",
            "--port",
            str(port),
            "--auth",
            auth,
            "--data-dir",
            str(workdir / f"{key}-data"),
        ],
        log_path=workdir / f"{key}.log",
        cwd=invoke_bench.REPO,
        env={
            "PYTHONUNBUFFERED": "1",
            "LAMBDALITE_ACCESS_KEY_ID": KEY_ID,
            "LAMBDALITE_SECRET_ACCESS_KEY": SECRET,
        },
    )
    stack.callback(service.stop)
    service.wait_for_line(invoke_bench.LAMBDALITE_READY_LINE, timeout_s=30)
    client = _client(port)
    # Under sigv4 CreateFunction checks that the execution role exists.
    trust = {
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ]
    }
    _client(port, "iam").create_role(
        RoleName=invoke_bench.ROLE.rsplit("/", 1)[1], AssumeRolePolicyDocument=json.dumps(trust)
    )
    invoke_bench.create_function(client, "hello", hello_zip())
    path = invoke_bench.invoke_path("hello")
    return invoke_bench.Server(key, service.name, port, path, service, client, {"port": port, "auth": auth})


def signed_invoke(server: invoke_bench.Server) -> tuple[bytes, dict[str, str]]:
    """boto3's own Invoke of ``hello``, signed now: its exact bytes, and the headers to
    give wrk (all but Host and Content-Length, which wrk writes itself)."""
    captured: dict[str, Any] = {}

    def grab(request: Any, **_: Any) -> None:
        captured["request"] = request

    client = server.lambda_api
    client.meta.events.register("before-send.lambda.Invoke", grab)
    try:
        answer = client.invoke(FunctionName="hello", Payload=invoke_bench.BODY)
        if answer["StatusCode"] != 200 or json.loads(answer["Payload"].read()) != {"ok": True}:
            raise RuntimeError(f"hello answered {answer}")
    finally:
        client.meta.events.unregister("before-send.lambda.Invoke", grab)
    prepared = captured["request"]
    headers = {
        name: value.decode() if isinstance(value, bytes) else value
        for name, value in prepared.headers.items()
        if name.lower() not in {"host", "content-length"}
    }
    body = prepared.body or b""
    body = body.encode() if isinstance(body, str) else body
    lines = [f"POST {server.path} HTTP/1.1", f"Host: {HOST}:{server.port}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    with KeepAliveClient(HOST, server.port) as check:
        response = check.roundtrip(raw)
    if response.status != 200:
        raise RuntimeError(f"the replayed signed Invoke answered {response.status}: {response.body[:200]!r}")
    return raw, headers


def lua_script(directory: Path, headers: dict[str, str]) -> Path:
    directory.mkdir(exist_ok=True)
    lines = ['wrk.method = "POST"', f"wrk.body = {json.dumps(invoke_bench.BODY.decode())}"]
    lines += [f"wrk.headers[{json.dumps(name)}] = {json.dumps(value)}" for name, value in headers.items()]
    path = directory / "signed_invoke.lua"
    path.write_text("\n".join(lines) + "\n")
    return path


def measure_load(
    wrk: str, scripts: dict[str, Path], servers: list[invoke_bench.Server], plan: invoke_bench.Plan
) -> dict[str, dict[str, Any]]:
    """wrk at each concurrency, interleaved: after a warm-up of each server, one-second
    slices server after server (the order flipping each slice). Per server and
    concurrency: the mean of its slices' throughput, the median of their p99, the sum of
    their failures, and the server's CPU per request over them."""
    results: dict[str, dict[str, Any]] = {server.key: {} for server in servers}
    slices = max(WRK_SLICES, plan.wrk_seconds)
    for connections in invoke_bench.CONCURRENCY:
        warmup_s = plan.first_warmup_seconds if connections > 1 else plan.wrk_warmup_seconds
        for server in servers:
            run_wrk(wrk, scripts[server.key], _url(server), connections=connections, duration_s=warmup_s)
        runs: dict[str, list[WrkResult]] = {server.key: [] for server in servers}
        cpu_s = dict.fromkeys(runs, 0.0)
        for number in range(slices):
            for server in servers if number % 2 == 0 else servers[::-1]:
                process = psutil.Process(server.service.pid)
                before = invoke_bench.cpu_seconds(process)[0]
                runs[server.key].append(
                    run_wrk(wrk, scripts[server.key], _url(server), connections=connections, duration_s=1)
                )
                cpu_s[server.key] += invoke_bench.cpu_seconds(process)[0] - before
        for key, done in runs.items():
            requests = sum(run.requests for run in done)
            results[key][str(connections)] = {
                "requests_per_s": statistics.fmean(run.requests_per_s for run in done),
                "p50_ms": statistics.median(run.p50_ms for run in done),
                "p99_ms": statistics.median(run.p99_ms for run in done),
                "requests": requests,
                "non_2xx": sum(run.non_2xx for run in done),
                "socket_errors": sum(run.socket_errors for run in done),
                "server_cpu_us": cpu_s[key] / requests * 1e6 if requests else float("nan"),
                "slices": len(done),
            }
    return results


def _url(server: invoke_bench.Server) -> str:
    return f"http://{HOST}:{server.port}{server.path}"


def measure_servers(plan: invoke_bench.Plan, workdir: Path) -> dict[str, Any]:
    wrk = ensure_wrk()
    per_round: dict[str, list[dict[str, Any]]] = {"none": [], "sigv4": []}
    for number in range(plan.rounds):
        # Fresh servers every round: two long-lived processes keep whatever placement they
        # got (cores, memory, their environment's), a bias that rounds alone cannot average out.
        with ExitStack() as round_stack:
            scratch = workdir / f"round-{number}"
            scratch.mkdir()
            servers = [
                start_server(round_stack, scratch, "none", "none"),
                start_server(round_stack, scratch, "sigv4", "sigv4"),
            ]
            # Both servers get boto3's own signed Invoke, fresh (well inside the 5-minute
            # window): the same headers to parse, so the difference is verification.
            signed, scripts = [], {}
            for server in servers:
                raw, headers = signed_invoke(server)
                signed.append(replace(server, request=raw))
                scripts[server.key] = lua_script(scratch / server.key, headers)
            warm = invoke_bench.measure_warm(signed, plan)
            order = signed if number % 2 == 0 else signed[::-1]
            load = measure_load(wrk, scripts, order, plan)
            for server in signed:
                per_round[server.key].append({"warm": warm[server.key], "wrk": load[server.key]})
        p50 = {key: warm[key].get("p50_ms", float("nan")) for key in ("none", "sigv4")}
        console.print(
            f"  round {number + 1}/{plan.rounds}: p50 none {p50['none']:.3f} ms, sigv4 {p50['sigv4']:.3f} ms",
            highlight=False,
        )
    paths = [
        ("warm", "p50_ms"),
        ("warm", "p99_ms"),
        ("warm", "server_cpu_us"),
        ("wrk", "1", "requests_per_s"),
        ("wrk", "16", "requests_per_s"),
        ("wrk", "16", "p99_ms"),
        ("wrk", "16", "server_cpu_us"),
    ]
    results: dict[str, Any] = {
        key: {"rounds": one, "median": rounds.median_of_rounds(one, paths)} for key, one in per_round.items()
    }
    results["ratios"] = {
        "/".join(path): rounds.paired_ratio(per_round["sigv4"], per_round["none"], path) for path in paths
    }
    failures = sum(r["warm"].get("failures", 0) + r["wrk"]["16"]["non_2xx"] for r in per_round["sigv4"])
    results["sigv4_failures"] = failures
    return results


def evaluate(results: dict[str, Any]) -> list[dict[str, Any]]:
    ratios = results["servers"]["ratios"]
    p50 = (ratios.get("warm/p50_ms") or {}).get("median")
    rps = (ratios.get("wrk/16/requests_per_s") or {}).get("median")
    return [
        {
            "target": "warm p50 under sigv4 <= 1.10x none's",
            "value": p50,
            "passed": p50 is not None and p50 <= 1 + TARGET_COST,
        },
        {
            "target": "16-client throughput under sigv4 >= none's / 1.10",
            "value": rps,
            "passed": rps is not None and rps >= 1 / (1 + TARGET_COST),
        },
        {
            "target": "every signed request answered 200",
            "value": results["servers"]["sigv4_failures"],
            "passed": results["servers"]["sigv4_failures"] == 0,
        },
    ]


# ---------------------------------------------------------------- output


def render_micro(micro: dict[str, dict[str, float]]) -> Table:
    table = Table(title="per verification (µs, median of 7 timings)")
    for column in ("request", "ours", "ours, key not cached", "botocore's signer", "botocore / ours"):
        table.add_column(column, justify="left" if column == "request" else "right")
    for name, row in micro.items():
        table.add_row(
            name,
            f"{row['ours_us']:.1f}",
            f"{row['ours_uncached_key_us']:.1f}",
            f"{row['botocore_signer_us']:.1f}",
            f"{row['botocore_over_ours']:.1f}x",
        )
    return table


def render_servers(servers: dict[str, Any]) -> Table:
    table = Table(title="warm invoke, --auth none vs --auth sigv4 (median of rounds; ratio per round)")
    for column in ("figure", "none", "sigv4", "sigv4 / none (range)"):
        table.add_column(column, justify="left" if column == "figure" else "right")
    for path, ratio in servers["ratios"].items():
        keys = tuple(path.split("/"))
        values = [rounds.dig(servers[key]["median"], keys) for key in ("none", "sigv4")]
        cells = [f"{v:,.3f}" if isinstance(v, float) and v < 100 else f"{v:,.0f}" for v in values]
        span = f"{ratio['median']:.3f} ({ratio['min']:.3f}-{ratio['max']:.3f})" if ratio else "n/a"
        table.add_row(path, *cells, span)
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds")
    parser.add_argument("--rounds", type=int, help="rounds of the server comparison (default 5, --quick 3)")
    parser.add_argument("--micro-only", action="store_true", help="only the per-verification figures")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    plan = invoke_bench.QUICK if args.quick else invoke_bench.FULL
    if args.rounds:
        plan = replace(plan, rounds=args.rounds)
    results: dict[str, Any] = {"when": datetime.now(UTC).isoformat(timespec="seconds")}
    results["micro"] = measure_micro(LOOPS // 4 if args.quick else LOOPS)
    console.print(render_micro(results["micro"]))
    passed = True
    if not args.micro_only:
        with tempfile.TemporaryDirectory(prefix="sigv4-bench-") as scratch:
            results["servers"] = measure_servers(plan, Path(scratch))
        console.print(render_servers(results["servers"]))
        results["targets"] = evaluate(results)
        for target in results["targets"]:
            mark = "[green]PASS[/green]" if target["passed"] else "[red]FAIL[/red]"
            console.print(f"{mark} {target['target']}: {target['value']}")
        passed = all(target["passed"] for target in results["targets"])
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    console.print(f"results: {args.output}", highlight=False)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
