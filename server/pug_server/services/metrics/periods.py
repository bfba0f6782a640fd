"""Calendar periods in an IANA time zone, as half-open UTC ranges.

Every boundary is the first instant of a local calendar date, so a day can
last 23 or 25 hours across a DST change, and a day whose midnight does not
exist (the clocks jump from 00:00 to 01:00) starts at the jump.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, replace
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

PERIODS = ("day", "week", "month", "quarter")
WEEKDAYS = (
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
)
COMPARE_MODES = ("previous", "previous_to_date", "year", "none")
UTC = dt.timezone.utc
#: The IANA time zone names tiles accept: UTC, Etc/* and Area/Location
#: with the areas of the tz database's main files.
ZONE_PATTERN = re.compile(
    r"^(?:UTC|Etc/[A-Za-z0-9+-]{1,20}|"
    r"(?:Africa|America|Antarctica|Arctic|Asia|Atlantic|Australia|Europe|Indian"
    r"|Pacific)(?:/[A-Za-z][A-Za-z0-9_+-]{0,40}){1,2})$"
)


@dataclass(frozen=True)
class Range:
    """A half-open interval ``[start, end)`` of aware datetimes in the zone.

    ``period_start`` is the first local date of the calendar period the range
    belongs to; a range cut to date ends before that period ends.
    """

    start: dt.datetime
    end: dt.datetime
    period_start: dt.date

    @property
    def start_utc(self) -> dt.datetime:
        """The start as a naive UTC datetime, the stored form of event times."""
        return self.start.astimezone(UTC).replace(tzinfo=None)

    @property
    def end_utc(self) -> dt.datetime:
        """The end as a naive UTC datetime."""
        return self.end.astimezone(UTC).replace(tzinfo=None)

    # Arithmetic and comparisons go through UTC: Python subtracts and
    # compares two datetimes of the same zone on their wall clocks, which
    # is wrong across a DST change.

    def complete(self, as_of: dt.datetime) -> bool:
        """Tell whether the range has fully elapsed at *as_of*."""
        return as_of.astimezone(UTC) >= self.end.astimezone(UTC)

    def closed_after(self, delay: dt.timedelta, as_of: dt.datetime) -> bool:
        """Tell whether *delay* has passed since the range ended, at *as_of*."""
        return as_of.astimezone(UTC) >= self.end.astimezone(UTC) + delay

    def coverage(self, as_of: dt.datetime) -> float:
        """Return the elapsed fraction of the range at *as_of*, from 0 to 1."""
        start = self.start.astimezone(UTC)
        total = (self.end.astimezone(UTC) - start).total_seconds()
        elapsed = (as_of.astimezone(UTC) - start).total_seconds()
        if total <= 0:
            return 1.0
        return round(min(max(elapsed / total, 0.0), 1.0), 4)


@dataclass(frozen=True)
class Calendar:
    """Period arithmetic for one period kind, zone and week start."""

    period: str
    zone: ZoneInfo
    week_start: str = "monday"

    def floor(self, day: dt.date) -> dt.date:
        """Return the first date of the period that contains *day*."""
        if self.period == "day":
            return day
        if self.period == "week":
            first_weekday = WEEKDAYS.index(self.week_start)
            return day - dt.timedelta(days=(day.weekday() - first_weekday) % 7)
        if self.period == "month":
            return day.replace(day=1)
        quarter_month = (day.month - 1) // 3 * 3 + 1
        return dt.date(day.year, quarter_month, 1)

    def shift(self, first: dt.date, count: int) -> dt.date:
        """Return the first date of the period *count* periods after *first*."""
        if self.period == "day":
            return first + dt.timedelta(days=count)
        if self.period == "week":
            return first + dt.timedelta(weeks=count)
        months = count if self.period == "month" else 3 * count
        index = first.year * 12 + first.month - 1 + months
        return dt.date(index // 12, index % 12 + 1, 1)

    def midnight(self, day: dt.date) -> dt.datetime:
        """Return the first instant of local date *day*, in the zone.

        ``fold=0`` resolves a missing midnight to the instant of the jump and
        an ambiguous one to its first occurrence; the round trip through UTC
        then gives the wall time the clocks actually showed.
        """
        naive = dt.datetime.combine(day, dt.time(0), tzinfo=self.zone)
        return naive.astimezone(UTC).astimezone(self.zone)

    def span(self, first: dt.date) -> Range:
        """Return the whole period that starts on local date *first*."""
        return Range(self.midnight(first), self.midnight(self.shift(first, 1)), first)

    def containing(self, instant: dt.datetime) -> Range:
        """Return the period that contains the aware datetime *instant*."""
        return self.span(self.floor(instant.astimezone(self.zone).date()))

    def before(self, current: Range, count: int = 1) -> Range:
        """Return the whole period *count* periods before *current*'s period."""
        return self.span(self.shift(current.period_start, -count))

    def year_before(self, current: Range) -> Range:
        """Return the period that contains the same date one year earlier."""
        day = current.period_start
        try:
            earlier = day.replace(year=day.year - 1)
        except ValueError:  # 29 February
            earlier = day.replace(year=day.year - 1, day=28)
        return self.span(self.floor(earlier))

    def cut_to_date(self, previous: Range, current: Range, as_of: dt.datetime) -> Range:
        """Cut *previous* to the wall-clock time elapsed in a partial *current*.

        The elapsed part is measured on the local clock (14:00 on the current
        day compares with 14:00 on the previous one, whatever DST did), and
        never runs past the end of *previous*.
        """
        if current.complete(as_of):
            return previous
        local_now = as_of.astimezone(self.zone).replace(tzinfo=None)
        elapsed = local_now - current.start.replace(tzinfo=None)
        cut = previous.start.replace(tzinfo=None) + max(elapsed, dt.timedelta(0))
        end = cut.replace(tzinfo=self.zone).astimezone(UTC).astimezone(self.zone)
        if end.astimezone(UTC) >= previous.end.astimezone(UTC):
            return previous
        return replace(previous, end=end)


@dataclass(frozen=True)
class Window:
    """The resolved ranges of one tile: its series, current and comparison."""

    calendar: Calendar
    as_of: dt.datetime
    series: tuple[Range, ...]
    comparison: Range | None

    @property
    def current(self) -> Range:
        return self.series[-1]

    def ranges(self) -> list[Range]:
        """Return every distinct range to compute, series first."""
        found = list(self.series)
        if self.comparison is not None and self.comparison not in found:
            found.append(self.comparison)
        return found


def resolve_zone(name: str) -> ZoneInfo:
    """Return the IANA zone *name* or raise :class:`ValueError` naming it.

    Only ``UTC``, ``Etc/*`` and Area/Location names such as
    ``America/Argentina/Buenos_Aires`` are accepted. zoneinfo also loads
    ``localtime`` (the server machine's zone), ``Factory``, the ``posix/``
    and ``right/`` copies and legacy names such as ``US/Eastern``, which
    would make a tile depend on the host or on a deprecated alias.
    """
    message = (
        f"unknown time zone {name!r}: use an IANA Area/Location name such as "
        "'Europe/Berlin' or 'America/New_York', or 'UTC'"
    )
    if not isinstance(name, str) or not ZONE_PATTERN.match(name):
        raise ValueError(message)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(message) from None


def parse_at(value: str, zone: ZoneInfo) -> dt.datetime:
    """Parse a date or date-time; one without an offset is local to *zone*.

    :raises ValueError: when *value* is neither.
    """
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        if len(text) == 10:
            return dt.datetime.combine(dt.date.fromisoformat(text), dt.time(12), zone)
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"invalid date or date-time {value!r}: use ISO 8601, for example "
            "2024-05-01 or 2024-05-01T12:00:00+02:00"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed.astimezone(zone)


def resolve_window(
    calendar: Calendar,
    *,
    at: dt.datetime | None,
    as_of: dt.datetime,
    periods: int,
    compare: str,
) -> Window:
    """Resolve the current period, the series before it and the comparison.

    Without *at* the current period is the last complete one at *as_of*.
    """
    if at is None:
        current = calendar.before(calendar.containing(as_of))
    else:
        current = calendar.containing(at)
    series = tuple(
        calendar.before(current, count) for count in range(periods - 1, 0, -1)
    )
    series += (current,)
    comparison: Range | None
    if compare == "previous":
        comparison = calendar.before(current)
    elif compare == "previous_to_date":
        comparison = calendar.cut_to_date(calendar.before(current), current, as_of)
    elif compare == "year":
        comparison = calendar.year_before(current)
    else:
        comparison = None
    return Window(calendar, as_of, series, comparison)


def iso_local(value: dt.datetime) -> str:
    """Render an aware datetime as ISO 8601 with its offset."""
    return value.isoformat()
