"""Identity resolution through the live server: links, merges, traits, placeholders."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.helpers.live import create_project

T0 = "2024-05-01T09:00:00Z"
T1 = "2024-05-01T10:00:00Z"
T2 = "2024-05-01T11:00:00Z"
T3 = "2024-05-01T12:00:00Z"
T4 = "2024-05-01T13:00:00Z"


def person(api, distinct_id: str) -> dict:
    response = api.get(f"/v1/persons/{distinct_id}")
    assert response.status_code == 200, response.text
    return response.json()


def person_status(api, distinct_id: str) -> int:
    return api.get(f"/v1/persons/{distinct_id}").status_code


def track(distinct_id=None, *, anonymous_id=None, at=T1, event="Page Viewed", **extra):
    message = {"type": "track", "event": event, "timestamp": at, **extra}
    if distinct_id is not None:
        message["userId"] = distinct_id
    if anonymous_id is not None:
        message["anonymousId"] = anonymous_id
    return message


def identify(user_id=None, *, anonymous_id=None, traits=None, at=T2, **extra):
    message = {"type": "identify", "timestamp": at, **extra}
    if user_id is not None:
        message["userId"] = user_id
    if anonymous_id is not None:
        message["anonymousId"] = anonymous_id
    if traits is not None:
        message["traits"] = traits
    return message


def alias(previous_id, user_id, *, at=T2):
    return {
        "type": "alias",
        "previousId": previous_id,
        "userId": user_id,
        "timestamp": at,
    }


def test_signup_attaches_new_user_to_anonymous_person(api):
    api.send([track(anonymous_id="a-1", at=T0), track(anonymous_id="a-1", at=T1)])
    anonymous = person(api, "a-1")
    assert anonymous["identified"] is False

    api.send([identify("u-1", anonymous_id="a-1", traits={"plan": "pro"}, at=T2)])

    signed_up = person(api, "u-1")
    assert signed_up["id"] == anonymous["id"]
    assert sorted(signed_up["distinct_ids"]) == ["a-1", "u-1"]
    assert signed_up["identified"] is True
    assert signed_up["traits"] == {"plan": "pro"}
    assert signed_up["first_seen"] == "2024-05-01T09:00:00Z"
    assert signed_up["last_seen"] == "2024-05-01T11:00:00Z"


def test_identify_merges_anonymous_into_known_user(api):
    api.send([track("u-1", at=T0)])
    api.send([track(anonymous_id="a-1", at=T1)])
    user_id = person(api, "u-1")["id"]
    anonymous_id = person(api, "a-1")["id"]
    assert user_id != anonymous_id

    api.send([identify("u-1", anonymous_id="a-1", at=T2)])

    merged = person(api, "a-1")
    assert merged["id"] == user_id
    assert sorted(merged["distinct_ids"]) == ["a-1", "u-1"]
    assert [
        (m["from"], m["into"], m["reason"], m["refused"]) for m in merged["merges"]
    ] == [(anonymous_id, user_id, "identify", False)]
    assert merged["merges"][0]["distinct_ids"] == ["a-1"]
    assert merged["first_seen"] == "2024-05-01T09:00:00Z"


def test_signup_in_one_batch_gives_one_person(api):
    answer = api.send(
        [
            track(anonymous_id="a-1", at=T0),
            identify("u-1", anonymous_id="a-1", at=T1),
            track("u-1", at=T2),
        ]
    )
    assert answer["warnings"] == []
    merged = person(api, "u-1")
    assert sorted(merged["distinct_ids"]) == ["a-1", "u-1"]
    assert merged["merges"] == []
    assert merged["first_seen"] == "2024-05-01T09:00:00Z"
    assert merged["last_seen"] == "2024-05-01T11:00:00Z"


def test_track_with_both_ids_links_them(api):
    api.send([track(anonymous_id="a-1", at=T0)])
    api.send([track("u-1", at=T1)])

    api.send([track("u-1", anonymous_id="a-1", at=T2)])

    linked = person(api, "a-1")
    assert sorted(linked["distinct_ids"]) == ["a-1", "u-1"]
    assert linked["merges"][0]["reason"] == "link"


@pytest.mark.parametrize("second_batch", [False, True])
def test_identify_keeps_shared_device_apart(api, second_batch):
    first = [identify("u-1", anonymous_id="device-1", at=T1)]
    second = [identify("u-2", anonymous_id="device-1", at=T2)]
    if second_batch:
        api.send(first)
        api.send(second)
    else:
        api.send(first + second)

    first_user = person(api, "u-1")
    second_user = person(api, "u-2")
    assert sorted(first_user["distinct_ids"]) == ["device-1", "u-1"]
    assert second_user["distinct_ids"] == ["u-2"]
    refusals = [m for m in second_user["merges"] if m["refused"]]
    assert len(refusals) == 1
    assert refusals[0]["reason"] == "both_identified"
    assert refusals[0]["from"] == first_user["id"]
    assert refusals[0]["into"] == second_user["id"]
    assert sorted(refusals[0]["distinct_ids"]) == ["device-1", "u-2"]


def test_refused_link_listed_in_warnings(api):
    api.send([identify("w-1", anonymous_id="wdev", at=T1)])

    answer = api.send([identify("w-3", anonymous_id="wdev", at=T2, messageId="m-w3")])

    assert answer["accepted"] == 1
    assert len(answer["warnings"]) == 1
    warning = answer["warnings"][0]
    assert warning["index"] == 0
    assert warning["messageId"] == "m-w3"
    assert warning["code"] == "merge_refused"
    assert "userId" in warning["message"]
    assert "anonymousId" in warning["message"]
    assert "pug-server merge-persons" in warning["message"]
    assert [m["refused"] for m in person(api, "w-3")["merges"]] == [True]


def test_refused_alias_names_previous_id(api):
    api.send([identify("u-1", at=T0), identify("u-2", at=T0)])

    answer = api.send([alias("u-1", "u-2", at=T1)])

    assert [w["code"] for w in answer["warnings"]] == ["merge_refused"]
    assert "previousId" in answer["warnings"][0]["message"]


def test_track_keeps_two_known_users_apart(api):
    api.send([identify("u-1", anonymous_id="device-1", at=T1), track("u-2", at=T1)])

    api.send([track("u-2", anonymous_id="device-1", at=T2)])

    assert sorted(person(api, "u-1")["distinct_ids"]) == ["device-1", "u-1"]
    second = person(api, "u-2")
    assert second["distinct_ids"] == ["u-2"]
    assert [m["refused"] for m in second["merges"]] == [True]
    # The event carries userId u-2, so it counts for u-2's person.
    assert second["last_seen"] == "2024-05-01T11:00:00Z"


def test_alias_chain_links_new_ids(api):
    api.send([track(anonymous_id="a", at=T0)])
    api.send([alias("a", "b", at=T1)])
    api.send([alias("b", "c", at=T2)])

    final = person(api, "c")
    assert sorted(final["distinct_ids"]) == ["a", "b", "c"]
    assert person(api, "a")["id"] == final["id"]
    assert final["identified"] is True


def test_alias_chain_merges_stored_persons(api):
    api.send([track(anonymous_id="a", at=T0)])
    api.send([track(anonymous_id="b", at=T0)])
    api.send([track(anonymous_id="c", at=T0)])
    ids = {name: person(api, name)["id"] for name in "abc"}

    api.send([alias("a", "b", at=T1)])
    api.send([alias("b", "c", at=T2)])

    # After the first alias, b's person is identified and c's is not, so
    # c's person is merged into b's: the identified person always remains.
    final = person(api, "c")
    assert final["id"] == ids["b"]
    assert sorted(final["distinct_ids"]) == ["a", "b", "c"]
    merges = [(m["from"], m["into"], m["reason"]) for m in final["merges"]]
    assert merges == [(ids["a"], ids["b"], "alias"), (ids["c"], ids["b"], "alias")]


def test_alias_keeps_two_identified_users_apart(api):
    api.send([identify("u-1", at=T0), identify("u-2", at=T0)])

    api.send([alias("u-1", "u-2", at=T1)])

    assert person(api, "u-1")["distinct_ids"] == ["u-1"]
    assert person(api, "u-2")["distinct_ids"] == ["u-2"]
    assert [m["refused"] for m in person(api, "u-2")["merges"]] == [True]


def test_late_identify_counts_earlier_events(api):
    api.send([track("u-1", at=T3)])
    api.send(
        [track(anonymous_id="a-1", at=T0), track(anonymous_id="a-1", at=T1)],
    )

    api.send([identify("u-1", anonymous_id="a-1", at=T4)])

    merged = person(api, "u-1")
    assert merged["first_seen"] == "2024-05-01T09:00:00Z"
    assert merged["last_seen"] == "2024-05-01T13:00:00Z"
    events = api.get("/v1/events", distinct_id="a-1").json()["events"]
    assert len(events) == 3


def test_traits_keep_latest_event_time(api):
    api.send([identify("u-1", traits={"plan": "pro", "seats": 5}, at=T2)])

    api.send([identify("u-1", traits={"plan": "free", "city": "Oslo"}, at=T1)])

    assert person(api, "u-1")["traits"] == {"plan": "pro", "seats": 5, "city": "Oslo"}


def test_traits_in_one_batch_keep_latest(api):
    api.send(
        [
            identify("u-1", traits={"plan": "team"}, at=T3),
            identify("u-1", traits={"plan": "free"}, at=T1),
        ]
    )

    assert person(api, "u-1")["traits"] == {"plan": "team"}


@pytest.mark.parametrize(
    ("anonymous_at", "expected"), [(T3, "team"), (T1, "pro")], ids=["newer", "older"]
)
def test_traits_merge_by_event_time(api, anonymous_at, expected):
    api.send([identify("u-1", traits={"plan": "pro", "seats": 2}, at=T2)])
    api.send(
        [
            identify(
                anonymous_id="a-1",
                traits={"plan": "team", "ref": "ad"},
                at=anonymous_at,
            )
        ]
    )

    api.send([identify("u-1", anonymous_id="a-1", at=T0)])

    merged = person(api, "u-1")
    assert merged["traits"] == {"plan": expected, "seats": 2, "ref": "ad"}


def test_set_once_keeps_earliest_value(api):
    api.send([identify("u-1", traits={"$set_once": {"source": "ads"}}, at=T2)])
    api.send([identify("u-1", traits={"$set_once": {"source": "seo"}}, at=T3)])
    assert person(api, "u-1")["traits"] == {"source": "ads"}

    api.send([identify("u-1", traits={"$set_once": {"source": "email"}}, at=T1)])

    assert person(api, "u-1")["traits"] == {"source": "email"}


@pytest.mark.parametrize("kind", ["identify", "group"])
@pytest.mark.parametrize("value", [5, "ads", ["source"], None])
def test_set_once_not_object_rejected(api, kind, value):
    message = identify("u-1", traits={"$set_once": value, "plan": "pro"}, at=T1)
    message["type"] = kind
    message["groupId"] = "t-1"

    answer = api.send([message])

    assert answer["accepted"] == 0
    errors = answer["rejected"][0]["errors"]
    assert list(errors) == ["traits.$set_once"]
    assert (
        "must be a JSON object of traits to set once" in errors["traits.$set_once"][0]
    )
    assert person_status(api, "u-1") == 404


def test_plain_trait_replaces_set_once(api):
    api.send([identify("u-1", traits={"$set_once": {"source": "ads"}}, at=T2)])
    api.send([identify("u-1", traits={"source": "manual"}, at=T1)])
    assert person(api, "u-1")["traits"] == {"source": "manual"}

    api.send([identify("u-1", traits={"$set_once": {"source": "seo"}}, at=T0)])

    assert person(api, "u-1")["traits"] == {"source": "manual"}


def test_set_once_merges_keep_earliest(api):
    api.send([identify("u-1", traits={"$set_once": {"source": "seo"}}, at=T2)])
    api.send(
        [identify(anonymous_id="a-1", traits={"$set_once": {"source": "ads"}}, at=T1)]
    )

    api.send([identify("u-1", anonymous_id="a-1", at=T3)])

    assert person(api, "u-1")["traits"] == {"source": "ads"}


PLACEHOLDERS = [
    "null",
    "NULL",
    "undefined",
    "None",
    "nil",
    "0",
    "-1",
    "anonymous",
    "Guest",
    "",
    "   ",
    "'null'",
    '"undefined"',
    "00000000-0000-0000-0000-000000000000",
    "00000000000000000000000000000000",
    "NaN",
    "'nan'",
    "[object Object]",
    '"[OBJECT OBJECT]"',
    0,
    -1,
]


@pytest.mark.parametrize("placeholder", PLACEHOLDERS, ids=repr)
def test_placeholder_user_id_links_nothing(api, placeholder):
    answer = api.send(
        [
            identify("u-1", anonymous_id="a-1", at=T1),
            identify(placeholder, anonymous_id="a-2", at=T2),
            identify("u-2", anonymous_id=placeholder, at=T2),
        ]
    )

    assert answer["accepted"] == 3
    warnings = [(w["index"], w["code"], w["field"]) for w in answer["warnings"]]
    assert warnings == [
        (1, "placeholder_id", "userId"),
        (2, "placeholder_id", "anonymousId"),
    ]
    assert person(api, "a-2")["distinct_ids"] == ["a-2"]
    assert person(api, "u-2")["distinct_ids"] == ["u-2"]
    assert person(api, "u-2")["merges"] == []
    assert person_status(api, str(placeholder).strip() or "%20") == 404


@pytest.mark.parametrize("placeholder", ["null", "undefined", "0", "guest"])
def test_placeholder_only_event_has_no_person(api, placeholder):
    answer = api.send([track(placeholder, at=T1, messageId="m-placeholder")])

    assert answer["accepted"] == 1
    assert [w["messageId"] for w in answer["warnings"]] == ["m-placeholder"]
    assert "belongs to no person" in answer["warnings"][0]["message"]
    assert person_status(api, placeholder) == 404
    events = api.get("/v1/events", message_id="m-placeholder").json()["events"]
    assert events[0]["userId"] == placeholder


def test_placeholder_alias_merges_nothing(api):
    api.send([identify("u-1", at=T0), identify("u-2", at=T0)])

    answer = api.send([alias("null", "u-1", at=T1), alias("null", "u-2", at=T1)])

    assert [w["field"] for w in answer["warnings"]] == ["previousId", "previousId"]
    assert person(api, "u-1")["distinct_ids"] == ["u-1"]
    assert person(api, "u-2")["merges"] == []


def test_person_unknown_gets_404(api):
    response = api.get("/v1/persons/nobody")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "person_not_found"


def test_person_hidden_from_other_project(api):
    api.send([identify("u-1", at=T0)])
    other = create_project(api.server.database_url)

    response = api.session.get(
        api.server.url + "/v1/persons/u-1",
        headers={"Authorization": f"Bearer {other.read_key}"},
        timeout=30,
    )

    assert response.status_code == 404


def test_person_requires_read_key(api):
    response = api.session.get(api.server.url + "/v1/persons/u-1", timeout=30)

    assert response.status_code == 401


def _merge_command(api, *args: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PUG_DATABASE_URL": api.server.database_url}
    return subprocess.run(
        [sys.executable, "-m", "pug_server", "merge-persons", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_admin_merge_joins_identified_users(api):
    api.send(
        [
            identify("u-1", traits={"plan": "pro"}, at=T1),
            identify("u-2", traits={"plan": "free", "seats": 3}, at=T2),
        ]
    )
    from_id = person(api, "u-1")["id"]
    into_id = person(api, "u-2")["id"]

    result = _merge_command(api, "--project", str(api.project.id), "u-1", "u-2")

    assert result.returncode == 0, result.stderr
    merged = person(api, "u-1")
    assert merged["id"] == into_id
    assert sorted(merged["distinct_ids"]) == ["u-1", "u-2"]
    assert merged["traits"] == {"plan": "free", "seats": 3}
    assert [(m["from"], m["reason"]) for m in merged["merges"]] == [(from_id, "admin")]


def test_admin_merge_rejects_unknown_id(api):
    api.send([identify("u-1", at=T1)])

    result = _merge_command(api, "--project", str(api.project.id), "u-1", "nobody")

    assert result.returncode == 1
    assert "no person has the id 'nobody'" in result.stderr


def test_last_seen_moves_a_minute_at_a_time(api):
    api.send([track("u-seen", at="2024-05-01T10:00:00Z")])
    api.send([track("u-seen", at="2024-05-01T10:00:30Z")])
    assert person(api, "u-seen")["last_seen"] == "2024-05-01T10:00:00Z"

    api.send([track("u-seen", at="2024-05-01T10:01:00Z")])
    assert person(api, "u-seen")["last_seen"] == "2024-05-01T10:01:00Z"


def test_late_event_moves_first_seen(api):
    api.send([track("u-late", at=T2)])
    api.send([track("u-late", at=T0)])
    seen = person(api, "u-late")
    assert seen["first_seen"] == "2024-05-01T09:00:00Z"
    assert seen["last_seen"] == "2024-05-01T11:00:00Z"


def test_seen_times_span_batch(api):
    api.send(
        [
            track("u-span", at=T1),
            track("u-span", at=T3),
            track("u-span", at=T0),
        ]
    )
    api.send([track("u-span", at=T4), track("u-span", at=T2)])
    seen = person(api, "u-span")
    assert seen["first_seen"] == "2024-05-01T09:00:00Z"
    assert seen["last_seen"] == "2024-05-01T13:00:00Z"
