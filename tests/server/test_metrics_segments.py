"""Segment rows: event properties, person traits, group traits, limits.

A unit can sit in several rows when the segment is an event property (its
events differ); for person and group traits each unit has one current
value, so the rows add up to the total.
"""

from __future__ import annotations

from tests.helpers.metrics import Store, query, segment_table, track

WEEK_AT = "2024-05-13"


def test_breakdown_absent_null_and_empty(api):
    api.send(
        [
            track(
                "u1", "Edit", "2024-05-13T09:00:00Z", "m1", properties={"plan": "pro"}
            ),
            track("u2", "Edit", "2024-05-13T09:00:00Z", "m2", properties={"plan": ""}),
            track(
                "u3", "Edit", "2024-05-13T09:00:00Z", "m3", properties={"plan": None}
            ),
            track("u4", "Edit", "2024-05-13T09:00:00Z", "m4", properties={}),
            track("u5", "Edit", "2024-05-13T09:00:00Z", "m5"),
            track(
                "u6", "Edit", "2024-05-06T09:00:00Z", "m6", properties={"plan": "pro"}
            ),
        ]
    )
    tile = query(
        api,
        {"type": "events", "event": "Edit"},
        at=WEEK_AT,
        segment_by="properties.plan",
    )
    rows = segment_table(tile)
    # An empty string is a value of its own; null and absent are (none).
    assert rows == {"pro": (1, 1), "": (1, 0), "(none)": (3, 0)}
    # Events sit in exactly one row: 1 + 1 + 3 = 5 = the total.
    assert sum(current for current, _ in rows.values()) == tile["current"]["value"]


def test_breakdown_numbers_and_booleans_as_text(api):
    api.send(
        [
            track("u1", "Edit", "2024-05-13T09:00:00Z", "m1", properties={"seats": 3}),
            track("u2", "Edit", "2024-05-13T09:00:00Z", "m2", properties={"seats": 3}),
            track(
                "u3", "Edit", "2024-05-13T09:00:00Z", "m3", properties={"seats": True}
            ),
        ]
    )
    tile = query(
        api,
        {"type": "events", "event": "Edit"},
        at=WEEK_AT,
        segment_by="properties.seats",
    )
    assert segment_table(tile) == {"3": (2, 0), "true": (1, 0)}


def test_event_property_person_in_two_rows(api):
    api.send(
        [
            track(
                "u1", "Edit", "2024-05-13T09:00:00Z", "m1", properties={"device": "ios"}
            ),
            track(
                "u1", "Edit", "2024-05-14T09:00:00Z", "m2", properties={"device": "web"}
            ),
            track(
                "u2", "Edit", "2024-05-14T09:00:00Z", "m3", properties={"device": "web"}
            ),
        ]
    )
    tile = query(
        api,
        {"type": "unique_persons", "event": "Edit"},
        at=WEEK_AT,
        segment_by="properties.device",
    )
    # u1 used both devices, so it is in both rows: 2 + 1 = 3 > 2 persons.
    assert segment_table(tile) == {"web": (2, 0), "ios": (1, 0)}
    assert tile["current"]["value"] == 2


def test_segment_limit_groups_rest_as_other(api):
    plans = ["a", "a", "a", "b", "b", "c", "d"]
    api.send(
        [
            track(
                f"u{n}",
                "Edit",
                "2024-05-13T09:00:00Z",
                f"m{n}",
                properties={"plan": plan},
            )
            for n, plan in enumerate(plans)
        ]
        # u0 again with plan d: one more person-event in "d".
        + [track("u0", "Edit", "2024-05-14T09:00:00Z", "m-x", properties={"plan": "d"})]
    )
    tile = query(
        api,
        {"type": "unique_persons", "event": "Edit"},
        at=WEEK_AT,
        segment_by="properties.plan",
        segment_limit=2,
    )
    rows = segment_table(tile)
    # Ranked by current value: a (u0, u1, u2) = 3, then b (u3, u4) = 2 and
    # d (u6, u0) = 2, tied, broken by name: b. The rest, c and d, is one
    # distinct count: {u5} from c, {u6, u0} from d = 3.
    assert list(rows) == ["a", "b", "(other)"]
    assert rows["a"] == (3, 0)
    assert rows["b"] == (2, 0)
    assert rows["(other)"] == (3, 0)


def test_person_trait_rows_reconcile(api):
    api.send(
        [
            track("u1", "Edit", "2024-05-13T09:00:00Z", "m1"),
            track("u1", "Edit", "2024-05-14T09:00:00Z", "m2"),
            track("u2", "Edit", "2024-05-13T09:00:00Z", "m3"),
            track("u3", "Edit", "2024-05-13T09:00:00Z", "m4"),
            track("u4", "Edit", "2024-05-06T09:00:00Z", "m5"),
        ]
    )
    store = Store(api)
    try:
        store.person_traits("u1", {"role": "admin"})
        store.person_traits("u2", {"role": "member"})
        store.person_traits("u3", {"role": None})
        store.person_traits("u4", {"role": "admin"})
    finally:
        store.close()
    tile = query(
        api,
        {"type": "unique_persons", "event": "Edit"},
        at=WEEK_AT,
        segment_by="person.role",
    )
    rows = segment_table(tile)
    assert rows == {"admin": (1, 1), "member": (1, 0), "(none)": (1, 0)}
    # One current value per person: 1 + 1 + 1 = 3 persons this week.
    assert sum(current for current, _ in rows.values()) == tile["current"]["value"]


def test_weekly_active_teams_by_group_plan(api):
    api.send(
        [
            track("u1", "Edit", "2024-05-13T09:00:00Z", "m1", team="t1"),
            track("u2", "Edit", "2024-05-14T09:00:00Z", "m2", team="t1"),
            track("u3", "Edit", "2024-05-14T09:00:00Z", "m3", team="t2"),
            track("u4", "Edit", "2024-05-14T09:00:00Z", "m4", team="t3"),
            track("u5", "Edit", "2024-05-15T09:00:00Z", "m5", team="t4"),
            track("u1", "Edit", "2024-05-07T09:00:00Z", "m6", team="t1"),
        ]
    )
    store = Store(api)
    try:
        store.group("team", "t1", {"plan": "pro"})
        store.group("team", "t2", {"plan": "pro"})
        store.group("team", "t3", {"plan": "free"})
    finally:
        store.close()
    measure = {"type": "unique_groups", "group_type": "team", "event": "Edit"}
    tile = query(api, measure, at=WEEK_AT, segment_by="group.plan")
    rows = segment_table(tile)
    # pro: {t1, t2}; free: {t3}; t4 has no plan. Last week: t1 (pro).
    assert rows == {"pro": (2, 1), "free": (1, 0), "(none)": (1, 0)}
    assert sum(current for current, _ in rows.values()) == tile["current"]["value"]
    assert tile["segments"][0]["change"] == {
        "absolute": 1,
        "relative": 1.0,
        "relative_reason": None,
    }


def test_ratio_segments_carry_both_sides(api):
    api.send(
        [
            track(
                "u1",
                "Invite Sent",
                "2024-05-13T09:00:00Z",
                "m1",
                properties={"via": "email"},
            ),
            track(
                "u2",
                "Invite Sent",
                "2024-05-13T09:00:00Z",
                "m2",
                properties={"via": "email"},
            ),
            track(
                "u3",
                "Invite Sent",
                "2024-05-13T09:00:00Z",
                "m3",
                properties={"via": "link"},
            ),
            track(
                "u4",
                "Invite Accepted",
                "2024-05-14T09:00:00Z",
                "m4",
                properties={"via": "email"},
            ),
        ]
    )
    measure = {
        "type": "ratio",
        "numerator": {"type": "unique_persons", "event": "Invite Accepted"},
        "denominator": {"type": "unique_persons", "event": "Invite Sent"},
    }
    tile = query(api, measure, at=WEEK_AT, segment_by="properties.via")
    rows = {row["segment"]: row for row in tile["segments"]}
    # email: 1 / 2 = 0.5; link: 0 / 1 = 0.
    assert rows["email"]["current"] == 0.5
    assert rows["email"]["current_detail"] == {"numerator": 1, "denominator": 2}
    assert rows["link"]["current"] == 0.0
