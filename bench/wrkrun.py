"""Run ``wrk`` against one URL with POST body ``{}`` and read its ``--latency`` report.

wrk is installed with apt-get when it is missing (the benchmark is allowed to
do that). The request comes from a small Lua script that sets the method, the
body and the content type; no ``response`` callback, so wrk stays at full speed.
"""

from __future__ import annotations

import re
import shutil
import statistics
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

LUA_SCRIPT = """\
wrk.method = "POST"
wrk.body = "{}"
wrk.headers["Content-Type"] = "application/json"
"""

_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_DURATION = r"([\d.]+)(us|ms|s|m|h)"


class WrkError(Exception):
    """wrk is unavailable, failed, or printed a report we cannot read."""


@dataclass(frozen=True, slots=True)
class WrkResult:
    connections: int
    threads: int
    duration_s: int
    requests: int
    requests_per_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    non_2xx: int
    """wrk's "Non-2xx or 3xx responses"."""
    socket_errors: int
    """connect + read + write + timeout errors."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def ensure_wrk() -> str:
    """Path of the wrk binary, installing the Debian package when it is missing."""
    found = shutil.which("wrk")
    if found:
        return found
    try:
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "wrk"],
            check=True,
            capture_output=True,
            timeout=120,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise WrkError(f"wrk is not installed and apt-get install wrk failed: {exc}") from exc
    found = shutil.which("wrk")
    if not found:
        raise WrkError("wrk is not on PATH after apt-get install wrk")
    return found


def write_script(directory: Path) -> Path:
    path = directory / "post_empty_json.lua"
    path.write_text(LUA_SCRIPT)
    return path


def run_wrk(wrk: str, script: Path, url: str, *, connections: int, duration_s: int) -> WrkResult:
    """One wrk run: ``min(connections, 2)`` threads (this is a 2-core machine's
    budget; more threads only steal CPU from the server under test)."""
    threads = min(connections, 2)
    argv = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration_s}s",
        "--timeout",
        "5s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=duration_s + 30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise WrkError(f"wrk did not finish: {exc}") from exc
    if done.returncode != 0:
        raise WrkError(f"wrk exited {done.returncode}: {done.stderr.strip() or done.stdout.strip()}")
    return parse_report(done.stdout, connections=connections, threads=threads, duration_s=duration_s)


def _ms(value: str, unit: str) -> float:
    return float(value) * _UNIT_MS[unit]


def parse_report(text: str, *, connections: int, threads: int, duration_s: int) -> WrkResult:
    """Read the numbers out of wrk's human-readable report."""

    def percentile(label: str) -> float:
        match = re.search(rf"^\s+{label}%\s+{_DURATION}\s*$", text, re.MULTILINE)
        if not match:
            raise WrkError(f"no {label}% line in wrk's report:\n{text}")
        return _ms(match[1], match[2])

    rate = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.MULTILINE)
    total = re.search(r"^\s+(\d+) requests in", text, re.MULTILINE)
    latency = re.search(rf"^\s+Latency\s+{_DURATION}\s+{_DURATION}\s+{_DURATION}", text, re.MULTILINE)
    if not rate or not total or not latency:
        raise WrkError(f"cannot read wrk's report:\n{text}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    return WrkResult(
        connections=connections,
        threads=threads,
        duration_s=duration_s,
        requests=int(total[1]),
        requests_per_s=float(rate[1]),
        p50_ms=percentile("50"),
        p90_ms=percentile("90"),
        p99_ms=percentile("99"),
        max_ms=_ms(latency[5], latency[6]),
        non_2xx=int(non_2xx[1]) if non_2xx else 0,
        socket_errors=sum(int(n) for n in errors.groups()) if errors else 0,
    )


def combine(slices: list[WrkResult]) -> WrkResult:
    """One result from several runs against the same URL (slices of one measurement
    taken in turn with other servers'): requests and errors add up, req/s is over
    the slices' summed duration; p50 and p90 are the slices' medians, p99 and max
    their maxima (wrk reports no histogram to merge: the tail errs on the slow side)."""
    if not slices:
        raise WrkError("no wrk runs to combine")
    first = slices[0]
    if len(slices) == 1:
        return first
    seconds = sum(s.duration_s for s in slices)
    requests = sum(s.requests for s in slices)
    return WrkResult(
        connections=first.connections,
        threads=first.threads,
        duration_s=seconds,
        requests=requests,
        requests_per_s=requests / seconds,
        p50_ms=statistics.median(s.p50_ms for s in slices),
        p90_ms=statistics.median(s.p90_ms for s in slices),
        p99_ms=max(s.p99_ms for s in slices),
        max_ms=max(s.max_ms for s in slices),
        non_2xx=sum(s.non_2xx for s in slices),
        socket_errors=sum(s.socket_errors for s in slices),
    )
