"""Cold starts through a real lambdalite server, with zygotes and without.

For each isolation level this host offers (namespace when root, and process)
and each of ``--zygotes`` / ``--no-zygotes`` (the fresh-interpreter
baseline), one server is started (``python -m lambdalite serve``, with this
venv's bin first on PATH so ``python3.11`` is an interpreter that has boto3,
as AWS's runtime does) and measured:

* cold start: the latency of the first Invoke of a newly created function
  (request sent -> response read, one keep-alive HTTP connection), p50 and
  p99 over ``--samples`` functions, for (a) a Python hello function, (b) a
  Python function whose handler module imports boto3, (c) a Node.js hello
  function;
* scale-out: 100 concurrent first Invokes of one new function whose handler
  sleeps 100 ms, each on its own connection: the time until all have answered;
  ``--scale-trials`` times (a new function each, the last one deleted first,
  so every trial starts from the same idle environments), median reported;
* memory: USS of one idle warm Python environment (the runtime process; the
  namespace level's keeper and init are listed apart).

A warm-up function is invoked first so the zygote (started lazily by the first
Python start) is ready. Prints a table and writes bench/results/cold_start.json.
Targets (issue 3, 2-core host, namespace level): Python hello p50 <= 10 ms,
boto3 p50 <= 20 ms, Node.js p50 <= 100 ms, 100 concurrent <= 1.5 s, idle
Python environment <= 10 MB USS.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

import boto3
import psutil
from botocore.config import Config
from services import Service, free_port, network_of_functions

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results" / "cold_start.json"
READY_LINE = "lambdalite listening on"
ROLE = "arn:aws:iam::000000000000:role/lambda"
TARGETS_MS = {"python hello": 10.0, "python boto3": 20.0, "node hello": 100.0}
SCALE_OUT = 100
SCALE_OUT_TARGET_S = 1.5
USS_TARGET_MB = 10.0

PY_HELLO = "def handler(event, context):\n    return {'hello': 'world'}\n"
PY_BOTO3 = "import boto3\n\ndef handler(event, context):\n    return {'boto3': boto3.__version__}\n"
PY_SLEEP = "import time\n\ndef handler(event, context):\n    time.sleep(0.1)\n    return 'slept'\n"
NODE_HELLO = "exports.handler = async () => ({ hello: 'world' });\n"
CASES = (
    ("python hello", "python3.11", "app.handler", {"app.py": PY_HELLO}),
    ("python boto3", "python3.11", "app.handler", {"app.py": PY_BOTO3}),
    ("node hello", "nodejs20.x", "index.handler", {"index.js": NODE_HELLO}),
)


def zipped(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o644 << 16
            archive.writestr(info, text)
    return buffer.getvalue()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


class Server:
    """One lambdalite server for one configuration."""

    def __init__(self, isolation: str, zygotes: bool, work: Path) -> None:
        self.port = free_port()
        data = work / f"data-{isolation}-{'z' if zygotes else 'nz'}"
        venv_bin = str(Path(sys.executable).parent)
        self.service = Service(
            f"lambdalite ({isolation}, {'zygotes' if zygotes else 'no zygotes'})",
            [
                sys.executable,
                *("-m", "lambdalite", "serve", "--port", str(self.port), "--data-dir", str(data)),
                *("--isolation", isolation, "--zygotes" if zygotes else "--no-zygotes"),
                *("--keep-alive", "600"),
            ],
            cwd=ROOT,
            env={"PATH": f"{venv_bin}:{os.environ.get('PATH', '/usr/bin:/bin')}"},
            log_path=work / f"server-{isolation}-{zygotes}.log",
        )
        self.service.wait_for_line(READY_LINE, 30)
        self.network = network_of_functions(self.service.log_path)
        self.client = boto3.client(
            "lambda",
            endpoint_url=f"http://127.0.0.1:{self.port}",
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(retries={"max_attempts": 0}, read_timeout=120, max_pool_connections=SCALE_OUT),
        )
        self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)

    def create(self, name: str, runtime: str, handler: str, files: dict[str, str]) -> None:
        self.client.create_function(
            FunctionName=name,
            Runtime=runtime,
            Role=ROLE,
            Handler=handler,
            Code={"ZipFile": zipped(files)},
            Timeout=30,
        )
        deadline = time.monotonic() + 30
        while self.client.get_function_configuration(FunctionName=name).get("State") != "Active":
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} never became Active")
            time.sleep(0.02)

    def invoke(self, name: str, connection: http.client.HTTPConnection | None = None) -> float:
        """One Invoke; its latency in ms. Fails on anything but a successful 200."""
        conn = connection or self.connection
        started = time.perf_counter()
        conn.request("POST", f"/2015-03-31/functions/{name}/invocations", body=b"{}")
        response = conn.getresponse()
        body = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status != 200 or response.getheader("X-Amz-Function-Error"):
            raise RuntimeError(f"{name}: {response.status} {body[:300]!r}")
        return elapsed

    def stop(self) -> None:
        self.connection.close()
        self.service.stop()


def measure_cold(
    server: Server, samples: int, prefix: str, cases: tuple[str, ...]
) -> dict[str, dict[str, float]]:
    results = {}
    for label, runtime, handler, files in CASES:
        if label not in cases:
            continue
        latencies = []
        for index in range(samples):
            name = f"{prefix}-{label.replace(' ', '-')}-{index}"
            server.create(name, runtime, handler, files)
            latencies.append(server.invoke(name))
        results[label] = {
            "p50_ms": round(statistics.median(latencies), 2),
            "p99_ms": round(percentile(latencies, 99), 2),
            "min_ms": round(min(latencies), 2),
            "samples": len(latencies),
        }
    return results


def measure_scale_out(server: Server, trials: int) -> dict[str, Any]:
    """``trials`` bursts (see the module docstring): the median and each one."""
    runs = []
    for trial in range(trials):
        name = f"scale-out-{trial}"
        runs.append(_burst(server, name))
        server.client.delete_function(FunctionName=name)
        time.sleep(1.0)  # its environments stop
    times = [run["all_answered_s"] for run in runs]
    return {
        "concurrent": SCALE_OUT,
        "all_answered_s": round(statistics.median(times), 3),
        "trials_s": times,
        "errors": sum(run["errors"] for run in runs),
        "error_kinds": sorted({kind for run in runs for kind in run["error_kinds"]}),
    }


def _burst(server: Server, name: str) -> dict[str, Any]:
    server.create(name, "python3.11", "app.handler", {"app.py": PY_SLEEP})
    connections = [
        http.client.HTTPConnection("127.0.0.1", server.port, timeout=120) for _ in range(SCALE_OUT)
    ]
    for connection in connections:
        connection.connect()
    barrier = threading.Barrier(SCALE_OUT + 1)
    errors: list[str] = []

    def one(connection: http.client.HTTPConnection) -> None:
        barrier.wait()
        try:
            server.invoke(name, connection)
        except Exception as exc:
            errors.append(str(exc))

    threads = [threading.Thread(target=one, args=(c,)) for c in connections]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    for connection in connections:
        connection.close()
    return {
        "concurrent": SCALE_OUT,
        "all_answered_s": round(elapsed, 3),
        "errors": len(errors),
        "error_kinds": sorted(set(error[:200] for error in errors)),
    }


def _tcp_holders(server: Server) -> set[int]:
    """The server's descendants holding a TCP socket: the runtimes (each keeps its
    Runtime API connection), not a zygote, a keeper, an init or a zygote's spare."""
    holders = set()
    for proc in server.service.descendants():
        try:
            inodes = {
                os.readlink(f"/proc/{proc.pid}/fd/{fd}")[8:-1]
                for fd in os.listdir(f"/proc/{proc.pid}/fd")
                if os.readlink(f"/proc/{proc.pid}/fd/{fd}").startswith("socket:[")
            }
            tcp = set()
            for table in ("tcp", "tcp6"):  # the process's own network namespace
                for line in Path(f"/proc/{proc.pid}/net/{table}").read_text().splitlines()[1:]:
                    tcp.add(line.split()[9])
        except OSError:
            continue
        if inodes & tcp:
            holders.add(proc.pid)
    return holders


def measure_idle_uss(server: Server) -> dict[str, Any]:
    before = _tcp_holders(server)
    server.create("idle", "python3.11", "app.handler", {"app.py": PY_HELLO})
    server.invoke("idle")
    time.sleep(0.5)
    new = sorted(_tcp_holders(server) - before)
    if len(new) != 1:
        return {"runtime_uss_mb": None, "environment_total_uss_mb": None, "processes": [], "found": new}
    runtime = psutil.Process(new[0])
    members = [runtime]
    parent = runtime.parent()
    # At namespace level the runtime's parent is its keeper, which also holds init;
    # at process level it is the server or a zygote (the server's child).
    zygote = parent is not None and parent.ppid() == server.service.pid
    if parent is not None and parent.pid != server.service.pid and not zygote:
        members = [parent, *parent.children()]
    processes = []
    for proc in members:
        try:
            processes.append({"pid": proc.pid, "uss_mb": round(proc.memory_full_info().uss / 2**20, 2)})
        except psutil.Error:
            continue
    runtime_uss = next((p["uss_mb"] for p in processes if p["pid"] == runtime.pid), None)
    return {
        "runtime_uss_mb": runtime_uss,
        "environment_total_uss_mb": round(sum(p["uss_mb"] for p in processes), 2),
        "processes": processes,
    }


def run_config(
    isolation: str,
    zygotes: bool,
    samples: int,
    work: Path,
    cases: tuple[str, ...],
    extras: bool,
    scale_trials: int = 3,
) -> dict[str, Any]:
    server = Server(isolation, zygotes, work)
    try:
        for index in range(2):  # starts the zygote (lazily), then uses it
            server.create(f"warm-{index}", "python3.11", "app.handler", {"app.py": PY_BOTO3})
            server.invoke(f"warm-{index}")
            time.sleep(1.5)
        result: dict[str, Any] = {
            "network": server.network,
            "cold_start": measure_cold(server, samples, "c", cases),
        }
        if extras:
            result["scale_out"] = measure_scale_out(server, scale_trials)
            result["idle_python_env"] = measure_idle_uss(server)
        return result
    finally:
        server.stop()


def print_table(results: dict[str, Any]) -> None:
    columns = " ".join(f"{label + ' p50/p99 ms':>26}" for label, *_ in CASES)
    header = f"{'level':<10} {'zygotes':<8} {columns}"
    print(header + f" {'100 concurrent s':>17} {'idle USS MB':>12}  (scale-out: median of the trials)")
    for key, value in results["runs"].items():
        level, zyg = key.split("/")
        cold = value["cold_start"]
        cells = " ".join(
            f"{cold[label]['p50_ms']:>12.1f} / {cold[label]['p99_ms']:>9.1f}"
            if label in cold
            else f"{'-':>24}"
            for label, *_ in CASES
        )
        if "scale_out" in value:
            scale = value["scale_out"]
            uss = value["idle_python_env"]["runtime_uss_mb"]
            errors = f" ({scale['errors']} errors)" if scale["errors"] else ""
            trials = "/".join(f"{trial:.2f}" for trial in scale["trials_s"])
            extras = f"{scale['all_answered_s']:>17.3f}{errors} {uss!s:>12}  (scale-out trials: {trials} s)"
        else:
            extras = f"{'-':>17} {'-':>12}"
        print(f"{level:<10} {zyg:<8} {cells} {extras}")
    print(
        f"targets (namespace, zygotes): python hello p50 <= {TARGETS_MS['python hello']:.0f} ms, "
        f"boto3 <= {TARGETS_MS['python boto3']:.0f} ms, node <= {TARGETS_MS['node hello']:.0f} ms, "
        f"{SCALE_OUT} concurrent <= {SCALE_OUT_TARGET_S} s, idle env <= {USS_TARGET_MB:.0f} MB USS"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=30, help="new functions per case [30]")
    parser.add_argument(
        "--levels", default="namespace,process" if os.geteuid() == 0 else "process", help="isolation levels"
    )
    parser.add_argument(
        "--zygotes", choices=("both", "on", "off"), default="both", help="with, without or both [both]"
    )
    parser.add_argument(
        "--cases",
        default=",".join(label for label, *_ in CASES),
        help="cold-start cases to measure, comma-separated labels [all]",
    )
    parser.add_argument(
        "--no-extras", action="store_true", help="skip the scale-out and idle memory measurements"
    )
    parser.add_argument("--scale-trials", type=int, default=3, help="scale-out bursts, median reported [3]")
    args = parser.parse_args()
    cases = tuple(label.strip() for label in args.cases.split(","))
    unknown = set(cases) - {label for label, *_ in CASES}
    if unknown:
        parser.error(f"unknown cases: {', '.join(sorted(unknown))}")
    zygote_modes = {"both": (True, False), "on": (True,), "off": (False,)}[args.zygotes]
    results: dict[str, Any] = {
        "host": {"cpus": os.cpu_count(), "kernel": platform.release(), "python": platform.python_version()},
        "samples": args.samples,
        "targets": {
            "cold_start_p50_ms": TARGETS_MS,
            "scale_out_s": SCALE_OUT_TARGET_S,
            "idle_env_uss_mb": USS_TARGET_MB,
        },
        "runs": {},
    }
    with tempfile.TemporaryDirectory(prefix="lambdalite-cold-", dir="/var/tmp") as work:
        # 0700 as made: the process level runs functions as users of their own, which
        # must reach their code below it (it refuses to run them as root instead).
        Path(work).chmod(0o755)
        for level in args.levels.split(","):
            for zygotes in zygote_modes:
                key = f"{level}/{'on' if zygotes else 'off'}"
                print(f"measuring {key} ...", file=sys.stderr, flush=True)
                results["runs"][key] = run_config(
                    level, zygotes, args.samples, Path(work), cases, not args.no_extras, args.scale_trials
                )
                print(f"{key}: network of functions: {results['runs'][key]['network']}", file=sys.stderr)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)
    print(f"written to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
