"""Typed equality of filters and canonical segment labels on both backends.

Every expected count is worked out by hand from ``AMOUNTS``: one Pay event
per value, plus one Pay event without ``amount``, all in the week of
2024-05-13.
"""

from __future__ import annotations

import pytest

from tests.helpers.metrics import Store, query, segment_table, track

WEEK_AT = "2024-05-13"
AMOUNTS = [10, True, "7", 2.5, False, None, 1, 1.0, "1", [1], {"a": 1}]


def send_amounts(api) -> None:
    messages = [
        track(
            f"u{index}",
            "Pay",
            "2024-05-13T10:00:00Z",
            f"m{index}",
            properties={"amount": amount},
        )
        for index, amount in enumerate(AMOUNTS)
    ]
    messages.append(track("u99", "Pay", "2024-05-13T10:00:00Z", "m99", properties={}))
    api.send(messages)


def count_where(api, op: str, value) -> int:
    measure = {
        "type": "events",
        "event": "Pay",
        "where": [{"property": "properties.amount", "op": op, "value": value}],
    }
    return query(api, measure, at=WEEK_AT, periods=1)["current"]["value"]


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        # 1 and 1.0 are the same number; true, "1" and [1] are not numbers.
        ("eq", 1, 2),
        ("eq", 1.0, 2),
        ("eq", True, 1),
        ("eq", False, 1),
        ("eq", 0, 0),
        ("eq", "1", 1),
        ("eq", "7", 1),
        ("eq", 7, 0),
        ("eq", 2.5, 1),
        # 12 events minus the two that equal 1; absent and null match.
        ("neq", 1, 10),
        ("neq", True, 11),
        ("neq", "1", 11),
        # 1, 1.0 and "7".
        ("in", [1, "7"], 3),
        ("in", [True, "1"], 2),
        ("in", [0, False], 1),
        ("not_in", [1], 10),
        # 12 minus true and 10.
        ("not_in", [True, 10], 10),
    ],
)
def test_filter_typed_equality(api, op, value, expected):
    send_amounts(api)
    assert count_where(api, op, value) == expected


def test_trait_filter_typed_equality(api):
    api.send(
        [
            track("u1", "Edit", "2024-05-13T10:00:00Z", "m1"),
            track("u2", "Edit", "2024-05-13T10:00:00Z", "m2"),
            track("u3", "Edit", "2024-05-13T10:00:00Z", "m3"),
        ]
    )
    store = Store(api)
    try:
        store.person_traits("u1", {"beta": True})
        store.person_traits("u2", {"beta": 1})
        store.person_traits("u3", {"beta": "true"})
    finally:
        store.close()
    for value, expected in ((True, 1), (1, 1), ("true", 1), (False, 0)):
        measure = {
            "type": "unique_persons",
            "where": [{"property": "person.beta", "op": "eq", "value": value}],
        }
        tile = query(api, measure, at=WEEK_AT, periods=1)
        assert tile["current"]["value"] == expected, value


def test_segment_labels_are_canonical(api):
    send_amounts(api)
    tile = query(
        api,
        {"type": "events", "event": "Pay"},
        at=WEEK_AT,
        periods=1,
        compare="none",
        segment_by="properties.amount",
    )
    # 1 and 1.0 share the row "1"; the strings "1" and "7" are quoted
    # because they read as JSON numbers; null and absent go to (none).
    assert segment_table(tile) == {
        "1": (2, None),
        '"1"': (1, None),
        '"7"': (1, None),
        "10": (1, None),
        "2.5": (1, None),
        "[1]": (1, None),
        "false": (1, None),
        "true": (1, None),
        '{"a":1}': (1, None),
        "(none)": (2, None),
    }


def test_segment_label_of_plain_string_unquoted(api):
    api.send(
        [
            track("u1", "Edit", "2024-05-13T10:00:00Z", "m1", properties={"p": "pro"}),
            track("u2", "Edit", "2024-05-13T10:00:00Z", "m2", properties={"p": "true"}),
            track("u3", "Edit", "2024-05-13T10:00:00Z", "m3", properties={"p": True}),
            track(
                "u4", "Edit", "2024-05-13T10:00:00Z", "m4", properties={"p": "(none)"}
            ),
            track(
                "u5",
                "Edit",
                "2024-05-13T10:00:00Z",
                "m5",
                properties={"p": {"b": [1, 2.0], "a": "x y"}},
            ),
        ]
    )
    tile = query(
        api,
        {"type": "events", "event": "Edit"},
        at=WEEK_AT,
        periods=1,
        compare="none",
        segment_by="properties.p",
    )
    rows = segment_table(tile)
    assert rows["pro"] == (1, None)
    assert rows['"true"'] == (1, None)
    assert rows["true"] == (1, None)
    # A string that reads like a reserved row name is quoted too.
    assert rows['"(none)"'] == (1, None)
    assert "(none)" not in rows
    # Objects are compact JSON, the same on both backends.
    assert rows['{"a":"x y","b":[1,2.0]}'] == (1, None)


def test_trait_segment_labels_match_properties(api):
    api.send(
        [
            track("u1", "Edit", "2024-05-13T10:00:00Z", "m1"),
            track("u2", "Edit", "2024-05-13T10:00:00Z", "m2"),
            track("u3", "Edit", "2024-05-13T10:00:00Z", "m3"),
        ]
    )
    store = Store(api)
    try:
        store.person_traits("u1", {"seats": 1})
        store.person_traits("u2", {"seats": 1.0})
        store.person_traits("u3", {"seats": "1"})
    finally:
        store.close()
    tile = query(
        api,
        {"type": "unique_persons"},
        at=WEEK_AT,
        periods=1,
        compare="none",
        segment_by="person.seats",
    )
    assert segment_table(tile) == {"1": (2, None), '"1"': (1, None)}
