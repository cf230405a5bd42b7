"""Figures of several rounds, summarised so that a noisy machine still gives a stable answer.

A benchmark that runs every server once per round, in turn, gets one value of
each figure per server and round. On a shared 2-core machine the absolute
values move by tens of percent between rounds (other work comes and goes), but
two servers measured seconds apart in the same round see nearly the same
machine. So:

* a figure of a server is the **median** of its rounds (``median_of_rounds``);
* a ratio between two servers is computed **per round** from the two values
  of that round, and summarised by its median, minimum and maximum
  (``paired_ratio``): the minimum of a throughput ratio is its worst round;
* the **spread** of a figure is ``(max - min) / median`` over the rounds: how
  noisy it was.

Rounds are dicts of the same nested shape (``{"warm": {"p50_ms": ...},
"wrk": {"16": {...}}}``); a figure is named by its path of keys.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

Path = tuple[str, ...]


def dig(value: Any, path: Path) -> Any:
    """``value[path[0]][path[1]]...``, or None where a key is missing."""
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def numbers(rounds: Sequence[dict[str, Any]], path: Path) -> list[float]:
    """The figure at ``path`` of each round that has it (a failed round has not)."""
    found = (dig(one, path) for one in rounds)
    return [
        float(v) for v in found if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    ]


def summary(values: Sequence[float]) -> dict[str, float] | None:
    """Median, minimum, maximum and spread of ``values`` (None when empty)."""
    if not values:
        return None
    middle = statistics.median(values)
    low, high = min(values), max(values)
    return {
        "median": middle,
        "min": low,
        "max": high,
        "spread": (high - low) / middle if middle else 0.0,
        "rounds": len(values),
    }


def median_of_rounds(rounds: Sequence[dict[str, Any]], paths: Sequence[Path]) -> dict[str, Any]:
    """A dict of the rounds' shape holding, at each of ``paths``, the median over the rounds."""
    merged: dict[str, Any] = {}
    for path in paths:
        values = numbers(rounds, path)
        if not values:
            continue
        node = merged
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = statistics.median(values)
    return merged


def paired_ratio(
    mine: Sequence[dict[str, Any]], other: Sequence[dict[str, Any]], path: Path
) -> dict[str, float] | None:
    """``mine / other`` of the figure at ``path``, round by round (rounds are
    paired by position; a round where either failed is left out), summarised."""
    ratios = []
    for one, two in zip(mine, other, strict=False):
        numerator, denominator = dig(one, path), dig(two, path)
        if isinstance(numerator, int | float) and isinstance(denominator, int | float) and denominator:
            ratios.append(numerator / denominator)
    return summary(ratios)
