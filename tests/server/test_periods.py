"""Period arithmetic: calendar boundaries in IANA zones, DST included."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from pug_server.services.metrics.periods import (
    Calendar,
    parse_at,
    resolve_window,
    resolve_zone,
)

UTC = dt.timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")


def hours(item) -> float:
    return (
        item.end.astimezone(UTC) - item.start.astimezone(UTC)
    ).total_seconds() / 3600


def test_day_berlin_spring_forward_is_23_hours():
    calendar = Calendar("day", BERLIN)
    day = calendar.span(dt.date(2024, 3, 31))
    assert hours(day) == 23
    assert day.start.isoformat() == "2024-03-31T00:00:00+01:00"
    assert day.end.isoformat() == "2024-04-01T00:00:00+02:00"


def test_day_berlin_fall_back_is_25_hours():
    calendar = Calendar("day", BERLIN)
    day = calendar.span(dt.date(2024, 10, 27))
    assert hours(day) == 25
    assert day.start_utc == dt.datetime(2024, 10, 26, 22, 0)
    assert day.end_utc == dt.datetime(2024, 10, 27, 23, 0)


@pytest.mark.parametrize(
    ("zone", "day", "start"),
    [
        # Brazil moved its clocks from 00:00 to 01:00 on 2018-11-04.
        ("America/Sao_Paulo", dt.date(2018, 11, 4), "2018-11-04T01:00:00-02:00"),
        # Cuba moves its clocks from 00:00 to 01:00 on 2024-03-10.
        ("America/Havana", dt.date(2024, 3, 10), "2024-03-10T01:00:00-04:00"),
    ],
)
def test_day_without_midnight_starts_at_jump(zone, day, start):
    calendar = Calendar("day", ZoneInfo(zone))
    span = calendar.span(day)
    assert span.start.isoformat() == start
    assert hours(span) == 23


def test_day_with_repeated_midnight_starts_first():
    # Cuba falls back from 01:00 to 00:00 on 2024-11-03: midnight happens twice.
    calendar = Calendar("day", ZoneInfo("America/Havana"))
    span = calendar.span(dt.date(2024, 11, 3))
    assert span.start.isoformat() == "2024-11-03T00:00:00-04:00"
    assert hours(span) == 25


@pytest.mark.parametrize(
    ("week_start", "first"),
    [
        ("monday", dt.date(2024, 5, 13)),
        ("sunday", dt.date(2024, 5, 12)),
        ("wednesday", dt.date(2024, 5, 15)),
        ("thursday", dt.date(2024, 5, 9)),
    ],
)
def test_week_floor_follows_week_start(week_start, first):
    # 2024-05-15 is a Wednesday.
    calendar = Calendar("week", UTC, week_start)
    assert calendar.floor(dt.date(2024, 5, 15)) == first


def test_quarter_floor_and_shift_cross_year():
    calendar = Calendar("quarter", UTC)
    assert calendar.floor(dt.date(2024, 11, 30)) == dt.date(2024, 10, 1)
    assert calendar.shift(dt.date(2024, 10, 1), 1) == dt.date(2025, 1, 1)
    assert calendar.shift(dt.date(2024, 1, 1), -1) == dt.date(2023, 10, 1)


def test_month_shift_back_across_year():
    calendar = Calendar("month", UTC)
    assert calendar.shift(dt.date(2024, 1, 1), -13) == dt.date(2022, 12, 1)


def test_window_default_is_last_complete_period():
    calendar = Calendar("week", UTC)
    as_of = dt.datetime(2024, 5, 15, 9, 0, tzinfo=UTC)
    window = resolve_window(
        calendar, at=None, as_of=as_of, periods=3, compare="previous"
    )
    assert window.current.start.date() == dt.date(2024, 5, 6)
    assert window.current.complete(as_of)
    assert [item.start.date() for item in window.series] == [
        dt.date(2024, 4, 22),
        dt.date(2024, 4, 29),
        dt.date(2024, 5, 6),
    ]
    assert window.comparison == window.series[1]


def test_window_previous_to_date_cuts_previous():
    # Wednesday 09:00 of the week of 2024-05-13: 2 days 9 hours elapsed.
    calendar = Calendar("week", UTC)
    as_of = dt.datetime(2024, 5, 15, 9, 0, tzinfo=UTC)
    at = dt.datetime(2024, 5, 15, tzinfo=UTC)
    window = resolve_window(
        calendar, at=at, as_of=as_of, periods=2, compare="previous_to_date"
    )
    assert window.comparison.start.isoformat() == "2024-05-06T00:00:00+00:00"
    assert window.comparison.end.isoformat() == "2024-05-08T09:00:00+00:00"
    # 57 of 168 hours elapsed.
    assert window.current.coverage(as_of) == round(57 / 168, 4)


def test_window_previous_to_date_keeps_local_clock_across_dst():
    # Monday 2024-04-01 14:00 Berlin (CEST); the day before had 23 hours.
    calendar = Calendar("day", BERLIN)
    as_of = dt.datetime(2024, 4, 1, 14, 0, tzinfo=BERLIN)
    window = resolve_window(
        calendar, at=as_of, as_of=as_of, periods=1, compare="previous_to_date"
    )
    assert window.comparison.end.isoformat() == "2024-03-31T14:00:00+02:00"


def test_window_year_compare_same_week_year_before():
    calendar = Calendar("week", UTC)
    at = dt.datetime(2024, 5, 15, tzinfo=UTC)
    window = resolve_window(calendar, at=at, as_of=at, periods=1, compare="year")
    # 2023-05-13 falls in the week that starts on Monday 2023-05-08.
    assert window.comparison.start.date() == dt.date(2023, 5, 8)


def test_window_previous_never_overlaps_current():
    calendar = Calendar("month", BERLIN)
    at = dt.datetime(2024, 3, 15, tzinfo=BERLIN)
    window = resolve_window(calendar, at=at, as_of=at, periods=1, compare="previous")
    assert window.comparison.end == window.current.start


def test_parse_at_date_is_local_to_zone():
    parsed = parse_at("2024-03-31", BERLIN)
    assert parsed.date() == dt.date(2024, 3, 31)
    assert parsed.tzinfo == BERLIN


def test_parse_at_offset_converts_to_zone():
    parsed = parse_at("2024-03-30T23:30:00Z", BERLIN)
    assert parsed.date() == dt.date(2024, 3, 31)


def test_parse_at_rejects_garbage():
    with pytest.raises(ValueError, match="invalid date or date-time"):
        parse_at("last tuesday", BERLIN)


def test_resolve_zone_rejects_unknown_name():
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        resolve_zone("Mars/Olympus")
