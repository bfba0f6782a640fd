"""Per-message validation: one bad message is rejected, the rest is kept."""

from __future__ import annotations

import json

import pytest

GOOD = {"type": "track", "userId": "u-1", "event": "Kept", "messageId": "good-1"}

# (field, wrong value, a word the error must contain)
WRONG_TYPES = [
    ("type", 7, "must be a string"),
    ("type", "click", "must be one of"),
    ("messageId", 12, "must be a string"),
    ("messageId", "", "1 to 200"),
    ("timestamp", 1714564800, "ISO 8601"),
    ("timestamp", "last tuesday", "ISO 8601"),
    ("sentAt", ["2024-05-01"], "ISO 8601"),
    ("userId", {"id": 1}, "string or an integer"),
    ("userId", True, "string or an integer"),
    ("userId", "x" * 201, "at most 200"),
    ("anonymousId", 1.5, "string or an integer"),
    ("event", 42, "must be a string"),
    ("event", "", "1 to 200"),
    ("properties", [1, 2], "JSON object"),
    ("properties", "plan=pro", "JSON object"),
    ("traits", 3, "JSON object"),
    ("context", "web", "JSON object"),
    ("integrations", [], "JSON object"),
    ("groupId", ["t-1"], "string or an integer"),
    ("previousId", {"a": 1}, "string or an integer"),
    ("groupType", "a team!", "letters, digits"),
    ("name", 5, "must be a string"),
]


def _track(**fields) -> dict:
    return {"type": "track", "userId": "u-1", "event": "Clicked", **fields}


def _raw_post(api, body: bytes):
    return api.session.post(
        api.server.url + "/v1/batch",
        data=body,
        auth=(api.project.write_key, ""),
        headers={"Content-Type": "application/json"},
        timeout=30,
    )


def _stored_ids(api) -> list[str]:
    return [event["messageId"] for event in api.get("/v1/events").json()["events"]]


@pytest.mark.parametrize(
    ("field", "value", "word"),
    WRONG_TYPES,
    ids=[f"{field}-{type(value).__name__}" for field, value, _ in WRONG_TYPES],
)
def test_wrong_type_names_field(api, field, value, word):
    answer = api.send([GOOD, {**_track(messageId="bad-1"), field: value}])
    assert answer["accepted"] == 1
    [rejected] = answer["rejected"]
    assert rejected["index"] == 1
    assert field in rejected["errors"], rejected
    assert word in " ".join(rejected["errors"][field]), rejected


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ({"type": "track", "event": "x"}, "userId"),
        ({"type": "track", "userId": "u-1"}, "event"),
        ({"type": "group", "userId": "u-1"}, "groupId"),
        ({"type": "alias", "userId": "u-1"}, "previousId"),
        ({"type": "alias", "previousId": "a-1"}, "userId"),
        ({"userId": "u-1", "event": "x"}, "type"),
    ],
    ids=["no-id", "no-event", "no-group-id", "no-previous-id", "no-user-id", "no-type"],
)
def test_missing_required_field_named(api, message, field):
    answer = api.send([GOOD, message])
    [rejected] = answer["rejected"]
    assert field in rejected["errors"], rejected
    assert "required" in " ".join(rejected["errors"][field])


@pytest.mark.parametrize(
    "value", [[1], "text", 3, None], ids=["array", "str", "int", "null"]
)
def test_non_object_message_rejected(api, value):
    answer = api.send([GOOD, value])
    assert answer["accepted"] == 1
    assert "must be a JSON object" in answer["rejected"][0]["errors"]["_message"][0]


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_number_rejected_alone(api, token):
    body = (
        '{"batch": [' + json.dumps(GOOD) + ","
        '{"type": "track", "userId": "u-1", "event": "x", "messageId": "nan-1",'
        ' "properties": {"ratio": ' + token + "}}]}"
    ).encode()
    response = _raw_post(api, body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["accepted"] == 1
    assert "NaN" in answer["rejected"][0]["errors"]["_message"][0]
    assert _stored_ids(api) == ["good-1"]


def test_lone_surrogate_rejected_alone(api):
    body = (
        '{"batch": [' + json.dumps(GOOD) + ","
        '{"type": "track", "userId": "u-1", "event": "x", "messageId": "sur-1",'
        ' "properties": {"name": "\\ud800"}}]}'
    ).encode()
    answer = _raw_post(api, body).json()
    assert answer["accepted"] == 1
    assert "surrogate" in answer["rejected"][0]["errors"]["_message"][0]
    assert _stored_ids(api) == ["good-1"]


def test_surrogate_pair_accepted(api):
    body = (
        b'{"batch": [{"type": "track", "userId": "u-1", "event": "x",'
        b' "messageId": "pair-1", "properties": {"emoji": "\\ud83d\\ude00"}}]}'
    )
    assert _raw_post(api, body).json()["accepted"] == 1
    [event] = api.get("/v1/events").json()["events"]
    assert event["properties"]["emoji"] == "\U0001f600"


def test_invalid_utf8_rejected_alone(api):
    bad = (
        b'{"type": "track", "userId": "u-1", "event": "x", "messageId": "utf-1",'
        b' "properties": {"name": "caf\xe9"}}'
    )
    body = b'{"batch": [' + json.dumps(GOOD).encode() + b"," + bad + b"]}"
    response = _raw_post(api, body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["accepted"] == 1
    assert "invalid UTF-8" in answer["rejected"][0]["errors"]["_message"][0]
    assert _stored_ids(api) == ["good-1"]


def test_nul_character_rejected_alone(api):
    answer = api.send([GOOD, _track(messageId="nul-1", properties={"q": "a\u0000b"})])
    assert answer["accepted"] == 1
    assert "NUL" in answer["rejected"][0]["errors"]["_message"][0]


def test_escaped_backslash_u0000_accepted(api):
    answer = api.send([_track(messageId="bs-1", properties={"q": "\\u0000"})])
    assert answer["accepted"] == 1
    [event] = api.get("/v1/events").json()["events"]
    assert event["properties"]["q"] == "\\u0000"


def test_deep_nesting_rejected_alone(api):
    nested: dict = {"leaf": 1}
    for _ in range(40):
        nested = {"child": nested}
    answer = api.send([GOOD, _track(messageId="deep-1", properties=nested)])
    assert answer["accepted"] == 1
    assert (
        "nested more than 32 levels" in answer["rejected"][0]["errors"]["_message"][0]
    )


def test_nesting_at_limit_accepted(api):
    # The message is level 1 and properties level 2, so 30 more levels make 32.
    nested: dict = {}
    for _ in range(30):
        nested = {"child": nested}
    answer = api.send([_track(messageId="deep-ok", properties=nested)])
    assert answer["accepted"] == 1


def test_nesting_beyond_parser_400(api):
    body = b'{"batch": [{"properties": ' + b"[" * 5000 + b"]" * 5000 + b"}]}"
    response = _raw_post(api, body)
    assert response.status_code == 400
    assert "nests objects and arrays too deeply" in response.json()["error"]["message"]


def test_rejected_raw_kept_for_bad_text(api):
    body = (
        b'{"batch": [{"type": "track", "userId": "u-1", "event": "x",'
        b' "messageId": "raw-1", "properties": {"name": "\\ud800", "n": NaN}}]}'
    )
    assert _raw_post(api, body).status_code == 200
    [row] = api.get("/v1/rejected").json()["rejected"]
    assert row["messageId"] == "raw-1"
    assert "raw-1" in row["raw"]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("NaN", "NaN"),
        ('"\\ud800"', "surrogate"),
        ('"a\\u0000b"', "NUL"),
    ],
)
def test_unstorable_batch_context_400(api, value, reason):
    body = (
        '{"batch": [' + json.dumps(GOOD) + '], "context": {"x": ' + value + "}}"
    ).encode()
    response = _raw_post(api, body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_context"
    assert error["message"].startswith("batch context ")
    assert reason in error["message"]
    assert _stored_ids(api) == []


def test_deep_batch_context_400(api):
    nested: dict = {}
    for _ in range(40):
        nested = {"child": nested}
    response = api.batch([GOOD], context={"app": nested})
    assert response.status_code == 400, response.text
    assert "more than 32 levels" in response.json()["error"]["message"]


def test_batch_context_counts_toward_message_size(api):
    response = api.batch([GOOD], context={"blob": "x" * 33_000})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["accepted"] == 0
    assert (
        "over the limit of 32768 bytes"
        in answer["rejected"][0]["errors"]["_message"][0]
    )


def test_nesting_past_encoder_names_limit(api):
    body = (
        b'{"batch": [' + json.dumps(GOOD).encode() + b","
        b'{"type": "track", "userId": "u-1", "event": "x", "messageId": "deep-2",'
        b' "properties": {"p": ' + b"[" * 1010 + b"]" * 1010 + b"}}]}"
    )
    response = _raw_post(api, body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["accepted"] == 1
    assert "more than 32 levels" in answer["rejected"][0]["errors"]["_message"][0]


def test_byte_order_mark_ignored(api):
    body = b"\xef\xbb\xbf" + json.dumps({"batch": [GOOD]}).encode()
    response = _raw_post(api, body)
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1
    assert _stored_ids(api) == ["good-1"]
