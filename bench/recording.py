"""How the benchmarks that run one plan record it: the figures with when, how (the
plan) and where (the host) they were taken and how long it took, as JSON."""

from __future__ import annotations

import json
import platform
import signal
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn


def _raise_exit(signum: int, _frame: object) -> NoReturn:
    raise SystemExit(128 + signum)


def exit_on_sigterm() -> None:
    """SIGTERM ends the benchmark as an exception does, so that its ``finally`` blocks
    stop the servers it started."""
    signal.signal(signal.SIGTERM, _raise_exit)


def record(plan: Any, quick: bool, measure: Callable[[], dict[str, Any]], output: Path) -> dict[str, Any]:
    """Run ``measure()`` and write its figures to ``output`` beside the plan (a
    dataclass), the host and the duration; the whole record is returned."""
    started = time.monotonic()
    results: dict[str, Any] = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": quick,
        "plan": asdict(plan),
        "host": {"python": platform.python_version(), "machine": platform.machine()},
    }
    results.update(measure())
    results["duration_s"] = round(time.monotonic() - started, 1)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n")
    return results
