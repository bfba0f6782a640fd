"""Message ids, timestamps and the JSON encoding of messages."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import re
import uuid
from decimal import Decimal

import pytest

import pug
from pug import _wire

UTC = dt.timezone.utc


class Plan(enum.Enum):
    PRO = "pro"


@dataclasses.dataclass
class Seat:
    number: int
    tags: frozenset[str]


def test_message_id_is_uuid4():
    value = uuid.UUID(_wire.new_message_id())
    assert value.version == 4
    assert value.variant == uuid.RFC_4122


def test_message_id_is_hyphenated():
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
        _wire.new_message_id(),
    )


def test_message_ids_differ():
    ids = {_wire.new_message_id() for _ in range(10_000)}
    assert len(ids) == 10_000


def test_now_iso_is_utc_with_milliseconds():
    text = _wire.now_iso()
    parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", text)
    assert abs(parsed - dt.datetime.now(UTC)) < dt.timedelta(seconds=2)


def test_naive_datetime_is_taken_as_utc():
    assert _wire.format_datetime(dt.datetime(2024, 5, 1, 12, 0, 0, 123456)) == (
        "2024-05-01T12:00:00.123Z"
    )


def test_aware_datetime_is_converted_to_utc():
    paris = dt.timezone(dt.timedelta(hours=2))
    value = dt.datetime(2024, 5, 1, 14, 30, tzinfo=paris)
    assert _wire.format_datetime(value) == "2024-05-01T12:30:00.000Z"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (dt.datetime(2024, 1, 2, 3, 4, 5), "2024-01-02T03:04:05.000Z"),
        (dt.date(2024, 1, 2), "2024-01-02"),
        (dt.time(3, 4, 5), "03:04:05"),
        (Decimal("12.50"), 12.5),
        (
            uuid.UUID("12345678-1234-4234-8234-123456789abc"),
            "12345678-1234-4234-8234-123456789abc",
        ),
        (Plan.PRO, "pro"),
        ({3, 1, 2}, [1, 2, 3]),
        (frozenset({"b", "a"}), ["a", "b"]),
        ((1, "two"), [1, "two"]),
        (Seat(7, frozenset({"x"})), {"number": 7, "tags": ["x"]}),
        ({"nested": {"when": dt.date(2024, 1, 2)}}, {"nested": {"when": "2024-01-02"}}),
    ],
)
def test_encode_converts_documented_types(value, expected):
    assert json.loads(_wire.encode({"value": value})) == {"value": expected}


def test_encode_keeps_mixed_set_unsorted():
    assert sorted(json.loads(_wire.encode({"v": {1, "a"}}))["v"], key=str) == [1, "a"]


@pytest.mark.parametrize(
    ("properties", "error", "message"),
    [
        (
            {"price": float("nan")},
            ValueError,
            r"^properties\.price: float nan is not allowed",
        ),
        (
            {"price": float("inf")},
            ValueError,
            r"^properties\.price: float inf is not allowed",
        ),
        (
            {"a": {"b": [1, -float("inf")]}},
            ValueError,
            r"^properties\.a\.b\[1\]: float -inf",
        ),
        (
            {"price": Decimal("NaN")},
            ValueError,
            r"^properties\.price: Decimal NaN is not allowed",
        ),
        (
            {"blob": object()},
            TypeError,
            r"^properties\.blob: object of type object is not JSON",
        ),
        ({"raw": b"bytes"}, TypeError, r"^properties\.raw: object of type bytes"),
        (
            {(1, 2): "x"},
            TypeError,
            r"^properties\.\(1, 2\): key of type tuple is not allowed",
        ),
    ],
)
def test_encode_rejects_value_naming_key(properties, error, message):
    with pytest.raises(error, match=message):
        _wire.track_fields("Event", properties)


def test_encode_rejects_value_containing_itself():
    looped: dict = {}
    looped["self"] = looped
    with pytest.raises(ValueError, match=r"^properties"):
        _wire.track_fields("Event", looped)


def test_encode_output_is_ascii():
    encoded = _wire.encode({"name": "Zoë 🐶"})
    assert encoded.isascii()
    assert json.loads(encoded) == {"name": "Zoë 🐶"}


def wire_message(kind_call):
    """Run a call on a send=False client and return the message it built."""
    captured = []
    client = pug.Client("write-key", send=False, flush_on_exit=False, strict=True)
    original = client._submit

    def submit(encoded):
        captured.append(json.loads(encoded))
        return original(encoded)

    client._submit = submit  # type: ignore[method-assign]
    assert kind_call(client) is True
    return captured[0]


def test_track_message_fields():
    message = wire_message(
        lambda c: c.track(
            "u-1",
            "Signed Up",
            {"plan": "pro"},
            anonymous_id="a-1",
            message_id="m-1",
            timestamp=dt.datetime(2024, 5, 1),
        )
    )
    assert message == {
        "type": "track",
        "messageId": "m-1",
        "timestamp": "2024-05-01T00:00:00.000Z",
        "userId": "u-1",
        "anonymousId": "a-1",
        "event": "Signed Up",
        "properties": {"plan": "pro"},
        "context": {"library": {"name": "pug-python", "version": pug.__version__}},
    }


def test_track_group_goes_to_context():
    message = wire_message(
        lambda c: c.track(
            "u-1",
            "Edited",
            group_id="t-1",
            groups={"team": "t-1", "company": "c-9"},
            context={"ip": "10.0.0.1"},
        )
    )
    assert message["context"] == {
        "ip": "10.0.0.1",
        "groupId": "t-1",
        "groups": {"team": "t-1", "company": "c-9"},
        "library": {"name": "pug-python", "version": pug.__version__},
    }


def test_track_context_cannot_replace_library():
    message = wire_message(
        lambda c: c.track("u-1", "Edited", context={"library": {"name": "other"}})
    )
    assert message["context"]["library"]["name"] == "pug-python"


def test_identify_set_once_goes_to_traits():
    message = wire_message(
        lambda c: c.identify(
            "u-1", {"plan": "pro"}, set_once={"first_seen": "2024-01-01"}
        )
    )
    assert message["traits"] == {
        "plan": "pro",
        "$set_once": {"first_seen": "2024-01-01"},
    }


def test_identify_without_traits_sends_empty():
    message = wire_message(lambda c: c.identify("u-1"))
    assert message["traits"] == {}


def test_group_message_fields():
    message = wire_message(
        lambda c: c.group("u-1", "t-1", {"name": "Core"}, group_type="team")
    )
    assert {k: message[k] for k in ("type", "groupId", "groupType", "traits")} == {
        "type": "group",
        "groupId": "t-1",
        "groupType": "team",
        "traits": {"name": "Core"},
    }


def test_group_without_type_omits_group_type():
    message = wire_message(lambda c: c.group("u-1", "t-1"))
    assert "groupType" not in message


def test_alias_message_fields():
    message = wire_message(lambda c: c.alias("anon-1", "u-1"))
    assert (message["type"], message["previousId"], message["userId"]) == (
        "alias",
        "anon-1",
        "u-1",
    )


def test_page_follows_segment_argument_order():
    message = wire_message(lambda c: c.page("u-1", "Docs", "Install", {"url": "/docs"}))
    assert {k: message[k] for k in ("type", "category", "name", "properties")} == {
        "type": "page",
        "category": "Docs",
        "name": "Install",
        "properties": {"url": "/docs"},
    }


def test_screen_message_fields():
    message = wire_message(lambda c: c.screen(anonymous_id="a-1", name="Home"))
    assert {k: message.get(k) for k in ("type", "name", "anonymousId", "category")} == {
        "type": "screen",
        "name": "Home",
        "anonymousId": "a-1",
        "category": None,
    }


def test_integer_and_uuid_ids_become_strings():
    user = uuid.UUID("12345678-1234-4234-8234-123456789abc")
    message = wire_message(lambda c: c.track(42, "Edited", anonymous_id=user))
    assert (message["userId"], message["anonymousId"]) == ("42", str(user))


def test_integrations_are_sent():
    message = wire_message(lambda c: c.track("u", "E", integrations={"All": False}))
    assert message["integrations"] == {"All": False}


def test_batch_body_frames_messages():
    body = _wire.batch_body(['{"a":1}', '{"b":2}'], "2024-05-01T00:00:00.000Z")
    assert json.loads(body) == {
        "batch": [{"a": 1}, {"b": 2}],
        "sentAt": "2024-05-01T00:00:00.000Z",
    }
