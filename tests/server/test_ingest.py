"""Ingestion over HTTP against the live servers: auth, dedup, time, context."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import uuid

import pytest
import requests


def _track(message_id: str | None = None, **fields) -> dict:
    message = {"type": "track", "userId": "u-1", "event": "Signed Up", **fields}
    if message_id is not None:
        message["messageId"] = message_id
    return message


def _stored(api, **params) -> list[dict]:
    response = api.get("/v1/events", **params)
    assert response.status_code == 200, response.text
    return response.json()["events"]


def _parse(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_batch_answer_counts_each_outcome(api):
    answer = api.send(
        [_track("a-1"), _track("a-1"), {"type": "track", "messageId": "a-2"}]
    )
    assert answer["accepted"] == 1
    assert answer["duplicates"] == 1
    assert [item["index"] for item in answer["rejected"]] == [2]
    assert answer["rejected"][0]["messageId"] == "a-2"


def test_retried_batch_stores_nothing_twice(api):
    batch = [_track(f"r-{i}") for i in range(5)]
    first = api.send(batch)
    second = api.send(batch)
    assert first["accepted"] == 5
    assert second["accepted"] == 0
    assert second["duplicates"] == 5
    assert len(_stored(api)) == 5


def test_message_without_id_gets_one(api):
    api.send([_track()])
    [event] = _stored(api)
    assert uuid.UUID(event["messageId"])


def test_write_key_in_body_accepted(api):
    response = requests.post(
        api.server.url + "/v1/batch",
        json={"batch": [_track("wk-1")], "writeKey": api.project.write_key},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1


@pytest.mark.parametrize(
    "auth",
    [None, ("pw_not-a-real-key", ""), ("", "")],
    ids=["missing", "unknown", "empty"],
)
def test_batch_bad_write_key_401(api, auth):
    response = requests.post(
        api.server.url + "/v1/batch", json={"batch": [_track()]}, auth=auth, timeout=30
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_write_key"


def test_read_key_is_not_a_write_key(api):
    response = requests.post(
        api.server.url + "/v1/batch",
        json={"batch": [_track()]},
        auth=(api.project.read_key, ""),
        timeout=30,
    )
    assert response.status_code == 401


def test_events_need_read_key(api):
    response = requests.get(
        api.server.url + "/v1/events",
        headers={"Authorization": f"Bearer {api.project.write_key}"},
        timeout=30,
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_read_key"


@pytest.mark.parametrize(
    "body",
    [b"not json", b'{"batch": [', b"\xff\xfe"],
    ids=["text", "truncated", "binary"],
)
def test_body_not_json_400(api, body):
    response = api.session.post(
        api.server.url + "/v1/batch",
        data=body,
        auth=(api.project.write_key, ""),
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"


@pytest.mark.parametrize(
    "body",
    [[], {"messages": []}, {"batch": {"type": "track"}}, "batch", None],
    ids=["array", "no-batch-key", "batch-object", "string", "null"],
)
def test_body_not_a_batch_400(api, body):
    response = api.session.post(
        api.server.url + "/v1/batch",
        data=json.dumps(body),
        auth=(api.project.write_key, ""),
        timeout=30,
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "not_a_batch"


def test_invalid_batch_sent_at_400(api):
    response = api.batch([_track()], sentAt="yesterday")
    assert response.status_code == 400
    assert "sentAt" in response.json()["error"]["message"]


@pytest.mark.parametrize("context", ["str", ["library"], 5, True])
def test_batch_context_not_object_400(api, context):
    response = api.batch([_track("ctx-1")], context=context)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_context"
    assert "batch context must be a JSON object" in error["message"]
    assert _stored(api) == []


def test_batch_context_null_ignored(api):
    answer = api.send([_track("ctx-2")], context=None)

    assert answer["accepted"] == 1


def test_gzip_body_is_inflated(api):
    body = gzip.compress(json.dumps({"batch": [_track("gz-1")]}).encode())
    response = api.session.post(
        api.server.url + "/v1/batch",
        data=body,
        auth=(api.project.write_key, ""),
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert [event["messageId"] for event in _stored(api)] == ["gz-1"]


@pytest.mark.parametrize(
    "body",
    [b"plainly not gzip", gzip.compress(b'{"batch": []}')[:-12]],
    ids=["not-gzip", "truncated"],
)
def test_bad_gzip_400(api, body):
    response = api.session.post(
        api.server.url + "/v1/batch",
        data=body,
        auth=(api.project.write_key, ""),
        headers={"Content-Encoding": "gzip"},
        timeout=30,
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_gzip"


def test_unknown_content_encoding_400(api):
    response = api.session.post(
        api.server.url + "/v1/batch",
        data=b'{"batch": []}',
        auth=(api.project.write_key, ""),
        headers={"Content-Encoding": "br"},
        timeout=30,
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unsupported_encoding"


def test_skew_correction_exact_arithmetic(api):
    # The client's clock runs 1 h 2 min 3.25 s fast; the event happened
    # 10.5 s before the batch was sent.
    sent_at = "2031-03-04T05:06:07.750000Z"
    timestamp = "2031-03-04T05:05:57.250000Z"
    api.send([_track("skew-1", timestamp=timestamp)], sentAt=sent_at)
    [event] = _stored(api)
    received = _parse(event["receivedAt"])
    expected = received - (_parse(sent_at) - _parse(timestamp))
    assert _parse(event["timestamp"]) == expected
    assert _parse(event["originalTimestamp"]) == _parse(timestamp)
    assert _parse(event["sentAt"]) == _parse(sent_at)
    assert "clamped" not in event or event["clamped"] is False


def test_message_sent_at_overrides_batch(api):
    api.send(
        [
            _track(
                "skew-2",
                timestamp="2020-01-01T00:00:00Z",
                sentAt="2020-01-01T00:01:00Z",
            )
        ],
        sentAt="2020-01-01T00:05:00Z",
    )
    [event] = _stored(api)
    received = _parse(event["receivedAt"])
    assert _parse(event["timestamp"]) == received - dt.timedelta(minutes=1)


def test_timestamp_without_sent_at_kept(api):
    api.send([_track("noskew-1", timestamp="2024-05-01T12:00:00.123456+02:00")])
    [event] = _stored(api)
    assert event["timestamp"] == "2024-05-01T10:00:00.123456Z"


def test_future_timestamp_clamped_and_flagged(api):
    future = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=3)
    api.send([_track("future-1", timestamp=future.isoformat())])
    [event] = _stored(api)
    assert event["clamped"] is True
    assert event["timestamp"] == event["receivedAt"]
    assert _parse(event["originalTimestamp"]) == future


def test_near_future_timestamp_not_clamped(api):
    soon = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=23)
    api.send([_track("soon-1", timestamp=soon.isoformat())])
    [event] = _stored(api)
    assert event.get("clamped", False) is False
    assert _parse(event["timestamp"]) == soon


def _timestamp_error(api, timestamp: str, sent_at: str) -> str:
    answer = api.send([_track("edge-1", timestamp=timestamp, sentAt=sent_at)])
    assert answer["accepted"] == 0
    return answer["rejected"][0]["errors"]["timestamp"][0]


def test_corrected_time_far_future_out_of_range(api):
    error = _timestamp_error(api, "9999-12-31T00:00:00Z", "0001-01-01T00:00:00Z")

    assert "out of range" in error
    assert "1970" not in error


def test_corrected_time_far_past_before_1970(api):
    error = _timestamp_error(api, "0001-01-01T00:00:00Z", "9999-12-31T00:00:00Z")

    assert "at or after 1970-01-01T00:00:00Z" in error


def test_corrected_time_at_1970_accepted(api):
    api.send([_track("epoch-1", timestamp="1970-01-01T00:00:00Z")])

    [event] = _stored(api)
    assert event["timestamp"] == "1970-01-01T00:00:00Z"


def test_corrected_time_before_1970_named(api):
    answer = api.send([_track("pre-1", timestamp="1969-12-31T23:59:59Z")])

    error = answer["rejected"][0]["errors"]["timestamp"][0]
    assert "at or after 1970-01-01T00:00:00Z" in error


def test_batch_context_merged_shallow(api):
    batch_context = {
        "library": {"name": "batch-lib", "version": "1.0"},
        "app": {"name": "Pug Docs"},
        "ip": "127.0.0.1",
    }
    api.send(
        [
            _track("ctx-1", context={"library": {"name": "own-lib"}, "locale": "de"}),
            _track("ctx-2"),
        ],
        context=batch_context,
    )
    events = {event["messageId"]: event for event in _stored(api)}
    own = events["ctx-1"]["context"]
    assert own["library"] == {"name": "own-lib"}
    assert own["app"] == {"name": "Pug Docs"}
    assert own["locale"] == "de"
    assert own["ip"] == "127.0.0.1"
    assert events["ctx-2"]["context"] == batch_context


@pytest.mark.parametrize(
    ("kind", "message", "field", "value"),
    [
        ("track", {"userId": "u-9", "event": "Clicked"}, "event", "Clicked"),
        (
            "identify",
            {"userId": "u-9", "traits": {"plan": "pro"}},
            "traits",
            {"plan": "pro"},
        ),
        ("group", {"userId": "u-9", "groupId": "t-1"}, "groupId", "t-1"),
        ("alias", {"userId": "u-9", "previousId": "anon-9"}, "previousId", "anon-9"),
        ("page", {"userId": "u-9", "name": "Pricing"}, "name", "Pricing"),
        ("screen", {"userId": "u-9", "name": "Home"}, "name", "Home"),
    ],
)
def test_single_call_endpoint_stores(api, kind, message, field, value):
    response = api.session.post(
        f"{api.server.url}/v1/{kind}",
        json={**message, "messageId": f"single-{kind}"},
        auth=(api.project.write_key, ""),
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1
    [event] = _stored(api)
    assert event["type"] == kind
    assert event[field] == value


def test_single_call_path_sets_type(api):
    response = api.session.post(
        f"{api.server.url}/v1/track",
        json={"type": "identify", "userId": "u-1", "event": "Opened"},
        auth=(api.project.write_key, ""),
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert _stored(api)[0]["type"] == "track"


def test_rejected_messages_listed_with_reason(api):
    api.send([_track("ok-1"), {"type": "track", "userId": "u-1", "messageId": "bad-1"}])
    response = api.get("/v1/rejected")
    assert response.status_code == 200
    [row] = response.json()["rejected"]
    assert row["messageId"] == "bad-1"
    assert row["index"] == 1
    assert "event" in row["errors"]
    assert json.loads(row["raw"])["messageId"] == "bad-1"


def test_events_filter_by_name_and_id(api):
    api.send(
        [
            _track("f-1", event="Signed Up"),
            _track("f-2", event="Logged In"),
            _track("f-3", event="Logged In"),
        ]
    )
    by_name = _stored(api, event="Logged In")
    by_id = _stored(api, message_id="f-1")
    assert [event["messageId"] for event in by_name] == ["f-3", "f-2"]
    assert [event["messageId"] for event in by_id] == ["f-1"]


def test_events_paged_newest_first(api):
    api.send([_track(f"p-{i}") for i in range(5)])
    first = api.get("/v1/events", limit=2).json()
    second = api.get("/v1/events", limit=2, cursor=first["next"]).json()
    third = api.get("/v1/events", limit=2, cursor=second["next"]).json()
    assert [e["messageId"] for e in first["events"]] == ["p-4", "p-3"]
    assert [e["messageId"] for e in second["events"]] == ["p-2", "p-1"]
    assert [e["messageId"] for e in third["events"]] == ["p-0"]
    assert third["next"] is None


def test_events_bad_limit_400(api):
    response = api.get("/v1/events", limit=0)
    assert response.status_code == 400
    assert "limit" in response.json()["error"]["message"]


def test_events_of_other_project_hidden(api, live_server):
    from tests.helpers.live import Api, create_project

    other = Api(live_server, create_project(live_server.database_url))
    other.send([_track("other-1")])
    api.send([_track("mine-1")])
    assert [event["messageId"] for event in _stored(api)] == ["mine-1"]
    other.session.close()


def test_same_message_id_other_project_stored(api, live_server):
    from tests.helpers.live import Api, create_project

    other = Api(live_server, create_project(live_server.database_url))
    assert other.send([_track("shared-1")])["accepted"] == 1
    assert api.send([_track("shared-1")])["accepted"] == 1
    other.session.close()


def test_group_call_names_its_group(api):
    api.send(
        [
            {
                "type": "group",
                "userId": "u-1",
                "groupId": "t-1",
                "groupType": "team",
                "messageId": "g-1",
            },
            _track("g-2", context={"groupId": "acme", "groups": {"team": "t-2"}}),
        ]
    )
    events = {event["messageId"]: event for event in _stored(api)}
    assert events["g-1"]["groups"] == {"team": "t-1"}
    assert events["g-2"]["groups"] == {"group": "acme", "team": "t-2"}
