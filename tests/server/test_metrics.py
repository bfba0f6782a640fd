"""Counting measures through the live server: events, uniques, sums, ratios.

Every expected value is worked out by hand from the events in the test.
Weeks start on Monday: 2024-05-06 and 2024-05-13 are Mondays.
"""

from __future__ import annotations

import datetime as dt

import pytest

from tests.helpers.metrics import Store, query, series_values, track

WEEK_AT = "2024-05-13"


def test_events_count_per_week(api):
    api.send(
        [
            track("u1", "Edit", "2024-05-06T10:00:00Z", "m1"),
            track("u1", "Edit", "2024-05-07T10:00:00Z", "m2"),
            track("u2", "Edit", "2024-05-13T00:00:00Z", "m3"),
            track("u2", "Other", "2024-05-14T00:00:00Z", "m4"),
        ]
    )
    tile = query(api, {"type": "events", "event": "Edit"}, at=WEEK_AT, periods=2)
    # Week of 05-06: m1, m2 = 2. Week of 05-13: m3 = 1 (m4 is another event).
    assert series_values(tile) == [2, 1]
    assert tile["unit"] == "events"
    assert tile["change"] == {"absolute": -1, "relative": -0.5, "relative_reason": None}


def test_events_boundary_is_half_open(api):
    api.send(
        [
            # 2024-05-12 23:59:59.999 belongs to the week of 05-06.
            track("u1", "Edit", "2024-05-12T23:59:59.999Z", "m1"),
            # 2024-05-13 00:00:00 is the first instant of the week of 05-13.
            track("u1", "Edit", "2024-05-13T00:00:00Z", "m2"),
            track("u1", "Edit", "2024-05-13T00:00:00.001Z", "m3"),
        ]
    )
    tile = query(api, {"type": "events", "event": "Edit"}, at=WEEK_AT, periods=2)
    assert series_values(tile) == [1, 2]


def test_unique_persons_daily_and_weekly(api):
    api.send(
        [
            # Day 1: u1. Day 2: u1, u2. Day 3: u2 (twice).
            track("u1", "Edit", "2024-05-13T09:00:00Z", "m1"),
            track("u1", "Edit", "2024-05-14T09:00:00Z", "m2"),
            track("u2", "Edit", "2024-05-14T10:00:00Z", "m3"),
            track("u2", "Edit", "2024-05-15T09:00:00Z", "m4"),
            track("u2", "Edit", "2024-05-15T11:00:00Z", "m5"),
        ]
    )
    measure = {"type": "unique_persons", "event": "Edit"}
    daily = query(api, measure, period="day", at="2024-05-15", periods=3)
    assert series_values(daily) == [1, 2, 1]
    weekly = query(api, measure, period="week", at=WEEK_AT, periods=1)
    # One distinct count over the week: {u1, u2} = 2, not 1 + 2 + 1 = 4.
    assert weekly["current"]["value"] == 2
    assert weekly["unit"] == "persons"


def test_unique_groups_weekly_active_teams(api):
    api.send(
        [
            track("u1", "Edit", "2024-05-13T09:00:00Z", "m1", team="t1"),
            track("u2", "Edit", "2024-05-14T09:00:00Z", "m2", team="t1"),
            track("u3", "Edit", "2024-05-15T09:00:00Z", "m3", team="t2"),
            # No team and no membership: counts for no team.
            track("u4", "Edit", "2024-05-15T09:00:00Z", "m4"),
            track("u5", "Edit", "2024-05-08T09:00:00Z", "m5", team="t3"),
        ]
    )
    measure = {"type": "unique_groups", "group_type": "team", "event": "Edit"}
    tile = query(api, measure, at=WEEK_AT, periods=2)
    # Week of 05-06: {t3} = 1. Week of 05-13: {t1, t2} = 2.
    assert series_values(tile) == [1, 2]
    assert tile["unit"] == "group:team"
    assert tile["change"]["relative"] == 1.0


def test_unique_groups_uses_membership_at_event_time(api):
    api.send(
        [
            track("u1", "Edit", "2024-05-06T09:00:00Z", "m1"),
            track("u1", "Edit", "2024-05-14T09:00:00Z", "m2"),
            track("u2", "Edit", "2024-05-14T09:00:00Z", "m3"),
            track("u3", "Edit", "2024-05-14T09:00:00Z", "m4", team="t9"),
        ]
    )
    store = Store(api)
    try:
        # u1 joins t1 on 05-10, then t2 on 05-13; u2 joins t3 only after its event.
        store.membership("u1", "team", "t1", dt.datetime(2024, 5, 10))
        store.membership("u1", "team", "t2", dt.datetime(2024, 5, 13))
        store.membership("u2", "team", "t3", dt.datetime(2024, 5, 20))
        store.membership("u3", "team", "t1", dt.datetime(2024, 5, 1))
    finally:
        store.close()
    measure = {"type": "unique_groups", "group_type": "team", "event": "Edit"}
    tile = query(api, measure, at=WEEK_AT, periods=2)
    # Week of 05-06: m1 precedes every u1 membership, so the earliest (t1).
    # Week of 05-13: m2 -> t2 (latest by then), m3 -> t3 (earliest, none
    # earlier), m4 -> t9 (its own group wins over u3's t1): {t2, t3, t9} = 3.
    assert series_values(tile) == [1, 3]


def test_sum_and_average_of_property(api):
    api.send(
        [
            track(
                "u1", "Paid", "2024-05-13T09:00:00Z", "m1", properties={"amount": 10}
            ),
            track(
                "u1", "Paid", "2024-05-14T09:00:00Z", "m2", properties={"amount": 2.5}
            ),
            # A string and a missing amount are not numbers: skipped.
            track(
                "u2", "Paid", "2024-05-14T09:00:00Z", "m3", properties={"amount": "7"}
            ),
            track("u2", "Paid", "2024-05-15T09:00:00Z", "m4"),
        ]
    )
    total = query(
        api,
        {"type": "sum", "event": "Paid", "property": "properties.amount"},
        at=WEEK_AT,
    )
    # 10 + 2.5 = 12.5
    assert total["current"]["value"] == 12.5
    average = query(
        api,
        {"type": "average", "event": "Paid", "property": "properties.amount"},
        at=WEEK_AT,
    )
    # (10 + 2.5) / 2 = 6.25
    assert average["current"]["value"] == 6.25


def test_average_of_empty_period_is_null(api):
    tile = query(
        api,
        {"type": "average", "event": "Paid", "property": "properties.amount"},
        at=WEEK_AT,
    )
    assert tile["current"]["value"] is None
    assert tile["change"]["relative_reason"] == "no_value"


def test_previous_zero_has_no_relative_change(api):
    api.send([track("u1", "Edit", "2024-05-14T09:00:00Z", "m1")])
    tile = query(api, {"type": "events", "event": "Edit"}, at=WEEK_AT)
    assert tile["previous"]["value"] == 0
    assert tile["change"] == {
        "absolute": 1,
        "relative": None,
        "relative_reason": "previous_zero",
    }


def test_ratio_reports_numerator_and_denominator(api):
    api.send(
        [
            # Week of 05-06: 2 senders (u1, u2), 1 accepter (u3).
            track("u1", "Invite Sent", "2024-05-06T09:00:00Z", "m1"),
            track("u2", "Invite Sent", "2024-05-07T09:00:00Z", "m2"),
            track("u3", "Invite Accepted", "2024-05-08T09:00:00Z", "m3"),
            # Week of 05-13: 4 senders, 3 accepters (u5 accepts twice).
            *[
                track(f"u{n}", "Invite Sent", "2024-05-13T09:00:00Z", f"s{n}")
                for n in (1, 2, 4, 5)
            ],
            track("u5", "Invite Accepted", "2024-05-14T09:00:00Z", "a1"),
            track("u5", "Invite Accepted", "2024-05-15T09:00:00Z", "a2"),
            track("u6", "Invite Accepted", "2024-05-15T09:00:00Z", "a3"),
            track("u7", "Invite Accepted", "2024-05-15T09:00:00Z", "a4"),
        ]
    )
    measure = {
        "type": "ratio",
        "numerator": {"type": "unique_persons", "event": "Invite Accepted"},
        "denominator": {"type": "unique_persons", "event": "Invite Sent"},
    }
    tile = query(api, measure, at=WEEK_AT, periods=2)
    assert tile["unit"] == "rate"
    # 3 / 4 = 0.75 now, 1 / 2 = 0.5 before.
    assert tile["current"]["value"] == 0.75
    assert tile["current"]["numerator"] == 3
    assert tile["current"]["denominator"] == 4
    assert tile["previous"]["value"] == 0.5
    # The change of a rate is in points: 0.75 - 0.5.
    assert tile["change"] == {
        "absolute": 0.25,
        "relative": None,
        "relative_reason": "points",
    }


def test_ratio_empty_denominator_is_null(api):
    measure = {
        "type": "ratio",
        "numerator": {"type": "events", "event": "Invite Accepted"},
        "denominator": {"type": "events", "event": "Invite Sent"},
    }
    tile = query(api, measure, at=WEEK_AT)
    assert tile["current"]["value"] is None
    assert tile["current"]["denominator"] == 0


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ([{"property": "properties.plan", "op": "eq", "value": "pro"}], 2),
        # neq also matches the event without a plan.
        ([{"property": "properties.plan", "op": "neq", "value": "pro"}], 3),
        ([{"property": "properties.plan", "op": "in", "value": ["free", "team"]}], 2),
        (
            [
                {
                    "property": "properties.plan",
                    "op": "not_in",
                    "value": ["free", "team"],
                }
            ],
            3,
        ),
        ([{"property": "properties.words", "op": "gt", "value": 5}], 2),
        ([{"property": "properties.words", "op": "gte", "value": 5}], 3),
        ([{"property": "properties.words", "op": "lt", "value": 5}], 1),
        ([{"property": "properties.words", "op": "lte", "value": 5}], 2),
        ([{"property": "properties.title", "op": "contains", "value": "port"}], 2),
        ([{"property": "properties.plan", "op": "is_set"}], 4),
        ([{"property": "properties.plan", "op": "is_not_set"}], 1),
        ([{"property": "properties.beta", "op": "eq", "value": True}], 1),
        (
            [
                {"property": "properties.plan", "op": "eq", "value": "pro"},
                {"property": "properties.words", "op": "gt", "value": 5},
            ],
            1,
        ),
    ],
)
def test_event_property_filters(api, where, expected):
    api.send(
        [
            track(
                "u1",
                "Edit",
                "2024-05-13T09:00:00Z",
                "m1",
                properties={"plan": "pro", "words": 10, "title": "Report"},
            ),
            track(
                "u2",
                "Edit",
                "2024-05-13T09:00:00Z",
                "m2",
                properties={"plan": "pro", "words": 5, "title": "import", "beta": True},
            ),
            track(
                "u3",
                "Edit",
                "2024-05-13T09:00:00Z",
                "m3",
                properties={"plan": "free", "words": 1, "title": "notes"},
            ),
            track(
                "u4",
                "Edit",
                "2024-05-13T09:00:00Z",
                "m4",
                properties={"plan": "team", "words": "many"},
            ),
            track(
                "u5",
                "Edit",
                "2024-05-13T09:00:00Z",
                "m5",
                properties={"words": 6, "beta": False},
            ),
        ]
    )
    # words > 5: m1 (10), m5 (6); "many" is not a number and never compares.
    tile = query(api, {"type": "events", "event": "Edit", "where": where}, at=WEEK_AT)
    assert tile["current"]["value"] == expected


def test_person_trait_filter(api):
    api.send(
        [
            track("u1", "Edit", "2024-05-13T09:00:00Z", "m1"),
            track("u2", "Edit", "2024-05-13T09:00:00Z", "m2"),
            track("u3", "Edit", "2024-05-13T09:00:00Z", "m3"),
        ]
    )
    store = Store(api)
    try:
        store.person_traits("u1", {"role": "admin"})
        store.person_traits("u2", {"role": "member"})
    finally:
        store.close()
    measure = {
        "type": "unique_persons",
        "event": "Edit",
        "where": [{"property": "person.role", "op": "eq", "value": "admin"}],
    }
    assert query(api, measure, at=WEEK_AT)["current"]["value"] == 1
    measure["where"] = [{"property": "person.role", "op": "is_not_set"}]
    assert query(api, measure, at=WEEK_AT)["current"]["value"] == 1


def test_group_trait_filter(api):
    api.send(
        [
            track("u1", "Edit", "2024-05-13T09:00:00Z", "m1", team="t1"),
            track("u2", "Edit", "2024-05-13T09:00:00Z", "m2", team="t2"),
            track("u3", "Edit", "2024-05-13T09:00:00Z", "m3", team="t3"),
        ]
    )
    store = Store(api)
    try:
        store.group("team", "t1", {"plan": "pro", "seats": 12})
        store.group("team", "t2", {"plan": "free", "seats": 3})
    finally:
        store.close()
    measure = {
        "type": "unique_groups",
        "group_type": "team",
        "event": "Edit",
        "where": [{"property": "group.seats", "op": "gte", "value": 10}],
    }
    assert query(api, measure, at=WEEK_AT)["current"]["value"] == 1


def test_merged_person_counts_once(api):
    api.send(
        [
            # An anonymous visitor edits, then signs in as u1 and edits again.
            track(None, "Edit", "2024-05-13T09:00:00Z", "m1", anonymous_id="anon-1"),
            track(None, "Edit", "2024-05-14T09:00:00Z", "m2", anonymous_id="anon-1"),
            track("u1", "Edit", "2024-05-15T09:00:00Z", "m3"),
        ]
    )
    measure = {"type": "unique_persons", "event": "Edit"}
    # Before identification anon-1 and u1 are two persons.
    assert query(api, measure, at=WEEK_AT)["current"]["value"] == 2
    api.send(
        [
            {
                "type": "identify",
                "userId": "u1",
                "anonymousId": "anon-1",
                "timestamp": "2024-05-15T10:00:00Z",
                "messageId": "i1",
            }
        ]
    )
    # After the merge both ids resolve to one person, retroactively.
    assert query(api, measure, at=WEEK_AT)["current"]["value"] == 1


def test_timezone_moves_events_between_days(api):
    api.send(
        [
            # 2024-05-13 23:30 UTC is 2024-05-14 01:30 in Berlin (CEST).
            track("u1", "Edit", "2024-05-13T23:30:00Z", "m1"),
            track("u1", "Edit", "2024-05-13T12:00:00Z", "m2"),
        ]
    )
    measure = {"type": "events", "event": "Edit"}
    utc = query(api, measure, period="day", at="2024-05-14", periods=2)
    berlin = query(
        api, measure, period="day", at="2024-05-14", periods=2, timezone="Europe/Berlin"
    )
    assert series_values(utc) == [2, 0]
    assert series_values(berlin) == [1, 1]
    assert berlin["current"]["start"] == "2024-05-14T00:00:00+02:00"
