"""What a pidfd refers to, for tests that check the sandbox's pidfds."""

from __future__ import annotations

from pathlib import Path


def pid_of(pidfd: int) -> int:
    """The pid a pidfd refers to, in our PID namespace (its fdinfo; -1 once the process is gone)."""
    for line in Path(f"/proc/self/fdinfo/{pidfd}").read_text().splitlines():
        if line.startswith("Pid:"):
            return int(line.split()[1])
    raise AssertionError("not a pidfd")
