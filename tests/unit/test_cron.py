"""AWS schedule expressions: parsing, refusals and next firings (UTC and a zone with DST)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from lambdalite.events.cron import RateSchedule, ScheduleError, parse_schedule


def at(text: str, zone: str = "UTC") -> float:
    return (
        dt.datetime.fromisoformat(text)
        .replace(tzinfo=dt.UTC if zone == "UTC" else ZoneInfo(zone))
        .timestamp()
    )


def iso(moment: float | None, zone: str = "UTC") -> str:
    assert moment is not None
    return dt.datetime.fromtimestamp(moment, dt.UTC if zone == "UTC" else ZoneInfo(zone)).strftime(
        "%Y-%m-%d %H:%M %a"
    )


def nexts(expression: str, start: str, count: int = 3, zone: str = "UTC") -> list[str]:
    schedule = parse_schedule(expression, zone)
    moment = at(start, zone)
    found = []
    for _ in range(count):
        moment = schedule.next_after(moment, 0.0)  # type: ignore[assignment]
        found.append(iso(moment, zone))
    return found


def test_rates() -> None:
    assert parse_schedule("rate(1 minute)") == RateSchedule(60)
    assert parse_schedule("rate(5 minutes)") == RateSchedule(300)
    assert parse_schedule("rate(2 hours)") == RateSchedule(7200)
    assert parse_schedule("rate(1 day)") == RateSchedule(86400)
    schedule = RateSchedule(300)
    assert schedule.next_after(1000.0, 1000.0) == 1300.0
    assert schedule.next_after(1299.0, 1000.0) == 1300.0
    assert schedule.next_after(5000.0, 1000.0) == 5200.0


@pytest.mark.parametrize(
    "expression",
    [
        "rate(1 minutes)",
        "rate(2 minute)",
        "rate(0 minutes)",
        "rate(5 weeks)",
        "cron(0 12 * * * *)",
        "cron(0 12 ? * ? *)",
        "cron(0 12 * *)",
        "cron(60 12 * * ? *)",
        "cron(0 12 32 * ? *)",
        "cron(0 12 ? * 8 *)",
        "every minute",
    ],
)
def test_refused(expression: str) -> None:
    with pytest.raises(ScheduleError):
        parse_schedule(expression)


def test_cron_fields() -> None:
    assert nexts("cron(0 12 * * ? *)", "2026-12-07 18:30") == [
        "2026-12-08 12:00 Tue",
        "2026-12-09 12:00 Wed",
        "2026-12-10 12:00 Thu",
    ]
    assert nexts("cron(0/15 * * * ? *)", "2026-12-07 18:31") == [
        "2026-12-07 18:45 Mon",
        "2026-12-07 19:00 Mon",
        "2026-12-07 19:15 Mon",
    ]
    assert nexts("cron(0 18 ? * MON-FRI *)", "2026-12-11 19:00", 2) == [
        "2026-12-14 18:00 Mon",
        "2026-12-15 18:00 Tue",
    ]
    assert nexts("cron(0 8 1 * ? *)", "2026-12-07 00:00", 2) == [
        "2027-01-01 08:00 Fri",
        "2027-02-01 08:00 Mon",
    ]
    assert nexts("cron(0 9 L * ? *)", "2027-02-01 00:00", 2) == [
        "2027-02-28 09:00 Sun",
        "2027-03-31 09:00 Wed",
    ]
    assert nexts("cron(0 9 LW * ? *)", "2027-02-01 00:00", 1) == ["2027-02-26 09:00 Fri"]
    assert nexts("cron(0 9 15W * ? *)", "2027-05-01 00:00", 1) == ["2027-05-14 09:00 Fri"]
    assert nexts("cron(0 9 ? * 6L *)", "2026-12-01 00:00", 1) == ["2026-12-25 09:00 Fri"]
    assert nexts("cron(0 9 ? * 2#1 *)", "2026-12-07 10:00", 2) == [
        "2027-01-04 09:00 Mon",
        "2027-02-01 09:00 Mon",
    ]
    assert nexts("cron(0 10 * * ? 2027)", "2026-12-31 12:00", 1) == ["2027-01-01 10:00 Fri"]
    assert parse_schedule("cron(0 10 * * ? 2020)").next_after(at("2026-01-01 00:00")) is None


def test_daylight_saving_follows_the_zone() -> None:
    zone = "America/New_York"
    # 2027-03-14 02:30 does not exist in New York: that day is skipped.
    assert nexts("cron(30 2 * * ? *)", "2027-03-13 03:00", 2, zone) == [
        "2027-03-15 02:30 Mon",
        "2027-03-16 02:30 Tue",
    ]
    # 01:30 happens twice on 2027-11-07: it fires once.
    schedule = parse_schedule("cron(30 1 * * ? *)", zone)
    first = schedule.next_after(at("2027-11-07 00:00", zone))
    second = schedule.next_after(first or 0)
    assert iso(first, zone) == "2027-11-07 01:30 Sun" and iso(second, zone) == "2027-11-08 01:30 Mon"
    # 09:00 local is 14:00 UTC in winter and 13:00 UTC in summer.
    winter = parse_schedule("cron(0 9 * * ? *)", zone).next_after(at("2027-01-10 00:00"))
    summer = parse_schedule("cron(0 9 * * ? *)", zone).next_after(at("2027-07-10 00:00"))
    assert iso(winter).endswith("14:00 Sun") and iso(summer).endswith("13:00 Sat")
