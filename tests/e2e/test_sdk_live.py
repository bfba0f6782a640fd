"""The pug SDK against a live server: send, flush, read everything back."""

from __future__ import annotations

import datetime as dt
import importlib.util
import uuid
from pathlib import Path

import pytest

import pug

FLUSH_TIMEOUT_SECONDS = 30
BASE_TIME = dt.datetime(2024, 6, 3, 9, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
def sdk(api):
    """A pug client for the test's project, closed after the test."""
    client = pug.Client(
        api.project.write_key,
        host=api.server.url,
        flush_interval=0.05,
        strict=True,
        flush_on_exit=False,
    )
    yield client
    client.close(timeout=FLUSH_TIMEOUT_SECONDS)


def _at(minutes: int) -> dt.datetime:
    return BASE_TIME + dt.timedelta(minutes=minutes)


def test_sdk_calls_read_back(api, sdk):
    prefix = uuid.uuid4().hex[:8]
    user = f"{prefix}-user"
    anonymous = f"{prefix}-anon"
    team = f"{prefix}-team"

    assert sdk.track(anonymous_id=anonymous, event="Pricing Viewed", timestamp=_at(0))
    assert sdk.identify(
        user, {"email": f"{user}@example.com"}, anonymous_id=anonymous, timestamp=_at(1)
    )
    assert sdk.group(
        user, team, {"name": "Pugs", "plan": "pro"}, group_type="team", timestamp=_at(2)
    )
    assert sdk.track(
        user,
        "Document Edited",
        {"words": 120},
        groups={"team": team},
        timestamp=_at(3),
        message_id=f"{prefix}-edit",
    )
    assert sdk.alias(f"{prefix}-legacy", user, timestamp=_at(4))
    assert sdk.flush(timeout=FLUSH_TIMEOUT_SECONDS) is True

    events = api.get("/v1/events", limit=50).json()["events"]
    assert sorted(event["type"] for event in events) == [
        "alias",
        "group",
        "identify",
        "track",
        "track",
    ]
    edit = api.get("/v1/events", message_id=f"{prefix}-edit").json()["events"][0]
    assert edit["event"] == "Document Edited"
    assert edit["userId"] == user
    assert edit["properties"] == {"words": 120}
    assert edit["groups"] == {"team": team}
    assert edit["originalTimestamp"] == "2024-06-03T09:03:00Z"
    # The stored time is corrected for clock skew, which also adds the
    # delay between the client's sentAt and the server's receivedAt.
    stored = dt.datetime.fromisoformat(edit["timestamp"].replace("Z", "+00:00"))
    assert dt.timedelta(0) <= stored - _at(3) < dt.timedelta(seconds=10)
    assert edit["context"]["library"]["name"] == "pug-python"

    person = api.get(f"/v1/persons/{anonymous}")
    assert person.status_code == 200, person.text
    profile = person.json()
    assert sorted(profile["distinct_ids"]) == sorted(
        [anonymous, user, f"{prefix}-legacy"]
    )
    assert profile["traits"]["email"] == f"{user}@example.com"
    assert team in str(profile["groups"])

    group = api.get(f"/v1/groups/team/{team}")
    assert group.status_code == 200, group.text
    assert group.json()["traits"] == {"name": "Pugs", "plan": "pro"}
    assert len(group.json()["members"]) == 1


def test_sdk_stats_count_delivery(api, sdk):
    prefix = uuid.uuid4().hex[:8]
    for number in range(25):
        sdk.track(
            f"{prefix}-user", "Document Edited", {"n": number}, timestamp=_at(number)
        )

    assert sdk.flush(timeout=FLUSH_TIMEOUT_SECONDS) is True

    stats = sdk.stats()
    assert stats["sent"] == 25
    assert stats["rejected"] == 0
    assert sum(stats["dropped"].values()) == 0
    events = api.get("/v1/events", event="Document Edited", limit=100).json()["events"]
    assert len(events) == 25


def test_sdk_resend_stores_once(api, sdk):
    prefix = uuid.uuid4().hex[:8]
    for _ in range(3):
        sdk.track(
            f"{prefix}-user", "Signed Up", message_id=f"{prefix}-once", timestamp=_at(0)
        )

    assert sdk.flush(timeout=FLUSH_TIMEOUT_SECONDS) is True

    events = api.get("/v1/events", message_id=f"{prefix}-once").json()["events"]
    assert len(events) == 1


def test_sdk_metric_counts_merged_person(api, sdk):
    prefix = uuid.uuid4().hex[:8]
    anonymous = f"{prefix}-anon"
    user = f"{prefix}-user"
    # Two events before identification and one after: one person.
    sdk.track(anonymous_id=anonymous, event="Document Edited", timestamp=_at(0))
    sdk.track(anonymous_id=anonymous, event="Document Edited", timestamp=_at(1))
    sdk.identify(user, anonymous_id=anonymous, timestamp=_at(2))
    sdk.track(user, "Document Edited", timestamp=_at(3))
    assert sdk.flush(timeout=FLUSH_TIMEOUT_SECONDS) is True

    response = api.post(
        "/v1/query",
        {
            "measure": {"type": "unique_persons", "event": "Document Edited"},
            "period": "day",
            "at": BASE_TIME.date().isoformat(),
        },
    )

    assert response.status_code == 200, response.text
    assert response.json()["current"]["value"] == 1


def _load_flask_example():
    path = Path(__file__).resolve().parents[2] / "examples" / "flask_app.py"
    spec = importlib.util.spec_from_file_location("flask_app_example", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_flask_example_sends_events(api, sdk):
    app = _load_flask_example().create_app(analytics=sdk)
    browser = app.test_client()
    prefix = uuid.uuid4().hex[:8]
    user = f"{prefix}-ada"
    team = f"{prefix}-team"

    assert browser.get("/").status_code == 200
    assert browser.post("/login", data={"user": user, "team": team}).status_code == 200
    edit = browser.post("/documents/7/edit", data={"words": "120"})
    assert edit.status_code == 200
    assert browser.post("/documents/7/edit", data={"words": "many"}).status_code == 400
    assert sdk.flush(timeout=FLUSH_TIMEOUT_SECONDS) is True

    names = sorted(
        event.get("event") or event["type"]
        for event in api.get("/v1/events", limit=50).json()["events"]
    )
    assert names == ["Document Edited", "Logged In", "Page Viewed", "group", "identify"]
    edited = api.get("/v1/events", event="Document Edited").json()["events"][0]
    assert edited["groups"] == {"team": team}
    assert edited["properties"] == {"document_id": "7", "words": 120}
    person = api.get(f"/v1/persons/{user}").json()
    assert len(person["distinct_ids"]) == 2
