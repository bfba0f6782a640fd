"""Hostile messages are rejected one by one; the rest of the batch is kept.

``tests/server/test_ingest_validation.py`` and ``test_ingest_limits.py``
check each hostile input alone. These tests send many of them in one
batch, between good messages, and check what the batch keeps, the status
of every ingest endpoint, and that the log holds no
unhandled error.
"""

from __future__ import annotations

import gzip
import json

import pytest
import requests

from tests.reliability.conftest import assert_clean_log

INGEST_PATHS = [
    "/v1/batch",
    "/v1/track",
    "/v1/identify",
    "/v1/group",
    "/v1/alias",
    "/v1/page",
    "/v1/screen",
]


def track(message_id: str, **fields) -> dict:
    return {
        "type": "track",
        "userId": "u-1",
        "event": "Hostile",
        "messageId": message_id,
        **fields,
    }


# (name, the message, the wire field its rejection must name).
WRONG_TYPES = [
    ("type-number", track("x", type=5), "type"),
    ("type-unknown", track("x", type="bogus"), "type"),
    ("message-id-object", track("x", messageId={"a": 1}), "messageId"),
    ("timestamp-text", track("x", timestamp="not a date"), "timestamp"),
    ("timestamp-object", track("x", timestamp={"a": 1}), "timestamp"),
    ("user-id-object", track("x", userId={"a": 1}), "userId"),
    ("anonymous-id-array", track("x", anonymousId=[1]), "anonymousId"),
    ("event-object", track("x", event={"a": 1}), "event"),
    ("properties-text", track("x", properties="text"), "properties"),
    ("properties-array", track("x", properties=[1]), "properties"),
    ("context-text", track("x", context="text"), "context"),
    ("integrations-number", track("x", integrations=5), "integrations"),
    ("sent-at-text", track("x", sentAt="garbage"), "sentAt"),
    (
        "traits-text",
        {"type": "identify", "userId": "u", "traits": "text", "messageId": "x"},
        "traits",
    ),
    (
        "group-id-object",
        {"type": "group", "userId": "u", "groupId": {"a": 1}, "messageId": "x"},
        "groupId",
    ),
    (
        "previous-id-array",
        {"type": "alias", "userId": "u", "previousId": [], "messageId": "x"},
        "previousId",
    ),
    (
        "page-name-number",
        {"type": "page", "userId": "u", "name": {"a": 1}, "messageId": "x"},
        "name",
    ),
]

ODD_BUT_VALID = [
    ("huge-integer", track("x", properties={"big": 10**40, "neg": -(10**40)})),
    ("quoted-names", track("x", properties={'a"b': 1, "c'd": 2, "e\\f": 3})),
    ("dotted-names", track("x", properties={"a.b": 1, "a": {"b": 2}, ".": 3})),
    (
        "sql-names",
        track(
            "x", properties={"x'); DROP TABLE event; --": 1, "1 OR 1=1": "' OR ''='"}
        ),
    ),
    ("unicode-names", track("x", properties={"名前": "値", "emoji😀": "✓"})),
    ("empty-name", track("x", properties={"": "empty key"})),
    ("distant-past", track("x", timestamp="1970-01-01T00:00:00Z")),
    ("far-future", track("x", timestamp="9999-12-31T23:59:59Z")),
]


def many_properties(count: int) -> dict:
    return {f"p{index}": index for index in range(count)}


def test_hostile_batch_keeps_good_messages(api):
    batch: list[dict] = []
    expected_rejected: dict[int, str] = {}
    expected_stored: list[str] = []
    cases = [(name, message, field) for name, message, field in WRONG_TYPES]
    cases += [(name, message, None) for name, message in ODD_BUT_VALID]
    cases.append(
        ("ten-thousand-properties", track("x", properties=many_properties(10_000)), "")
    )
    for number, (name, message, field) in enumerate(cases):
        good_id = f"good-{number}"
        batch.append(track(good_id))
        expected_stored.append(good_id)
        if message["messageId"] == "x":
            message = {**message, "messageId": f"hostile-{name}"}
        if field is None:
            expected_stored.append(message["messageId"])
        else:
            expected_rejected[len(batch)] = field
        batch.append(message)

    answer = api.send(batch)

    rejected = {entry["index"]: entry for entry in answer["rejected"]}
    assert sorted(rejected) == sorted(expected_rejected)
    for index, field in expected_rejected.items():
        errors = json.dumps(rejected[index]["errors"])
        assert field in errors, (batch[index]["messageId"], errors)
    assert answer["accepted"] == len(expected_stored)
    stored = {
        event["messageId"]
        for event in api.get("/v1/events", limit=500).json()["events"]
    }
    assert stored == set(expected_stored)
    assert_clean_log(api.server)


RAW_FRAGMENTS = {
    "nan": '{"type": "track", "userId": "u", "event": "e", "properties": {"v": NaN}}',
    "infinity": '{"type": "track", "userId": "u", "event": "e", "properties": {"v": Infinity}}',
    "lone-surrogate": '{"type": "track", "userId": "u", "event": "\\ud800"}',
    "deep": (
        '{"type": "track", "userId": "u", "event": "e", "properties": '
        + '{"a": ' * 60
        + "1"
        + "}" * 60
        + "}"
    ),
    "huge-exponent": '{"type": "track", "userId": "u", "event": "e", "properties": {"v": 1e999}}',
}


def test_raw_hostile_fragments_rejected_alone(api):
    good = json.dumps(track("raw-good"))
    pieces = [good, *RAW_FRAGMENTS.values(), json.dumps(track("raw-good-2"))]
    body = ('{"batch": [' + ",".join(pieces) + "]}").encode("utf-8")
    invalid_utf8 = b'{"type": "track", "userId": "u", "event": "\xff\xfe"}'
    body = body.replace(b"]}", b"," + invalid_utf8 + b"]}")
    response = requests.post(
        api.server.url + "/v1/batch",
        data=body,
        headers={"Content-Type": "application/json"},
        auth=(api.project.write_key, ""),
        timeout=30,
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["accepted"] == 2
    assert sorted(entry["index"] for entry in answer["rejected"]) == [1, 2, 3, 4, 5, 7]
    assert_clean_log(api.server)


@pytest.mark.parametrize("path", INGEST_PATHS)
def test_gzip_bomb_413_on_every_endpoint(api, path):
    # 64 MiB of zeros compress to about 64 KB, under the compressed limit.
    bomb = gzip.compress(b"0" * (64 * 1024 * 1024), compresslevel=9)
    response = requests.post(
        api.server.url + path,
        data=bomb,
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        auth=(api.project.write_key, ""),
        timeout=30,
    )
    assert response.status_code == 413
    assert "limit" in response.json()["error"]["message"]


@pytest.mark.parametrize("path", INGEST_PATHS)
def test_oversize_body_413_on_every_endpoint(api, path):
    padding = "x" * (600 * 1024)
    response = requests.post(
        api.server.url + path,
        data=json.dumps({"type": "track", "userId": "u", "event": "e", "pad": padding}),
        headers={"Content-Type": "application/json"},
        auth=(api.project.write_key, ""),
        timeout=30,
    )
    assert response.status_code == 413
    assert "limit" in response.json()["error"]["message"]


@pytest.mark.parametrize("path", INGEST_PATHS)
def test_deep_body_400_on_every_endpoint(api, path):
    # 10,000 levels: past the parser's recursion limit, under every size limit.
    body = "[" * 10_000 + "]" * 10_000
    response = requests.post(
        api.server.url + path,
        data=body,
        headers={"Content-Type": "application/json"},
        auth=(api.project.write_key, ""),
        timeout=30,
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"


def test_hostile_inputs_leave_server_healthy(api):
    assert requests.get(api.server.url + "/ready", timeout=10).status_code == 200
    assert api.send([track("after-hostile")])["accepted"] == 1
    assert_clean_log(api.server)


@pytest.mark.parametrize("field", ["messageId", "type"])
def test_nul_in_stored_column_rejected_alone(api, field):
    hostile = {**track("nul-x"), field: "a\u0000b"}
    answer = api.send([track("nul-good"), hostile])
    assert answer["accepted"] == 1
    assert [entry["index"] for entry in answer["rejected"]] == [1]
    assert len(api.get("/v1/rejected").json()["rejected"]) == 1


@pytest.mark.parametrize(
    "path",
    [
        "/v1/metrics/a%00b",
        "/v1/metrics/a%00b/tile",
        "/v1/dashboards/a%00b",
        "/v1/persons/a%00b",
        "/v1/groups/team/a%00b",
        "/v1/events?event=a%00b",
        "/v1/rejected?message_id=a%00b",
    ],
)
def test_nul_in_url_400(api, path):
    response = requests.get(
        api.server.url + path,
        headers={"Authorization": f"Bearer {api.project.read_key}"},
        timeout=30,
    )
    assert response.status_code == 400
    assert "NUL" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "path, body",
    [
        ("/v1/dashboards", {"key": "k", "name": "n", "north_star": "a\u0000b"}),
        (
            "/v1/metrics",
            {"key": "k", "name": "a\u0000b", "measure": {"type": "events"}},
        ),
        ("/v1/query", {"measure": {"type": "events", "event": "a\u0000b"}}),
    ],
)
def test_nul_in_metrics_body_400(api, path, body):
    response = api.post(path, body)
    assert response.status_code == 400
    assert "NUL" in response.json()["error"]["message"]
