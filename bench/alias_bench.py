"""What an alias with weights and provisioned concurrency cost per invoke (issue 4).

    .venv/bin/python bench/alias_bench.py [--quick]

Starts its own ``python -m lambdalite serve`` on a free port with a fresh data
directory (bench/services.py: stopped with everything it forked on every path),
creates a Python 3.11 hello function with boto3, and measures with one
keep-alive raw-socket connection (TCP_NODELAY, bench/keepalive.py), sequential
requests only:

* alias vs version: warm latency of ``Invoke`` on version 1 directly, and
  through an alias on version 1 with ``AdditionalVersionWeights {"2": 0.5}``
  (both versions warmed first). The two are measured in alternating blocks so
  drift on the host hits both alike. Target: alias p50 and p99 within 10% of
  the version's.
* provisioned first invoke: N times, a new version is published, given
  provisioned concurrency 1 and waited for until READY; then its first
  invoke is timed, then ``warm`` more invokes of it, then, after the same idle
  time the environment had before its first invoke, one more ("warm after the
  same idle"). That is the fair baseline: any environment that sat idle for a
  while answers slower than one kept hot by a tight loop (caches and the
  scheduler, not lambdalite: about 1 ms after 1 s idle against 0.4 ms hot, on
  a warm on-demand environment too). Target: the first invokes' p50 equals the
  warm-after-idle p50 (within 10%, or 0.05 ms, whichever is larger). The hot
  warm p50 and an on-demand first invoke (a new version with no provisioned
  concurrency) are shown for contrast.

Prints one table and writes bench/results/alias.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keepalive import KeepAliveClient, build_request, timed_roundtrips
from recording import exit_on_sigterm, record
from rich.console import Console
from rich.table import Table
from services import hello_zip, lambda_client, lambdalite_running

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "results" / "alias.json"
HOST = "127.0.0.1"
REGION = "us-east-1"
ROLE = "arn:aws:iam::000000000000:role/lambda-role"
FUNCTION = "bench-alias"
ALIAS_TARGET = 0.10
"""Alias latency may be at most 10% above the version's (p50 and p99)."""
PROVISIONED_TARGET = 0.10
PROVISIONED_SLACK_MS = 0.05

console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)


@dataclass(frozen=True, slots=True)
class Plan:
    rounds: int
    block: int
    warmup: int
    provisioned_versions: int
    warm_after_first: int


FULL = Plan(rounds=10, block=500, warmup=500, provisioned_versions=20, warm_after_first=200)
QUICK = Plan(rounds=4, block=250, warmup=200, provisioned_versions=6, warm_after_first=100)


def percentile(ordered: list[float], q: float) -> float:
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def summary(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    return {
        "count": len(ordered),
        "p50_ms": percentile(ordered, 50),
        "p99_ms": percentile(ordered, 99),
        "mean_ms": statistics.fmean(ordered),
        "max_ms": ordered[-1],
    }


def invoke_request(port: int, qualifier: str) -> bytes:
    path = f"/2015-03-31/functions/{FUNCTION}/invocations?Qualifier={qualifier}"
    return build_request("POST", HOST, port, path, b"{}")


def timed_ms(client: KeepAliveClient, request: bytes, count: int) -> list[float]:
    latencies, failures = timed_roundtrips(client, request, count)
    if failures:
        raise RuntimeError(f"{len(failures)} failed invokes, first: {failures[0]}")
    return [ns / 1e6 for ns in latencies]


def new_version(lam: Any, description: str) -> str:
    """A new published version (a configuration change makes $LATEST publishable again)."""
    lam.update_function_configuration(FunctionName=FUNCTION, Description=description)
    lam.get_waiter("function_updated_v2").wait(FunctionName=FUNCTION, WaiterConfig={"Delay": 0.1})
    return str(lam.publish_version(FunctionName=FUNCTION)["Version"])


def wait_ready(lam: Any, version: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        config = lam.get_provisioned_concurrency_config(FunctionName=FUNCTION, Qualifier=version)
        if config["Status"] == "READY":
            return
        if config["Status"] == "FAILED":
            raise RuntimeError(f"provisioning version {version} failed: {config}")
        time.sleep(0.01)
    raise RuntimeError(f"version {version} not READY within 30 s")


def measure_alias(client: KeepAliveClient, port: int, plan: Plan) -> dict[str, Any]:
    version = invoke_request(port, "1")
    alias = invoke_request(port, "weighted")
    timed_ms(client, version, plan.warmup)
    timed_ms(client, alias, plan.warmup)  # warms version 2 too
    direct: list[float] = []
    through_alias: list[float] = []
    for _ in range(plan.rounds):
        direct += timed_ms(client, version, plan.block)
        through_alias += timed_ms(client, alias, plan.block)
    result = {"version": summary(direct), "alias": summary(through_alias)}
    for q in ("p50_ms", "p99_ms"):
        result[f"ratio_{q}"] = result["alias"][q] / result["version"][q]
    result["pass"] = all(result[f"ratio_{q}"] <= 1 + ALIAS_TARGET for q in ("p50_ms", "p99_ms"))
    return result


def measure_provisioned(client: KeepAliveClient, lam: Any, port: int, plan: Plan) -> dict[str, Any]:
    first: list[float] = []
    warm: list[float] = []
    warm_after_idle: list[float] = []
    for index in range(plan.provisioned_versions):
        version = new_version(lam, f"provisioned {index}")
        lam.put_provisioned_concurrency_config(
            FunctionName=FUNCTION, Qualifier=version, ProvisionedConcurrentExecutions=1
        )
        provisioned_at = time.perf_counter()
        wait_ready(lam, version)
        request = invoke_request(port, version)
        idle_s = time.perf_counter() - provisioned_at
        first += timed_ms(client, request, 1)
        warm += timed_ms(client, request, plan.warm_after_first)
        time.sleep(idle_s)
        warm_after_idle += timed_ms(client, request, 1)
        # Keep the node small: this version's environment is not needed any more.
        lam.delete_provisioned_concurrency_config(FunctionName=FUNCTION, Qualifier=version)
    on_demand: list[float] = []
    for index in range(min(5, plan.provisioned_versions)):
        version = new_version(lam, f"on-demand {index}")
        on_demand += timed_ms(client, invoke_request(port, version), 1)
    result: dict[str, Any] = {
        "first_invoke": summary(first),
        "warm": summary(warm),
        "warm_after_idle": summary(warm_after_idle),
        "on_demand_first_invoke": summary(on_demand),
    }
    baseline = result["warm_after_idle"]["p50_ms"]
    gap = result["first_invoke"]["p50_ms"] - baseline
    result["ratio_p50"] = result["first_invoke"]["p50_ms"] / baseline
    result["ratio_p50_vs_hot"] = result["first_invoke"]["p50_ms"] / result["warm"]["p50_ms"]
    result["pass"] = gap <= max(PROVISIONED_SLACK_MS, PROVISIONED_TARGET * baseline)
    return result


def run(plan: Plan) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="lambdalite-alias-bench-"))
    with lambdalite_running(workdir, env={"PYTHONUNBUFFERED": "1"}) as port:
        lam = lambda_client(port)
        lam.create_function(
            FunctionName=FUNCTION,
            Runtime="python3.11",
            Role=ROLE,
            Handler="app.handler",
            Code={"ZipFile": hello_zip()},
        )
        lam.get_waiter("function_active_v2").wait(FunctionName=FUNCTION, WaiterConfig={"Delay": 0.1})
        first = str(lam.publish_version(FunctionName=FUNCTION)["Version"])
        second = new_version(lam, "second")
        lam.create_alias(
            FunctionName=FUNCTION,
            Name="weighted",
            FunctionVersion=first,
            RoutingConfig={"AdditionalVersionWeights": {second: 0.5}},
        )
        with KeepAliveClient(HOST, port) as client:
            return {
                "alias_vs_version": measure_alias(client, port, plan),
                "provisioned": measure_provisioned(client, lam, port, plan),
            }


def render(results: dict[str, Any]) -> None:
    table = Table(title="lambdalite: aliases and provisioned concurrency (sequential, one connection)")
    for column in ("measurement", "p50 ms", "p99 ms", "mean ms", "n", "vs baseline", "target"):
        table.add_column(column, justify="left" if column == "measurement" else "right")
    alias = results["alias_vs_version"]
    mark = "[green]pass[/green]" if alias["pass"] else "[red]FAIL[/red]"
    rows = [
        ("invoke version 1 (warm)", alias["version"], "baseline", ""),
        (
            "invoke alias, 0.5 to v2 (warm)",
            alias["alias"],
            f"p50 x{alias['ratio_p50_ms']:.3f}, p99 x{alias['ratio_p99_ms']:.3f}",
            f"<= x{1 + ALIAS_TARGET:.2f} {mark}",
        ),
    ]
    provisioned = results["provisioned"]
    mark = "[green]pass[/green]" if provisioned["pass"] else "[red]FAIL[/red]"
    rows += [
        ("provisioned version, warm (hot loop)", provisioned["warm"], "(contrast)", ""),
        ("provisioned version, warm after same idle", provisioned["warm_after_idle"], "baseline", ""),
        (
            "provisioned version, first invoke",
            provisioned["first_invoke"],
            f"p50 x{provisioned['ratio_p50']:.3f} (x{provisioned['ratio_p50_vs_hot']:.2f} vs hot)",
            f"= warm {mark}",
        ),
        ("on-demand version, first invoke", provisioned["on_demand_first_invoke"], "(contrast)", ""),
    ]
    for name, stats, versus, target in rows:
        table.add_row(
            name,
            f"{stats['p50_ms']:.3f}",
            f"{stats['p99_ms']:.3f}",
            f"{stats['mean_ms']:.3f}",
            str(stats["count"]),
            versus,
            target,
        )
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer samples (about 10 seconds)")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"JSON results (default {RESULTS})")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    exit_on_sigterm()
    results = record(plan, args.quick, lambda: run(plan), args.output)
    render(results)
    console.print(f"results: {args.output} ({results['duration_s']} s)")
    passed = results["alias_vs_version"]["pass"] and results["provisioned"]["pass"]
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
