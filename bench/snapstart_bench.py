"""SnapStart cold starts against ordinary ones, in one run (issue 11's benchmark).

One lambdalite server (``--keep-alive 0.1``: an idle environment is stopped at
the next reaper pass, so every sample below is a cold start) and one Python
3.12 function whose module takes about 500 ms to initialise (a 400 ms sleep and
a large import), with ``SnapStart.ApplyOn: PublishedVersions``. Measured, over
``--samples`` cold starts each, alternating: Invoke latency (request sent ->
response read) of the published version (restored from its snapshot) and of
``$LATEST`` (initialised from scratch), p50/p99, with the Restore/Init
Duration of their REPORT lines; with ``--before REF``, also the SnapStart
version on a second server running lambdalite as of REF (a worktree), sampled
alternately with this tree's so that both see the same load. Target: SnapStart
p50 <= 10 ms.
Writes bench/results/snapstart.json.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import io
import json
import os
import re
import statistics
import sys
import tempfile
import time
import zipfile
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import worktree
from services import Service, free_port, lambda_client, network_of_functions

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results" / "snapstart.json"
TARGET_P50_MS = 10.0
REAPED_AFTER_S = 1.3
"""Longer than the pool's reaper interval (1 s) plus the keep-alive (0.1 s)."""
SLOW_INIT = """
import time
import asyncio, decimal, email.mime.multipart, http.server, json, xml.etree.ElementTree  # a large import
time.sleep(0.4)

def handler(event, context):
    return {"ok": True}
"""
_DURATION = re.compile(r"(Restore|Init) Duration: ([\d.]+) ms")


def zipped(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo("app.py")
        info.external_attr = 0o644 << 16
        archive.writestr(info, source)
    return buffer.getvalue()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def cold_invoke(connection: http.client.HTTPConnection, qualifier: str) -> tuple[float, float]:
    """(Invoke latency, the REPORT's Restore/Init Duration) in ms; the previous
    environment must have been reaped (``REAPED_AFTER_S``). Plain HTTP on one kept-alive
    connection, as bench/cold_start_bench.py measures, so no SDK time is counted."""
    path = f"/2015-03-31/functions/snapstart-bench/invocations?Qualifier={quote(qualifier)}"
    started = time.perf_counter()
    connection.request("POST", path, body=b"{}", headers={"X-Amz-Log-Type": "Tail"})
    response = connection.getresponse()
    body = response.read()
    elapsed = (time.perf_counter() - started) * 1000
    if response.status != 200 or response.getheader("X-Amz-Function-Error"):
        raise RuntimeError(f"{qualifier}: {response.status} {body[:300]!r}")
    tail = base64.b64decode(response.getheader("X-Amz-Log-Result") or "").decode()
    match = _DURATION.search(tail)
    if match is None:
        raise RuntimeError(f"{qualifier}: not a cold start:\n{tail}")
    return elapsed, float(match[2])


def summary(samples: list[tuple[float, float]]) -> dict[str, float]:
    latencies = [latency for latency, _ in samples]
    durations = [duration for _, duration in samples]
    return {
        "p50_ms": round(statistics.median(latencies), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
        "report_duration_p50_ms": round(statistics.median(durations), 2),
        "samples": len(samples),
    }


@dataclass(frozen=True, slots=True)
class Target:
    """One server with the bench function published: a connection and the version."""

    service: Service
    connection: http.client.HTTPConnection
    version: str


def start(name: str, tree: Path, env: dict[str, str], isolation: str, work: Path) -> Target:
    """Serve lambdalite from ``tree`` and publish the bench function on it."""
    port = free_port()
    service = Service(
        f"lambdalite {name} ({isolation})",
        [
            sys.executable,
            *("-m", "lambdalite", "serve", "--port", str(port), "--data-dir", str(work / name / "data")),
            *("--isolation", isolation, "--keep-alive", "0.1"),
        ],
        cwd=tree,
        env=env,
        log_path=work / f"{name}.log",
    )
    try:
        service.wait_for_line("lambdalite listening on", 30)
        lam = lambda_client(port)
        lam.create_function(
            FunctionName="snapstart-bench",
            Runtime="python3.12",
            Role="arn:aws:iam::000000000000:role/lambda",
            Handler="app.handler",
            Code={"ZipFile": zipped(SLOW_INIT)},
            Timeout=30,
            SnapStart={"ApplyOn": "PublishedVersions"},
        )
        lam.get_waiter("function_active_v2").wait(FunctionName="snapstart-bench")
        version = lam.publish_version(FunctionName="snapstart-bench")["Version"]
    except BaseException:
        service.stop()
        raise
    return Target(service, http.client.HTTPConnection("127.0.0.1", port, timeout=60), version)


def run(samples: int, isolation: str, work: Path, before: worktree.Checkout | None) -> dict[str, Any]:
    """``samples`` rounds, each: the SnapStart version (and, with ``before``, the
    earlier tree's, in turns first) after the reaper has had time, then ``$LATEST``."""
    venv_bin = str(Path(sys.executable).parent)
    env = {"PATH": f"{venv_bin}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
    with ExitStack() as stack:
        after = start("after", ROOT, env, isolation, work)
        stack.callback(after.service.stop)
        earlier = None
        if before is not None:
            earlier = start("before", before.path, {**env, **before.environment()}, isolation, work)
            stack.callback(earlier.service.stop)
        snapstart: list[tuple[float, float]] = []
        snapstart_before: list[tuple[float, float]] = []
        latest: list[tuple[float, float]] = []
        for round_ in range(samples):
            time.sleep(REAPED_AFTER_S)
            # Which tree goes first alternates: the first request after a pause pays more.
            pairs = [(after, snapstart), (earlier, snapstart_before)]
            for target, samples_of in pairs if round_ % 2 == 0 else reversed(pairs):
                if target is not None:
                    samples_of.append(cold_invoke(target.connection, target.version))
            time.sleep(REAPED_AFTER_S)
            latest.append(cold_invoke(after.connection, "$LATEST"))
        result = {
            "isolation": isolation,
            "network": network_of_functions(after.service.log_path),
            "snapstart": summary(snapstart),
            "latest": summary(latest),
        }
        if before is not None:
            result["snapstart_before"] = {
                **summary(snapstart_before),
                "ref": before.ref,
                "commit": before.commit,
            }
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=15)
    parser.add_argument("--isolation", default="auto", help="auto, namespace or process [auto]")
    parser.add_argument(
        "--before", metavar="REF", help="also the SnapStart version on lambdalite as of git REF, alternately"
    )
    args = parser.parse_args()
    with ExitStack() as stack:
        work = Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="lambdalite-snapstart-", dir="/var/tmp"))
        )
        work.chmod(0o755)  # the process level runs functions as users that must reach the code
        before = None
        if args.before is not None:
            before = stack.enter_context(worktree.checkout(ROOT, args.before, work))
        result = run(args.samples, args.isolation, work, before)
    print(f"isolation {result['isolation']}; network of functions: {result['network']}")
    for label in ("snapstart", "snapstart_before", "latest"):
        figures = result.get(label)
        if figures is None:
            continue
        name = f"snapstart@{args.before}" if label == "snapstart_before" else label
        print(
            f"{name:>16}: cold start p50 {figures['p50_ms']:8.1f} ms  p99 {figures['p99_ms']:8.1f} ms  "
            f"(REPORT p50 {figures['report_duration_p50_ms']:.1f} ms, {figures['samples']} samples)"
        )
    met = result["snapstart"]["p50_ms"] <= TARGET_P50_MS
    print(f"target: SnapStart p50 <= {TARGET_P50_MS:.0f} ms: {'met' if met else 'NOT met'}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({**result, "target_p50_ms": TARGET_P50_MS, "met": met}, indent=2) + "\n")


if __name__ == "__main__":
    main()
