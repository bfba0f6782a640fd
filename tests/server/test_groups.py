"""Groups through the live server: memberships, group traits, context names."""

from __future__ import annotations

from tests.server.test_identity import T0, T1, T2, T3, identify, person, track


def group_call(
    user_id, group_id, *, traits=None, group_type=None, at=T1, anonymous_id=None
):
    message = {"type": "group", "groupId": group_id, "timestamp": at}
    if user_id is not None:
        message["userId"] = user_id
    if anonymous_id is not None:
        message["anonymousId"] = anonymous_id
    if traits is not None:
        message["traits"] = traits
    if group_type is not None:
        message["groupType"] = group_type
    return message


def group(api, group_type: str, group_key: str) -> dict:
    response = api.get(f"/v1/groups/{group_type}/{group_key}")
    assert response.status_code == 200, response.text
    return response.json()


def test_group_call_records_membership_and_traits(api):
    api.send(
        [
            group_call(
                "u-1", "t-1", traits={"name": "Core", "seats": 4}, group_type="team"
            )
        ]
    )

    team = group(api, "team", "t-1")
    member = person(api, "u-1")
    assert team["traits"] == {"name": "Core", "seats": 4}
    assert [(m["person_id"], m["distinct_ids"]) for m in team["members"]] == [
        (member["id"], ["u-1"])
    ]
    assert team["members"][0]["joined_at"] == "2024-05-01T10:00:00Z"
    assert member["groups"] == [
        {"group_type": "team", "group_key": "t-1", "joined_at": "2024-05-01T10:00:00Z"}
    ]
    assert team["first_seen"] == "2024-05-01T10:00:00Z"


def test_group_call_defaults_to_type_group(api):
    api.send([group_call("u-1", "c-9", traits={"name": "Acme"})])

    assert group(api, "group", "c-9")["traits"] == {"name": "Acme"}
    assert person(api, "u-1")["groups"][0]["group_type"] == "group"


def test_group_traits_keep_latest_event_time(api):
    api.send(
        [group_call("u-1", "t-1", traits={"plan": "team"}, group_type="team", at=T2)]
    )

    api.send(
        [
            group_call(
                "u-2",
                "t-1",
                traits={"plan": "free", "region": "eu"},
                group_type="team",
                at=T1,
            )
        ]
    )

    team = group(api, "team", "t-1")
    assert team["traits"] == {"plan": "team", "region": "eu"}
    assert len(team["members"]) == 2


def test_group_set_once_trait(api):
    api.send(
        [
            group_call("u-1", "t-1", traits={"$set_once": {"founded": "2020"}}, at=T2),
            group_call("u-1", "t-1", traits={"$set_once": {"founded": "2021"}}, at=T3),
        ]
    )

    assert group(api, "group", "t-1")["traits"] == {"founded": "2020"}


def test_context_group_records_first_membership(api):
    api.send([track("u-1", at=T2, context={"groups": {"team": "t-1"}})])
    api.send([track("u-1", at=T3, context={"groups": {"team": "t-1"}})])
    assert (
        group(api, "team", "t-1")["members"][0]["joined_at"] == "2024-05-01T11:00:00Z"
    )

    api.send(
        [track("u-1", at=T1, context={"groupId": "g-1", "groups": {"team": "t-1"}})]
    )

    team = group(api, "team", "t-1")
    assert [m["distinct_ids"] for m in team["members"]] == [["u-1"]]
    assert team["members"][0]["joined_at"] == "2024-05-01T10:00:00Z"
    assert team["first_seen"] == "2024-05-01T10:00:00Z"
    assert team["last_seen"] == "2024-05-01T12:00:00Z"
    assert [g["group_key"] for g in person(api, "u-1")["groups"]] == ["t-1", "g-1"]


def test_attribution_inputs_visible(api):
    api.send(
        [
            track("u-1", at=T0, event="Document Edited"),
            group_call("u-1", "t-1", group_type="team", at=T1),
            group_call("u-1", "t-2", group_type="team", at=T3),
            track(
                "u-1",
                at=T2,
                event="Document Edited",
                context={"groups": {"team": "t-9"}},
            ),
        ]
    )

    groups = person(api, "u-1")["groups"]
    assert [(g["group_key"], g["joined_at"]) for g in groups] == [
        ("t-1", "2024-05-01T10:00:00Z"),
        ("t-9", "2024-05-01T11:00:00Z"),
        ("t-2", "2024-05-01T12:00:00Z"),
    ]
    events = api.get("/v1/events", event="Document Edited").json()["events"]
    assert [e.get("groups") for e in events] == [{"team": "t-9"}, None]


def test_merge_unions_memberships(api):
    api.send([group_call(None, "t-1", anonymous_id="a-1", group_type="team", at=T0)])
    api.send([group_call("u-1", "t-2", group_type="team", at=T1)])

    api.send([identify("u-1", anonymous_id="a-1", at=T2)])

    merged = person(api, "u-1")
    assert [g["group_key"] for g in merged["groups"]] == ["t-1", "t-2"]
    assert [m["distinct_ids"] for m in group(api, "team", "t-1")["members"]] == [
        merged["distinct_ids"]
    ]


def test_placeholder_group_id_not_recorded(api):
    answer = api.send([track("u-1", at=T1, context={"groupId": "null"})])

    assert [w["code"] for w in answer["warnings"]] == ["invalid_group"]
    assert person(api, "u-1")["groups"] == []
    assert api.get("/v1/groups/group/null").status_code == 404


def test_invalid_context_groups_warned(api):
    groups = {"team": 5, "org": None, "x": {"a": 1}, "": "k", "bad type!": "k"}
    context = {"groups": groups, "groupId": ["g-1"]}

    answer = api.send([track("u-1", at=T1, context=context, messageId="m-g")])

    assert answer["accepted"] == 1
    fields = sorted(w["field"] for w in answer["warnings"])
    assert fields == [
        "context.groupId",
        "context.groups.",
        "context.groups.bad type!",
        "context.groups.org",
        "context.groups.x",
    ]
    assert {w["code"] for w in answer["warnings"]} == {"invalid_group"}
    assert {w["messageId"] for w in answer["warnings"]} == {"m-g"}
    assert [g["group_type"] for g in person(api, "u-1")["groups"]] == ["team"]
    [event] = api.get("/v1/events", message_id="m-g").json()["events"]
    assert event["groups"] == {"team": "5"}
    assert api.get("/v1/groups/bad type!/k").status_code == 404


def test_context_group_key_too_long_warned(api):
    context = {"groups": {"team": "k" * 201, "t" * 101: "k"}}

    answer = api.send([track("u-1", at=T1, context=context)])

    assert [w["code"] for w in answer["warnings"]] == ["invalid_group"] * 2
    assert person(api, "u-1")["groups"] == []


def test_context_groups_not_object_warned(api):
    answer = api.send([track("u-1", at=T1, context={"groups": ["t-1"]})])

    assert [w["field"] for w in answer["warnings"]] == ["context.groups"]


def test_group_unknown_gets_404(api):
    response = api.get("/v1/groups/team/nope")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "group_not_found"
