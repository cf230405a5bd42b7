"""bench/rounds.py and the targets of bench/invoke_bench.py: medians of rounds, ratios paired by round."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import invoke_bench
import rounds
import wrkrun


def one_round(p50: float, rps: float) -> dict[str, Any]:
    return {"warm": {"p50_ms": p50}, "wrk": {"16": {"requests_per_s": rps}}}


def test_a_figure_is_the_median_of_the_rounds_that_have_it() -> None:
    measured = [
        one_round(0.3, 10_000),
        {"error": "wrk failed"},
        one_round(0.2, 12_000),
        one_round(0.9, 11_000),
    ]
    merged = rounds.median_of_rounds(measured, [("warm", "p50_ms"), ("wrk", "16", "requests_per_s"), ("x",)])
    assert merged == {"warm": {"p50_ms": 0.3}, "wrk": {"16": {"requests_per_s": 11_000}}}
    spread = rounds.summary(rounds.numbers(measured, ("warm", "p50_ms")))
    assert spread == {"median": 0.3, "min": 0.2, "max": 0.9, "spread": pytest.approx(0.7 / 0.3), "rounds": 3}
    assert rounds.summary([]) is None


def test_ratios_are_paired_round_by_round() -> None:
    # The machine halves its speed in round 2: both servers slow down, the ratio does not.
    mine = [one_round(0.2, 12_000), one_round(0.4, 6_000), one_round(0.2, 12_000)]
    theirs = [one_round(0.5, 6_000), one_round(1.0, 3_000), {"error": "down"}]
    ratio = rounds.paired_ratio(mine, theirs, ("warm", "p50_ms"))
    assert ratio == {"median": 0.4, "min": 0.4, "max": 0.4, "spread": 0.0, "rounds": 2}
    worst = rounds.paired_ratio(mine, theirs, ("wrk", "16", "requests_per_s"))
    assert worst is not None and worst["min"] == 2.0


def results_of(**servers: tuple[float, float]) -> dict[str, Any]:
    """Benchmark results with three identical rounds per server of (warm p50 ms, 16-client req/s)."""
    results: dict[str, Any] = {}
    for key, (p50, rps) in servers.items():
        results[key] = {"rounds": [one_round(p50, rps) for _ in range(3)]}
        invoke_bench.summarise_server(results[key])
    results["ratios"] = invoke_bench.compute_ratios(results, [k for k in servers if k != "lambdalite"])
    return results


def verdicts(results: dict[str, Any]) -> dict[str, bool | None]:
    """Target -> PASS/FAIL; a target that several figures share is keyed "figure: target"."""
    checks = invoke_bench.evaluate_targets(results)
    return {c["target"]: c["passed"] for c in checks} | {
        f"{c['row']}: {c['target']}": c["passed"] for c in checks
    }


def test_the_issues_targets_are_judged_on_ratios_in_the_run() -> None:
    passing = verdicts(
        results_of(
            lambdalite=(0.2, 16_000), serverless_offline=(0.45, 9_000), echo_lambdalite_http=(0.09, 50_000)
        )
    )
    assert passing[">= 2x faster than serverless-offline"] is True
    assert passing[">= 1.6x serverless-offline, every round"] is True
    assert passing["<= 2.5x the echo on lambdalite's HTTP"] is True
    failing = verdicts(
        results_of(
            lambdalite=(0.3, 12_000), serverless_offline=(0.5, 9_000), echo_lambdalite_http=(0.08, 50_000)
        )
    )
    assert failing[">= 2x faster than serverless-offline"] is False
    assert failing[">= 1.6x serverless-offline, every round"] is False
    assert failing["<= 2.5x the echo on lambdalite's HTTP"] is False


def test_before_and_after_allow_only_the_noise_allowance() -> None:
    results = results_of(lambdalite=(0.30, 10_000), before=(0.29, 10_400))
    results["before_ref"] = {"ref": "main", "commit": "0" * 40}
    within = verdicts(results)
    assert within["warm invoke p50 (sequential): no regression vs main (within 5%)"] is True
    assert within["16 clients: req/s: no regression vs main (within 5%)"] is True
    results = results_of(lambdalite=(0.33, 10_000), before=(0.29, 10_600))
    results["before_ref"] = {"ref": "main", "commit": "0" * 40}
    regressed = verdicts(results)
    assert regressed["warm invoke p50 (sequential): no regression vs main (within 5%)"] is False
    assert regressed["16 clients: req/s: no regression vs main (within 5%)"] is False


def _wrk(requests: int, p50: float, p99: float, seconds: int = 1) -> wrkrun.WrkResult:
    return wrkrun.WrkResult(16, 2, seconds, requests, requests / seconds, p50, p50, p99, p99 * 2, 1, 0)


def test_slices_of_one_wrk_measurement_combine_into_one() -> None:
    combined = wrkrun.combine([_wrk(3000, 1.0, 5.0), _wrk(6000, 3.0, 9.0), _wrk(3000, 2.0, 4.0)])
    assert (combined.requests, combined.duration_s, combined.requests_per_s) == (12_000, 3, 4000)
    assert (combined.p50_ms, combined.p99_ms, combined.max_ms, combined.non_2xx) == (2.0, 9.0, 18.0, 3)
    with pytest.raises(wrkrun.WrkError):
        wrkrun.combine([])


def test_the_16_client_runs_of_a_round_are_sliced_and_interleaved(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, int, int]] = []

    def fake_run_wrk(wrk: str, script: Any, url: str, *, connections: int, duration_s: int) -> Any:
        port = int(url.split(":")[2].split("/")[0])
        calls.append((port, connections, duration_s))
        if port == 3 and len(calls) > 4:
            raise wrkrun.WrkError("gone")
        return _wrk(1000 * port * duration_s, 1.0, 2.0, duration_s)

    monkeypatch.setattr(invoke_bench, "run_wrk", fake_run_wrk)
    servers = [invoke_bench.Server(str(n), str(n), n, "/p", service=None) for n in (1, 2, 3)]  # type: ignore[arg-type]
    measured: dict[str, dict[str, Any]] = {"1": {"wrk": {}}, "2": {"error": "warm"}, "3": {"wrk": {}}}
    plan = invoke_bench.FULL
    invoke_bench.measure_paired(servers, measured, "wrk", Path("s"), plan, first=False)
    warmups = [(1, 16, plan.wrk_warmup_seconds), (3, 16, plan.wrk_warmup_seconds)]
    assert plan.wrk_seconds == 3
    # warm-ups first, then 1 s slices server after server; one that fails drops out
    slice_1, slice_3 = (1, 16, 1), (3, 16, 1)
    assert calls == [*warmups, slice_1, slice_3, slice_1, slice_3, slice_1]
    assert measured["1"]["wrk"]["16"]["requests_per_s"] == 1000
    assert measured["1"]["wrk"]["16"]["duration_s"] == plan.wrk_seconds
    assert measured["2"] == {"error": "warm"} and measured["3"] == {"error": "gone"}
