"""AWS schedule expressions: ``rate(value unit)`` and the six-field ``cron(...)``,
parsed once and asked for the next firing after a moment.

Cron fields, as EventBridge documents them: minutes (0-59), hours (0-23),
day-of-month (1-31, ``L`` the last day, ``LW`` the last weekday, ``15W`` the weekday
nearest the 15th), month (1-12 or JAN-DEC), day-of-week (1-7 = SUN-SAT or
SUN-SAT, ``6L`` the last Friday of the month, ``2#1`` the first Monday), year
(1970-2199). Each takes ``*``, lists (``,``), ranges (``-``) and steps (``/``);
exactly one of day-of-month and day-of-week is ``?``. Times are computed in the
schedule's time zone (UTC for rules), so a schedule follows that zone's
daylight-saving changes: a local time that does not exist that day (the spring
gap) is skipped; one that exists twice fires once, at its first occurrence.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

__all__ = ["AtSchedule", "CronSchedule", "RateSchedule", "Schedule", "ScheduleError", "parse_schedule"]

UTC = dt.UTC
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\(([^)]*)\)$")
_AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")
_MONTHS = {name: n for n, name in enumerate(calendar.month_abbr) if name}
_DAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
_UNIT_S = {"minute": 60, "hour": 3600, "day": 86400}
_SEARCH_DAYS = 366 * 8


class ScheduleError(ValueError):
    """Not a schedule expression AWS accepts."""


@dataclass(frozen=True, slots=True)
class RateSchedule:
    period_s: int

    def next_after(self, moment: float, anchor: float) -> float:
        """The first firing after ``moment`` of a rate started at ``anchor``."""
        if moment < anchor:
            return anchor
        periods = int((moment - anchor) // self.period_s) + 1
        return anchor + periods * self.period_s


@dataclass(frozen=True, slots=True)
class AtSchedule:
    """``at(yyyy-mm-ddThh:mm:ss)``: one firing, at that wall-clock time in the zone."""

    at: float

    def next_after(self, moment: float, anchor: float = 0.0) -> float | None:
        del anchor
        return self.at if self.at > moment else None


@dataclass(frozen=True, slots=True)
class _Days:
    """The day-of-month or day-of-week field."""

    values: frozenset[int]
    last: bool = False
    last_weekday: bool = False
    nearest_weekday: int | None = None
    last_of: int | None = None
    """Day-of-week ``nL``: the last such weekday of the month."""
    nth: tuple[int, int] | None = None
    """Day-of-week ``d#k``: the k-th such weekday."""
    any: bool = False


@dataclass(frozen=True, slots=True)
class CronSchedule:
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    dom: _Days
    months: frozenset[int]
    dow: _Days
    years: frozenset[int] | None
    zone: dt.tzinfo

    def next_after(self, moment: float, anchor: float = 0.0) -> float | None:
        """The first firing strictly after ``moment`` (None when there is none in
        the next eight years: a year field in the past)."""
        del anchor
        start = dt.datetime.fromtimestamp(moment, self.zone)
        day = start.date()
        for _ in range(_SEARCH_DAYS):
            if (
                (self.years is None or day.year in self.years)
                and day.month in self.months
                and self._day_matches(day)
            ):
                for hour in self.hours:
                    for minute in self.minutes:
                        local = dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=self.zone)
                        if not _exists(local):
                            continue
                        when = local.timestamp()
                        if when > moment:
                            return when
            day += dt.timedelta(days=1)
        return None

    def _day_matches(self, day: dt.date) -> bool:
        return _dom_matches(self.dom, day) if not self.dom.any else _dow_matches(self.dow, day)


def _exists(local: dt.datetime) -> bool:
    """False for a wall-clock time inside a spring-forward gap; a repeated time
    keeps fold=0 (its first occurrence)."""
    round_trip = dt.datetime.fromtimestamp(local.timestamp(), local.tzinfo)
    return (round_trip.hour, round_trip.minute) == (local.hour, local.minute)


def _dom_matches(days: _Days, day: dt.date) -> bool:
    last = calendar.monthrange(day.year, day.month)[1]
    if days.last:
        return day.day == last
    if days.last_weekday:
        target = dt.date(day.year, day.month, last)
        while target.weekday() >= 5:
            target -= dt.timedelta(days=1)
        return day == target
    if days.nearest_weekday is not None:
        return day == _nearest_weekday(day.year, day.month, days.nearest_weekday)
    return day.day in days.values


def _nearest_weekday(year: int, month: int, wanted: int) -> dt.date:
    last = calendar.monthrange(year, month)[1]
    target = dt.date(year, month, min(wanted, last))
    if target.weekday() == 5:  # Saturday: Friday before, unless that leaves the month
        return target - dt.timedelta(days=1) if target.day > 1 else target + dt.timedelta(days=2)
    if target.weekday() == 6:  # Sunday: Monday after, unless that leaves the month
        return target + dt.timedelta(days=1) if target.day < last else target - dt.timedelta(days=2)
    return target


def _aws_weekday(day: dt.date) -> int:
    """1 = Sunday ... 7 = Saturday."""
    return (day.weekday() + 1) % 7 + 1


def _dow_matches(days: _Days, day: dt.date) -> bool:
    weekday = _aws_weekday(day)
    if days.last_of is not None:
        return weekday == days.last_of and day.day + 7 > calendar.monthrange(day.year, day.month)[1]
    if days.nth is not None:
        wanted, k = days.nth
        return weekday == wanted and (day.day - 1) // 7 + 1 == k
    return weekday in days.values


Schedule = RateSchedule | CronSchedule | AtSchedule


def _zone(zone: str) -> dt.tzinfo:
    try:
        return UTC if zone == "UTC" else ZoneInfo(zone)
    except (ValueError, KeyError) as exc:
        raise ScheduleError(zone) from exc


def parse_schedule(expression: str, zone: str = "UTC", *, one_time: bool = False) -> Schedule:
    """Parse a ``rate(...)`` or ``cron(...)`` expression (and, with ``one_time``,
    EventBridge Scheduler's ``at(...)``); ScheduleError when AWS would refuse it
    (its message is the zone when the zone is what it refuses)."""
    tz = _zone(zone)
    at = _AT.match(expression) if one_time else None
    if at is not None:
        try:
            local = dt.datetime.strptime(at.group(1), "%Y-%m-%dT%H:%M:%S")
        except ValueError as exc:
            raise ScheduleError(expression) from exc
        return AtSchedule(local.replace(tzinfo=tz).timestamp())
    rate = _RATE.match(expression)
    if rate is not None:
        value, unit = int(rate.group(1)), rate.group(2)
        if value < 1 or (value == 1) != (not unit.endswith("s")):
            raise ScheduleError(expression)
        return RateSchedule(value * _UNIT_S[unit.rstrip("s")])
    cron = _CRON.match(expression)
    if cron is None:
        raise ScheduleError(expression)
    fields = cron.group(1).split()
    if len(fields) != 6:
        raise ScheduleError(expression)
    minutes, hours, dom, month, dow, year = fields
    if (dom == "?") == (dow == "?"):
        raise ScheduleError(expression)
    try:
        return CronSchedule(
            tuple(sorted(_numbers(minutes, 0, 59, {}))),
            tuple(sorted(_numbers(hours, 0, 23, {}))),
            _day_of_month(dom),
            frozenset(_numbers(month, 1, 12, {k.upper(): v for k, v in _MONTHS.items()})),
            _day_of_week(dow),
            None if year == "*" else frozenset(_numbers(year, 1970, 2199, {})),
            tz,
        )
    except (ValueError, KeyError) as exc:
        raise ScheduleError(expression) from exc


def _number(text: str, names: dict[str, int]) -> int:
    return names[text.upper()] if text.upper() in names else int(text)


def _numbers(field: str, low: int, high: int, names: dict[str, int]) -> set[int]:
    values: set[int] = set()
    for part in field.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ScheduleError(field)
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, last = base.split("-", 1)
            start, end = _number(first, names), _number(last, names)
        else:
            start = _number(base, names)
            end = high if step_text else start
        if not (low <= start <= high and low <= end <= high):
            raise ScheduleError(field)
        if end < start:  # a range that wraps (FRI-MON)
            values.update(range(start, high + 1, step))
            values.update(range(low, end + 1, step))
        else:
            values.update(range(start, end + 1, step))
    if not values:
        raise ScheduleError(field)
    return values


def _day_of_month(field: str) -> _Days:
    if field == "?":
        return _Days(frozenset(), any=True)
    if field == "L":
        return _Days(frozenset(), last=True)
    if field == "LW":
        return _Days(frozenset(), last_weekday=True)
    if field.endswith("W"):
        day = int(field[:-1])
        if not 1 <= day <= 31:
            raise ScheduleError(field)
        return _Days(frozenset(), nearest_weekday=day)
    return _Days(frozenset(_numbers(field, 1, 31, {})))


def _day_of_week(field: str) -> _Days:
    if field == "?":
        return _Days(frozenset(), any=True)
    if field == "L":
        return _Days(frozenset({7}))
    if field.endswith("L"):
        return _Days(frozenset(), last_of=_number(field[:-1], _DAYS))
    if "#" in field:
        day, k = field.split("#", 1)
        nth = (_number(day, _DAYS), int(k))
        if not (1 <= nth[0] <= 7 and 1 <= nth[1] <= 5):
            raise ScheduleError(field)
        return _Days(frozenset(), nth=nth)
    return _Days(frozenset(_numbers(field, 1, 7, _DAYS)))
