"""The unmodified Segment Python library delivers every call to a live Pug server."""

from __future__ import annotations

import pytest
import segment.analytics as analytics


@pytest.fixture
def segment_client(api):
    errors: list[Exception] = []
    client = analytics.Client(
        api.project.write_key,
        host=api.server.url,
        sync_mode=True,
        on_error=lambda error, batch: errors.append(error),
        max_retries=1,
    )
    yield client
    # In sync_mode every call is posted before it returns and the library
    # starts no consumer threads, so there is nothing to shut down (its
    # shutdown() fails on the missing consumer list).
    assert errors == []


def _by_type(api) -> dict[str, dict]:
    response = api.get("/v1/events")
    assert response.status_code == 200, response.text
    return {event["type"]: event for event in response.json()["events"]}


def test_segment_calls_all_stored(api, segment_client):
    segment_client.track(
        "u-1", "Document Edited", {"words": 120}, anonymous_id="anon-1"
    )
    segment_client.identify("u-1", {"plan": "pro"}, anonymous_id="anon-1")
    segment_client.group("u-1", "t-1", {"name": "Docs Team"})
    segment_client.alias("anon-2", "u-1")
    segment_client.page("u-1", "Docs", "Pricing", {"path": "/pricing"})
    events = _by_type(api)
    assert sorted(events) == ["alias", "group", "identify", "page", "track"]
    assert events["track"]["event"] == "Document Edited"
    assert events["track"]["properties"] == {"words": 120}
    assert events["track"]["anonymousId"] == "anon-1"
    assert events["identify"]["traits"] == {"plan": "pro"}
    assert events["group"]["groupId"] == "t-1"
    assert events["group"]["traits"] == {"name": "Docs Team"}
    assert events["alias"]["previousId"] == "anon-2"
    assert events["alias"]["userId"] == "u-1"
    assert events["page"]["name"] == "Pricing"
    assert events["page"]["properties"]["path"] == "/pricing"


def test_segment_fields_and_context_kept(api, segment_client):
    segment_client.track("u-2", "Signed Up", message_id="seg-msg-1")
    [event] = api.get("/v1/events", message_id="seg-msg-1").json()["events"]
    assert event["userId"] == "u-2"
    assert event["context"]["library"]["name"] == "analytics-python"
    assert event["sentAt"]
    assert event["originalTimestamp"]


def test_segment_retry_counts_duplicate(api, segment_client):
    segment_client.track("u-3", "Clicked", message_id="seg-dup-1")
    segment_client.track("u-3", "Clicked", message_id="seg-dup-1")
    events = api.get("/v1/events", message_id="seg-dup-1").json()["events"]
    assert len(events) == 1
