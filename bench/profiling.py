"""Sample a running server with py-spy while a load runs, and summarise where its time goes.

``--profile`` in invoke_bench.py uses this around the measured 16-client wrk
run against lambdalite. py-spy is not a dependency: install it into the venv
(``.venv/bin/pip install py-spy``) to use the flag. The raw output is one
collapsed stack per line (``frame;frame;frame COUNT``, root first), which
flamegraph tools read; the summary is computed from it here.

py-spy's idle detection does not see every wait. Stacks that end in an idle
thread-pool worker (``_worker`` waiting on its queue) are left out of the
shares; the event loop's own epoll wait in uvloop's C code cannot be told from
its work, so read the share on ``Runner.run`` as partly idle.
"""

from __future__ import annotations

import collections
import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SAMPLE_RATE_HZ = 250


def py_spy() -> str | None:
    """The py-spy binary next to this interpreter (the venv), else on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


@contextlib.contextmanager
def recording(pid: int, seconds: int, output: Path) -> Iterator[None]:
    """py-spy samples ``pid`` for ``seconds`` (or until the block ends) into ``output``."""
    binary = py_spy()
    if binary is None:
        raise RuntimeError("--profile needs py-spy: .venv/bin/pip install py-spy")
    output.parent.mkdir(parents=True, exist_ok=True)
    argv = [binary, "record", "--rate", str(SAMPLE_RATE_HZ), "--duration", str(seconds)]
    # Not --nonblocking: without pausing the server, stacks read while it runs
    # Python code come out torn and are dropped, so samples pile up on syscalls
    # (writes showed twice their share). Pausing 250 times a second costs a few
    # percent of throughput, which is why the figures of a --profile run are lower.
    argv += ["--format", "raw", "--output", str(output), "--pid", str(pid)]
    spy = subprocess.Popen(
        argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        yield
    finally:
        # py-spy writes its file on SIGINT as it does at the end of -d.
        with contextlib.suppress(ProcessLookupError):
            if spy.poll() is None:
                os.killpg(spy.pid, signal.SIGINT)
        try:
            spy.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(spy.pid, signal.SIGKILL)
            spy.wait()
        if spy.stderr is not None:
            spy.stderr.close()


IDLE_LEAVES = ("_worker (concurrent/futures/thread.py",)
"""Leaf frames of threads that are only waiting."""
ENTRY_FILES = ("lambdalite/__main__.py", "lambdalite/cli.py", "lambdalite/app.py")
"""Frames on every stack (the command line and serve()); they say nothing."""


def summarise(raw: Path, top: int = 15, focus: str = "lambdalite/") -> dict[str, Any]:
    """Self time per frame, and inclusive time of the frames whose file contains
    ``focus`` (except the entry points), as shares of all samples."""
    self_time: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        if frames[-1].startswith(IDLE_LEAVES):
            continue
        total += count
        self_time[frames[-1]] += count
        for frame in set(frames):
            if focus in frame and not any(entry in frame for entry in ENTRY_FILES):
                inclusive[frame] += count

    def shares(counter: collections.Counter[str], limit: int) -> list[dict[str, Any]]:
        return [{"frame": f, "share": n / total} for f, n in counter.most_common(limit)] if total else []

    return {
        "file": str(raw),
        "samples": total,
        "top_self": shares(self_time, top),
        "top_inclusive": shares(inclusive, top * 2),
    }
