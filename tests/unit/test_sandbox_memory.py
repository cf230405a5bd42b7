"""Peak memory comes from the sandboxed process: each level measures its own tree."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from lambdalite.sandbox.process import ProcessSandbox
from lambdalite.sandbox.spec import SandboxSpec
from lambdalite.sandbox.tree import MemoryMeter, tree_resident_bytes

MB = 1024 * 1024

# Holds 60 MB in a child (not the runtime itself), says so, then waits to be killed.
PARENT_OF_A_HOG = """
import os, subprocess, sys, time
hog = "b = bytearray(60 << 20); print('ready', flush=True); input()"
child = subprocess.Popen([sys.executable, "-c", hog], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
child.stdout.readline()
print("ready", flush=True)
time.sleep(60)
"""


def _spec(tmp_path: Path, code: str) -> SandboxSpec:
    task = tmp_path / "task"
    task.mkdir(exist_ok=True)
    (task / "main.py").write_text(code)
    return SandboxSpec("mem1", (sys.executable, str(task / "main.py")), {}, task, tmp_path)


async def _until_ready(fd: int) -> None:
    seen = b""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while b"ready" not in seen:
        assert loop.time() < deadline, seen
        try:
            seen += os.read(fd, 4096)
        except BlockingIOError:
            await asyncio.sleep(0.02)


def test_process_level_counts_the_trees_memory_and_keeps_its_peak_after_the_kill(tmp_path: Path) -> None:
    sandbox = ProcessSandbox(tmp_path / "sandboxes", drop_privileges=False)

    async def scenario() -> tuple[int, int | None, int | None, int]:
        process = await sandbox.start(_spec(tmp_path, PARENT_OF_A_HOG))
        try:
            await _until_ready(process.output_fd)
            now = process.memory_bytes()
            process.kill_tree()  # measures first: the figures outlive the tree
            await process.wait()
            after_kill = process.peak_memory_bytes()
        finally:
            await process.stop()
            os.close(process.output_fd)
        return now, after_kill, process.peak_memory_bytes(), process.memory_bytes()

    now, after_kill, after_stop, gone = asyncio.run(scenario())
    assert now > 60 * MB  # the child's bytearray, though the runtime itself is small
    assert after_kill is not None and after_kill > 60 * MB
    assert after_stop == after_kill and gone == 0


def test_a_tree_without_children_is_its_runtimes_resident_set() -> None:
    own = tree_resident_bytes(os.getpid())
    assert own > MB


def test_a_meter_without_a_cgroup_or_a_process_knows_nothing_and_says_so() -> None:
    meter = MemoryMeter(None)
    assert meter.peak_bytes(0) is None and meter.current_bytes(0) == 0 and not meter.out_of_memory()
    meter.release()
    assert meter.peak_bytes(os.getpid()) is None  # released: no new figures


# For "spike" touches 40 MB and frees it again, for "keep" holds 80 MB more; then answers.
SPIKER = """
import sys
kept = []
for line in sys.stdin:
    if line.strip() == "spike":
        b = bytearray(40 << 20)
        del b
    elif line.strip() == "keep":
        kept.append(bytearray(80 << 20))
    print("done", flush=True)
"""


def test_the_runtimes_peak_is_seen_while_it_grows_and_a_spike_between_samples_soon_after() -> None:
    """The runtime's VmHWM is re-read only when the cheap figures say it may have
    moved (``MemoryMeter._runtime_peak``), and at least every HWM_EVERY samples."""
    import subprocess

    from lambdalite.sandbox import tree

    child = subprocess.Popen(
        [sys.executable, "-c", SPIKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert child.stdin is not None and child.stdout is not None

    def tell(line: str) -> None:
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write(line + "\n")
        child.stdin.flush()
        assert child.stdout.readline() == "done\n"

    try:
        tell("settle")
        meter = MemoryMeter(None)
        before = meter.peak_bytes(child.pid)
        assert before is not None
        # Unchanged: the same figure from statm alone, as long as the runtime stays below it.
        assert [meter.peak_bytes(child.pid) for _ in range(3)] == [before] * 3
        tell("spike")  # up by 40 MB and back down, between two samples
        seen = [meter.peak_bytes(child.pid) or 0 for _ in range(tree.HWM_EVERY)]
        assert seen[-1] >= before + 35 * MB
        tell("keep")  # resident above the last VmHWM: the very next sample reads it
        assert (meter.peak_bytes(child.pid) or 0) >= before + 75 * MB
    finally:
        child.kill()
        child.wait()
