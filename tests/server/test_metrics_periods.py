"""Tile periods through the live server: week starts, DST days, compare modes.

2024-05-06 and 2024-05-13 are Mondays; 2024-05-05 and 2024-05-12 Sundays.
Europe/Berlin moves to CEST at 2024-03-31 02:00 (a 23-hour day) and back
to CET at 2024-10-27 03:00 (a 25-hour day).
"""

from __future__ import annotations

import datetime as dt

import pytest

from tests.helpers.metrics import Store, query, series_values, track

EDITS = {"type": "events", "event": "Edit"}


def duration_hours(period: dict) -> float:
    start = dt.datetime.fromisoformat(period["start"])
    end = dt.datetime.fromisoformat(period["end"])
    return (end - start).total_seconds() / 3600


def send_days(api, days: list[str]) -> None:
    api.send([track("u1", "Edit", f"{day}T12:00:00Z", f"m-{day}") for day in days])


CLIPPED_DAYS = [
    "2024-05-01",  # Wednesday
    "2024-05-04",  # Saturday
    "2024-05-05",  # Sunday
    "2024-05-06",  # Monday
    "2024-05-12",  # Sunday
    "2024-05-13",  # Monday
    "2024-05-14",  # Tuesday
]


def test_weeks_starting_monday(api):
    send_days(api, CLIPPED_DAYS)
    tile = query(api, EDITS, at="2024-05-14", periods=3, week_start="monday")
    # [04-29, 05-06): 05-01, 05-04, 05-05 = 3
    # [05-06, 05-13): 05-06, 05-12 = 2
    # [05-13, 05-20): 05-13, 05-14 = 2
    assert series_values(tile) == [3, 2, 2]
    assert [period["start"] for period in tile["series"]] == [
        "2024-04-29T00:00:00+00:00",
        "2024-05-06T00:00:00+00:00",
        "2024-05-13T00:00:00+00:00",
    ]
    assert tile["week_start"] == "monday"


def test_weeks_starting_sunday(api):
    send_days(api, CLIPPED_DAYS)
    tile = query(api, EDITS, at="2024-05-14", periods=3, week_start="sunday")
    # [04-28, 05-05): 05-01, 05-04 = 2
    # [05-05, 05-12): 05-05, 05-06 = 2
    # [05-12, 05-19): 05-12, 05-13, 05-14 = 3
    assert series_values(tile) == [2, 2, 3]
    assert tile["current"]["start"] == "2024-05-12T00:00:00+00:00"
    assert tile["current"]["end"] == "2024-05-19T00:00:00+00:00"
    assert tile["previous"]["end"] == tile["current"]["start"]


def test_berlin_days_across_spring_forward(api):
    api.send(
        [
            # 03-30 23:59 CET
            track("u1", "Edit", "2024-03-30T22:59:00Z", "m1"),
            # 03-31 00:30 CET
            track("u1", "Edit", "2024-03-30T23:30:00Z", "m2"),
            # 03-31 23:59 CEST
            track("u1", "Edit", "2024-03-31T21:59:00Z", "m3"),
            # 04-01 00:00 CEST
            track("u1", "Edit", "2024-03-31T22:00:00Z", "m4"),
        ]
    )
    tile = query(
        api, EDITS, period="day", at="2024-04-01", periods=3, timezone="Europe/Berlin"
    )
    assert series_values(tile) == [1, 2, 1]
    assert [period["start"] for period in tile["series"]] == [
        "2024-03-30T00:00:00+01:00",
        "2024-03-31T00:00:00+01:00",
        "2024-04-01T00:00:00+02:00",
    ]
    assert duration_hours(tile["series"][1]) == 23


def test_berlin_days_across_fall_back(api):
    api.send(
        [
            # 10-27 00:30 CEST and 10-27 23:30 CET: both on the 25-hour day.
            track("u1", "Edit", "2024-10-26T22:30:00Z", "m1"),
            track("u1", "Edit", "2024-10-27T22:30:00Z", "m2"),
            # 10-28 00:00 CET
            track("u1", "Edit", "2024-10-27T23:00:00Z", "m3"),
        ]
    )
    tile = query(
        api, EDITS, period="day", at="2024-10-28", periods=2, timezone="Europe/Berlin"
    )
    assert series_values(tile) == [2, 1]
    assert duration_hours(tile["series"][0]) == 25
    assert tile["series"][0]["end"] == "2024-10-28T00:00:00+01:00"


def test_months_in_berlin(api):
    api.send(
        [
            # 2024-03-01 00:30 CET belongs to March in Berlin, February in UTC.
            track("u1", "Edit", "2024-02-29T23:30:00Z", "m1"),
            track("u1", "Edit", "2024-02-10T12:00:00Z", "m2"),
        ]
    )
    berlin = query(
        api, EDITS, period="month", at="2024-03-15", periods=2, timezone="Europe/Berlin"
    )
    utc = query(api, EDITS, period="month", at="2024-03-15", periods=2)
    assert series_values(berlin) == [1, 1]
    assert series_values(utc) == [2, 0]


def test_quarters(api):
    send_days(api, ["2024-03-31", "2024-04-01", "2024-06-30", "2024-07-01"])
    tile = query(api, EDITS, period="quarter", at="2024-05-01", periods=2)
    # Q1: 03-31 = 1; Q2: 04-01, 06-30 = 2 (07-01 is Q3).
    assert series_values(tile) == [1, 2]
    assert tile["current"]["end"] == "2024-07-01T00:00:00+00:00"


def test_project_timezone_is_default(api):
    store = Store(api)
    try:
        store.project_timezone("Europe/Berlin")
    finally:
        store.close()
    api.send([track("u1", "Edit", "2024-05-13T23:30:00Z", "m1")])
    tile = query(api, EDITS, period="day", at="2024-05-14", periods=1)
    assert tile["timezone"] == "Europe/Berlin"
    assert tile["current"]["value"] == 1


def test_previous_to_date_cuts_comparison(api):
    send_days(api, [])
    api.send(
        [
            track("u1", "Edit", "2024-05-06T10:00:00Z", "p1"),
            track("u1", "Edit", "2024-05-08T11:00:00Z", "p2"),
            # After the cut (05-08 12:00): not compared.
            track("u1", "Edit", "2024-05-09T10:00:00Z", "p3"),
            track("u1", "Edit", "2024-05-13T10:00:00Z", "c1"),
            track("u1", "Edit", "2024-05-15T11:00:00Z", "c2"),
        ]
    )
    tile = query(
        api,
        EDITS,
        at="2024-05-15",
        as_of="2024-05-15T12:00:00Z",
        compare="previous_to_date",
        periods=1,
    )
    # 2 days 12 hours of the current week have elapsed: 60 / 168.
    assert tile["current"]["complete"] is False
    assert tile["current"]["coverage"] == round(60 / 168, 4)
    assert tile["previous"]["end"] == "2024-05-08T12:00:00+00:00"
    assert tile["previous"]["value"] == 2
    assert tile["current"]["value"] == 2


def test_previous_compares_whole_period(api):
    send_days(api, ["2024-05-06", "2024-05-10", "2024-05-13"])
    tile = query(api, EDITS, at="2024-05-15", as_of="2024-05-15T12:00:00Z", periods=1)
    assert tile["previous"]["value"] == 2
    assert tile["previous"]["complete"] is True
    assert tile["previous"]["end"] == "2024-05-13T00:00:00+00:00"


def test_year_compare(api):
    send_days(api, ["2023-05-10", "2023-05-16", "2024-05-14"])
    tile = query(api, EDITS, at="2024-05-14", compare="year", periods=1)
    # The week holding 2023-05-13 is [2023-05-08, 2023-05-15): 05-10 only.
    assert tile["previous"]["start"] == "2023-05-08T00:00:00+00:00"
    assert tile["previous"]["value"] == 1
    assert tile["current"]["value"] == 1


def test_compare_none_has_no_previous(api):
    tile = query(api, EDITS, at="2024-05-14", compare="none", periods=1)
    assert tile["previous"] is None
    assert tile["change"]["absolute"] is None


def test_default_at_is_last_complete_period(api):
    send_days(api, ["2024-05-08", "2024-05-14"])
    tile = query(api, EDITS, as_of="2024-05-15T12:00:00Z", periods=1)
    assert tile["current"]["start"] == "2024-05-06T00:00:00+00:00"
    assert tile["current"]["complete"] is True
    assert tile["current"]["value"] == 1


@pytest.mark.parametrize("periods", [1, 5, 26])
def test_series_length_follows_periods(api, periods):
    tile = query(api, EDITS, at="2024-05-14", periods=periods)
    assert len(tile["series"]) == periods
    assert tile["series"][-1]["start"] == tile["current"]["start"]


AS_OF = "2024-05-15T12:00:00Z"


def test_as_of_excludes_later_events(api):
    api.send(
        [
            track("u1", "Edit", "2024-05-07T10:00:00Z", "p1"),
            track("u1", "Edit", "2024-05-09T10:00:00Z", "p2"),
            track("u1", "Edit", "2024-05-14T10:00:00Z", "c1"),
            track("u1", "Edit", "2024-05-15T11:59:59Z", "c2"),
            # At and after as_of: not yet happened for a tile as of 05-15 12:00.
            track("u1", "Edit", "2024-05-15T12:00:00Z", "c3"),
            track("u1", "Edit", "2024-05-19T10:00:00Z", "c4"),
        ]
    )
    tile = query(
        api,
        EDITS,
        at="2024-05-13",
        as_of=AS_OF,
        periods=2,
        compare="previous_to_date",
    )
    # Current [05-13, 05-20) before as_of: c1, c2 = 2.
    assert tile["current"]["value"] == 2
    # Previous cut to [05-06, 05-08 12:00): p1 = 1.
    assert tile["previous"]["value"] == 1
    # Series: the whole week of 05-06 (p1, p2), then the current week.
    assert series_values(tile) == [2, 2]


def test_as_of_limits_every_measure(api):
    api.send(
        [
            track("u1", "Sign Up", "2024-05-07T10:00:00Z", "m1"),
            track("u1", "Edit", "2024-05-07T11:00:00Z", "m2"),
            track("u2", "Sign Up", "2024-05-14T10:00:00Z", "m3"),
            # After as_of: u2's action and u1's return.
            track("u2", "Edit", "2024-05-16T10:00:00Z", "m4"),
            track("u1", "Edit", "2024-05-17T10:00:00Z", "m5"),
            track("u3", "Sign Up", "2024-05-18T10:00:00Z", "m6"),
        ]
    )
    params = {"at": "2024-05-13", "as_of": AS_OF, "periods": 1}
    persons = query(api, {"type": "unique_persons"}, **params)
    # Only u2's sign-up falls in [05-13, as_of).
    assert persons["current"]["value"] == 1
    funnel = query(
        api, {"type": "funnel", "steps": ["Sign Up", "Edit"], "window": "7d"}, **params
    )
    # u2 entered; its Edit comes after as_of.
    assert [step["count"] for step in funnel["current"]["steps"]] == [1, 0]
    activation = query(
        api, {"type": "activation", "start": "Sign Up", "action": "Edit"}, **params
    )
    assert activation["current"]["numerator"] == 0
    assert activation["current"]["denominator"] == 1
    retention = query(api, {"type": "retention", "event": "Edit"}, **params)
    # u1 was active last week and comes back only after as_of.
    assert retention["current"]["numerator"] == 0
    assert retention["current"]["denominator"] == 1
