"""How many events per second the pattern index matches against 1,000 rules (issue 15).

    .venv/bin/python bench/patterns_bench.py [--quick]

Builds 1,000 EventBridge-style rules of mixed shapes (exact sources and
detail-types, prefixes, suffixes, numeric ranges, anything-but, exists, wildcards,
``$or``) and a stream of events; every event is tested against all the rules at
once through ``PatternIndex.matching`` (one flatten, hash lookups per field), and
for contrast against each compiled pattern one by one. Target on 2 cores:
>= 2,000 events/s through the index.

Prints one table and writes bench/results/patterns.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from lambdalite.events.patterns import Pattern, PatternIndex, compile_pattern, flatten  # noqa: E402

RESULTS = REPO / "bench" / "results" / "patterns.json"
TARGET_EVENTS_PER_S = 2000
SOURCES = [f"app.service{n}" for n in range(60)]
TYPES = [f"Order {verb}" for verb in ("Created", "Paid", "Shipped", "Cancelled", "Returned", "Updated")]
STATES = ["pending", "running", "stopped", "terminated", "failed", "queued"]


def rule(rng: random.Random) -> dict[str, Any]:
    shape = rng.randrange(8)
    source = rng.choice(SOURCES)
    if shape == 0:
        return {"source": [source]}
    if shape == 1:
        return {"source": [source], "detail-type": [rng.choice(TYPES)]}
    if shape == 2:
        return {"source": [{"prefix": source[:-1]}], "detail": {"state": rng.sample(STATES, 2)}}
    if shape == 3:
        low = rng.randrange(0, 900)
        return {"source": [source], "detail": {"amount": [{"numeric": [">=", low, "<", low + 100]}]}}
    if shape == 4:
        return {
            "detail": {
                "state": [{"anything-but": rng.sample(STATES, 3)}],
                "path": [{"suffix": f"-{rng.randrange(1000)}"}],
            }
        }
    if shape == 5:
        return {"source": [source], "detail": {"customer": {"tier": [{"exists": True}]}}}
    if shape == 6:
        return {"source": [source], "detail": {"path": [{"wildcard": f"orders/{rng.randrange(50)}/*"}]}}
    return {
        "source": [source],
        "$or": [
            {"detail": {"state": [rng.choice(STATES)]}},
            {"detail": {"amount": [{"numeric": [">", 990]}]}},
        ],
    }


def event(rng: random.Random) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": rng.choice(TYPES),
        "source": rng.choice(SOURCES),
        "account": "000000000000",
        "time": "2026-12-07T18:00:00Z",
        "region": rng.choice(["us-east-1", "eu-west-1", "eu-west-2"]),
        "resources": [],
        "detail": {
            "state": rng.choice(STATES),
            "amount": rng.randrange(0, 1000),
            "path": f"orders/{rng.randrange(60)}/item-{rng.randrange(1000)}",
            "customer": {"id": f"c-{rng.randrange(10_000)}", "tier": rng.choice(["gold", "silver"])},
            "items": [{"sku": f"s-{rng.randrange(100)}", "qty": rng.randrange(1, 5)} for _ in range(3)],
            "region": rng.choice(["us-east-1", "eu-west-1", "eu-west-2"]),
        },
    }


def measure(rules: int, events: int, seconds: float) -> dict[str, Any]:
    rng = random.Random(15)
    compiled: list[Pattern] = [compile_pattern(rule(rng)) for _ in range(rules)]
    index: PatternIndex[int] = PatternIndex()
    for number, pattern in enumerate(compiled):
        index.put(number, pattern)
    stream = [event(rng) for _ in range(events)]
    index.matching(stream[0])  # builds the tables

    matched = 0
    done = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for item in stream:
            matched += len(index.matching(item))
        done += len(stream)
    indexed_s = time.perf_counter() - start

    loop_done = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds / 2:
        for item in stream[:200]:
            flat = flatten(item)
            sum(1 for pattern in compiled if pattern.matches_flat(flat))
        loop_done += min(200, len(stream))
    loop_s = time.perf_counter() - start

    # The two ways agree (checked on a sample, not timed).
    for item in stream[:200]:
        flat = flatten(item)
        assert index.matching_flat(flat) == {n for n, p in enumerate(compiled) if p.matches_flat(flat)}
    return {
        "rules": rules,
        "events": done,
        "indexed_events_per_s": round(done / indexed_s),
        "one_by_one_events_per_s": round(loop_done / loop_s),
        "mean_matches_per_event": round(matched / done, 2),
        "target_events_per_s": TARGET_EVENTS_PER_S,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 s of matching instead of 5")
    args = parser.parse_args()
    result = measure(1000, 2000, 1.0 if args.quick else 5.0)
    table = Table(title="event patterns: 1,000 rules, every event against all of them")
    for column in ("rules", "indexed events/s", "one-by-one events/s", "matches/event", "target"):
        table.add_column(column, justify="right")
    table.add_row(
        str(result["rules"]),
        f"{result['indexed_events_per_s']:,}",
        f"{result['one_by_one_events_per_s']:,}",
        str(result["mean_matches_per_event"]),
        f">= {TARGET_EVENTS_PER_S:,}",
    )
    Console().print(table)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "result": result,
    }
    RESULTS.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
