"""Funnels, activation, retention and churn through the live server.

Weeks start on Monday: 2024-05-06, 2024-05-13 and 2024-05-20 are Mondays.
"""

from __future__ import annotations

from tests.helpers.metrics import query, segment_table, track

WEEK_AT = "2024-05-13"
SIGNUP_FUNNEL = {
    "type": "funnel",
    "steps": ["Signed Up", "Created", "Shared"],
    "window": "7d",
    "unit": "person",
}


def test_funnel_steps_and_late_last_step(api):
    api.send(
        [
            # u1 finishes on 05-20 09:00: after the week, inside 7 days.
            track("u1", "Signed Up", "2024-05-13T10:00:00Z", "a1"),
            track("u1", "Created", "2024-05-13T11:00:00Z", "a2"),
            track("u1", "Shared", "2024-05-20T09:00:00Z", "a3"),
            # u2: Created at the very instant of Signed Up still counts;
            # Shared on 05-22 is past the window (05-21 10:00).
            track("u2", "Signed Up", "2024-05-14T10:00:00Z", "b1"),
            track("u2", "Created", "2024-05-14T10:00:00Z", "b2"),
            track("u2", "Shared", "2024-05-22T09:00:00Z", "b3"),
            # u3 shares before creating: only two steps in order.
            track("u3", "Signed Up", "2024-05-15T10:00:00Z", "c1"),
            track("u3", "Shared", "2024-05-16T10:00:00Z", "c2"),
            track("u3", "Created", "2024-05-17T10:00:00Z", "c3"),
            # u4 created before entering: that event does not count.
            track("u4", "Created", "2024-05-13T10:00:00Z", "d1"),
            track("u4", "Signed Up", "2024-05-14T10:00:00Z", "d2"),
            # u5 entered last week too; its later steps are too late for it.
            track("u5", "Signed Up", "2024-05-06T09:00:00Z", "e1"),
            track("u5", "Signed Up", "2024-05-13T09:00:00Z", "e2"),
            track("u5", "Created", "2024-05-14T09:00:00Z", "e3"),
            track("u5", "Shared", "2024-05-14T10:00:00Z", "e4"),
        ]
    )
    tile = query(api, SIGNUP_FUNNEL, at=WEEK_AT, as_of="2024-05-30T00:00:00Z")
    steps = [step["count"] for step in tile["current"]["steps"]]
    # Entered: u1..u5 = 5. Created: u1, u2, u3, u5 = 4. Shared: u1, u5 = 2.
    assert steps == [5, 4, 2]
    assert tile["current"]["value"] == 0.4
    assert tile["current"]["steps"][1]["rate"] == 0.8
    # Last week: u5 entered 05-06 09:00, created only after 05-13 09:00.
    assert [step["count"] for step in tile["previous"]["steps"]] == [1, 0, 0]
    assert tile["previous"]["value"] == 0.0
    assert tile["change"]["absolute"] == 0.4


def test_funnel_open_window_is_incomplete(api):
    api.send([track("u1", "Signed Up", "2024-05-13T10:00:00Z", "a1")])
    tile = query(api, SIGNUP_FUNNEL, at=WEEK_AT, as_of="2024-05-22T00:00:00Z")
    # The week ended 05-20, but entrants have until 05-27 to convert.
    assert tile["current"]["complete"] is False
    assert tile["current"]["window_closed"] is False
    assert tile["current"]["coverage"] == 1.0
    # Last week's window closed on 05-20.
    assert tile["previous"]["complete"] is True


def test_funnel_repeated_step_needs_distinct_events(api):
    api.send(
        [
            track("u1", "View", "2024-05-13T10:00:00Z", "a1"),
            track("u1", "Buy", "2024-05-13T11:00:00Z", "a2"),
            track("u2", "View", "2024-05-13T10:00:00Z", "b1"),
            track("u2", "View", "2024-05-13T10:00:00Z", "b2"),
            track("u2", "Buy", "2024-05-13T11:00:00Z", "b3"),
        ]
    )
    measure = {"type": "funnel", "steps": ["View", "View", "Buy"], "window": "1d"}
    tile = query(api, measure, at=WEEK_AT)
    # u1 viewed once, so it cannot take the second View step.
    assert [step["count"] for step in tile["current"]["steps"]] == [2, 1, 1]
    assert tile["current"]["value"] == 0.5


def test_funnel_per_team(api):
    api.send(
        [
            track("u1", "Invite Sent", "2024-05-13T10:00:00Z", "a1", team="t1"),
            track("u2", "Invite Accepted", "2024-05-14T10:00:00Z", "a2", team="t1"),
            track("u3", "Invite Sent", "2024-05-13T10:00:00Z", "b1", team="t2"),
            track("u3", "Invite Accepted", "2024-05-13T09:00:00Z", "b2", team="t2"),
        ]
    )
    measure = {
        "type": "funnel",
        "steps": ["Invite Sent", "Invite Accepted"],
        "window": "2d",
        "unit": "group:team",
    }
    tile = query(api, measure, at=WEEK_AT)
    # t1 converts through two of its members; t2 accepted before sending.
    assert [step["count"] for step in tile["current"]["steps"]] == [2, 1]
    assert tile["current"]["value"] == 0.5


def send_signups(api):
    api.send(
        [
            track("u1", "Signed Up", "2024-05-13T10:00:00Z", "a1"),
            track("u1", "Created", "2024-05-15T10:00:00Z", "a2"),
            # u2 creates 8 days after signing up: too late.
            track("u2", "Signed Up", "2024-05-14T10:00:00Z", "b1"),
            track("u2", "Created", "2024-05-22T10:00:00Z", "b2"),
            # u3 first signed up on 05-01, so it is not in this week's cohort.
            track("u3", "Signed Up", "2024-05-01T10:00:00Z", "c1"),
            track("u3", "Signed Up", "2024-05-13T10:00:00Z", "c2"),
            track("u3", "Created", "2024-05-14T10:00:00Z", "c3"),
            # u4 signs up on the last evening and creates after the week.
            track("u4", "Signed Up", "2024-05-19T23:00:00Z", "d1"),
            track("u4", "Created", "2024-05-21T10:00:00Z", "d2"),
        ]
    )


def test_activation_share_of_cohort(api):
    send_signups(api)
    measure = {
        "type": "activation",
        "start": "Signed Up",
        "action": "Created",
        "within": "7d",
    }
    tile = query(api, measure, at=WEEK_AT, as_of="2024-06-01T00:00:00Z")
    # Cohort {u1, u2, u4}; activated {u1, u4}: 2 / 3.
    assert tile["current"]["denominator"] == 3
    assert tile["current"]["numerator"] == 2
    assert tile["current"]["value"] == round(2 / 3, 6)
    # Nobody's first signup fell in the week of 05-06: an empty cohort.
    assert tile["previous"]["value"] is None


def test_activation_from_first_event(api):
    send_signups(api)
    api.send([track("u5", "Page Viewed", "2024-05-16T10:00:00Z", "e1")])
    measure = {"type": "activation", "action": "Created", "within": "7d"}
    tile = query(api, measure, at=WEEK_AT, as_of="2024-06-01T00:00:00Z")
    # First events this week: u1, u2, u4 (signups) and u5 (a page view).
    assert tile["current"]["denominator"] == 4
    assert tile["current"]["numerator"] == 2


def send_activity(api):
    api.send(
        [
            track("u1", "Edit", "2024-05-01T10:00:00Z", "w0-1", team="t1"),
            *[
                track(user, "Edit", "2024-05-07T10:00:00Z", f"w1-{user}", team=team)
                for user, team in (
                    ("u1", "t1"),
                    ("u2", "t1"),
                    ("u3", "t2"),
                    ("u4", "t2"),
                )
            ],
            *[
                track(user, "Edit", "2024-05-14T10:00:00Z", f"w2-{user}", team=team)
                for user, team in (("u1", "t1"), ("u3", "t1"), ("u5", "t3"))
            ],
        ]
    )


def test_retention_of_previous_week(api):
    send_activity(api)
    tile = query(api, {"type": "retention", "event": "Edit"}, at=WEEK_AT)
    # Active 05-06 week: u1..u4; still active: u1, u3 = 2 / 4.
    assert tile["current"]["value"] == 0.5
    assert tile["current"]["denominator"] == 4
    # Week of 05-06 against 04-29: {u1} -> u1 stays = 1 / 1.
    assert tile["previous"]["value"] == 1.0
    assert tile["change"] == {
        "absolute": -0.5,
        "relative": None,
        "relative_reason": "points",
    }


def test_churn_of_teams(api):
    send_activity(api)
    tile = query(
        api, {"type": "churn", "event": "Edit", "unit": "group:team"}, at=WEEK_AT
    )
    # Teams active 05-06 week: t1, t2; this week t1 (and new t3): t2 churned.
    assert tile["current"]["value"] == 0.5
    assert tile["current"]["numerator"] == 1
    assert tile["previous"]["value"] == 0.0


def test_retention_without_event_counts_any_activity(api):
    send_activity(api)
    api.send([track("u2", "Page Viewed", "2024-05-15T10:00:00Z", "x1")])
    tile = query(api, {"type": "retention"}, at=WEEK_AT)
    # u2 came back with a page view: u1, u2, u3 of u1..u4 = 3 / 4.
    assert tile["current"]["value"] == 0.75


def test_churn_segments_by_person_trait(api):
    from tests.helpers.metrics import Store

    send_activity(api)
    store = Store(api)
    try:
        store.person_traits("u1", {"plan": "pro"})
        store.person_traits("u2", {"plan": "pro"})
        store.person_traits("u3", {"plan": "free"})
    finally:
        store.close()
    tile = query(
        api, {"type": "churn", "event": "Edit"}, at=WEEK_AT, segment_by="person.plan"
    )
    rows = segment_table(tile)
    # pro: u1 stays, u2 churns = 0.5; free: u3 stays = 0; u4 (none) churns = 1.
    assert rows["pro"][0] == 0.5
    assert rows["free"][0] == 0.0
    assert rows["(none)"][0] == 1.0
