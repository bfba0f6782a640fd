"""Client calls: argument checks, drops, stats and the default client."""

from __future__ import annotations

import datetime as dt
import logging
import types

import pytest

import pug


class ErrorLog:
    """An on_error callback that records what it is given."""

    def __init__(self):
        self.calls = []

    def __call__(self, error, messages):
        self.calls.append((error, messages))


INVALID_CALLS = [
    ("track", (None, "Edited"), {}, ValueError, r"user_id or anonymous_id is required"),
    ("track", ("u-1", None), {}, ValueError, r"event is required"),
    ("track", ("u-1", ""), {}, ValueError, r"event is required"),
    ("track", ("u-1", 5), {}, TypeError, r"event must be a str, got int"),
    ("track", ("u-1", "E", ["a"]), {}, TypeError, r"properties must be a mapping"),
    ("track", ("u-1", "E"), {"context": "x"}, TypeError, r"context must be a mapping"),
    ("track", ("u-1", "E"), {"groups": ["t"]}, TypeError, r"groups must be a mapping"),
    (
        "track",
        ("u-1", "E"),
        {"timestamp": "2024-01-01"},
        TypeError,
        r"timestamp must be a datetime",
    ),
    (
        "track",
        (1.5, "E"),
        {},
        TypeError,
        r"user_id must be a str, int or UUID, got float",
    ),
    ("track", ("u-1", "E", {"x": float("nan")}), {}, ValueError, r"properties\.x"),
    ("identify", ("u-1", "traits"), {}, TypeError, r"traits must be a mapping"),
    ("identify", ("u-1",), {"set_once": 3}, TypeError, r"set_once must be a mapping"),
    ("identify", (), {}, ValueError, r"user_id or anonymous_id is required"),
    ("group", ("u-1", None), {}, ValueError, r"group_id is required"),
    ("group", ("u-1", "g-1", 3), {}, TypeError, r"traits must be a mapping"),
    (
        "group",
        ("u-1", "g-1"),
        {"group_type": 7},
        TypeError,
        r"group_type must be a str",
    ),
    ("alias", (None, "u-1"), {}, ValueError, r"previous_id is required"),
    ("alias", ("a-1", None), {}, ValueError, r"user_id is required"),
    ("page", ("u-1", 3), {}, TypeError, r"category must be a str or None, got int"),
    (
        "screen",
        ("u-1", None, None, "p"),
        {},
        TypeError,
        r"properties must be a mapping",
    ),
]


def nested(levels):
    """Return a dict whose objects nest ``levels`` deep (``{}`` is one level)."""
    value = {}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


def nested_list(levels):
    """Return a list whose arrays nest ``levels`` deep (``[]`` is one level)."""
    value = []
    for _ in range(levels - 1):
        value = [value]
    return value


LONG = "x" * 201

# Values the server rejects: ids and names over 200 characters, nesting
# deeper than 32 levels counting the message as level 1, and NUL.
LIMIT_CALLS = [
    ("track", (LONG, "E"), {}, ValueError, r"user_id is 201 characters.*200"),
    ("track", (10**201, "E"), {}, ValueError, r"user_id is 202 characters.*200"),
    (
        "track",
        (None, "E"),
        {"anonymous_id": LONG},
        ValueError,
        r"anonymous_id is 201 characters.*200",
    ),
    ("track", ("u-1", "E"), {"group_id": LONG}, ValueError, r"group_id is 201.*200"),
    (
        "track",
        ("u-1", "E"),
        {"message_id": LONG},
        ValueError,
        r"message_id is 201 characters.*200",
    ),
    ("track", ("u-1", LONG), {}, ValueError, r"event is 201 characters.*200"),
    ("group", ("u-1", LONG), {}, ValueError, r"group_id is 201 characters.*200"),
    (
        "group",
        ("u-1", "g-1"),
        {"group_type": "a team"},
        ValueError,
        r"group_type .* 1 to 100 letters",
    ),
    ("alias", (LONG, "u-1"), {}, ValueError, r"previous_id is 201 characters.*200"),
    ("alias", ("a-1", LONG), {}, ValueError, r"user_id is 201 characters.*200"),
    ("page", ("u-1", None, LONG), {}, ValueError, r"name is 201 characters.*200"),
    ("screen", ("u-1", LONG), {}, ValueError, r"category is 201 characters.*200"),
    (
        "track",
        ("u-1", "E", nested(32)),
        {},
        ValueError,
        r"properties(\.a)+: .*more than 32 levels",
    ),
    (
        "track",
        ("u-1", "E"),
        {"context": {"app": [[nested(30)]]}},
        ValueError,
        r"context\.app\[0\]\[0\](\.a)*: .*more than 32 levels",
    ),
    (
        "track",
        ("u-1", "E", {"x": nested_list(31)}),
        {},
        ValueError,
        r"properties\.x(\[0\])+: .*more than 32 levels",
    ),
    (
        "identify",
        ("u-1", nested(32)),
        {},
        ValueError,
        r"traits(\.a)+: .*more than 32 levels",
    ),
    ("track", ("u-1", "E", {"x": "a\0b"}), {}, ValueError, r"properties\.x: .*NUL"),
    (
        "track",
        ("u-1", "E", {"x": {"k\0": 1}}),
        {},
        ValueError,
        r"properties\.x: key 'k\\u0000' .*NUL",
    ),
    ("track", ("u\0", "E"), {}, ValueError, r"user_id: .*NUL"),
    ("track", ("u-1", "E\0"), {}, ValueError, r"event: .*NUL"),
    ("group", ("u-1", "g\0"), {}, ValueError, r"group_id: .*NUL"),
    ("alias", ("a\0", "u-1"), {}, ValueError, r"previous_id: .*NUL"),
    (
        "track",
        ("u-1", "E"),
        {"groups": {"team": "t\0"}},
        ValueError,
        r"context\.groups\.team: .*NUL",
    ),
]

INVALID_CALLS += LIMIT_CALLS


@pytest.mark.parametrize(
    ("method", "args", "kwargs", "error", "message"), INVALID_CALLS
)
def test_strict_call_raises_naming_argument(method, args, kwargs, error, message):
    client = pug.Client("write-key", send=False, strict=True, flush_on_exit=False)
    with pytest.raises(error, match=message):
        getattr(client, method)(*args, **kwargs)


@pytest.mark.parametrize(
    ("method", "args", "kwargs", "error", "message"), INVALID_CALLS
)
def test_lenient_call_returns_false(method, args, kwargs, error, message):
    errors = ErrorLog()
    client = pug.Client("write-key", send=False, on_error=errors, flush_on_exit=False)
    assert getattr(client, method)(*args, **kwargs) is False
    assert client.stats()["dropped"] == {"invalid": 1}
    assert isinstance(errors.calls[0][0], error)
    assert errors.calls[0][1] == []


ACCEPTED_AT_LIMITS = [
    ("track", ("x" * 200, "x" * 200), {"group_id": "x" * 200}),
    ("track", (10**199, "E"), {"message_id": "x" * 200}),
    ("track", (None, "E"), {"anonymous_id": "x" * 200}),
    ("track", ("u-1", "E", nested(31)), {}),
    ("track", ("u-1", "E"), {"context": {"app": nested(30)}}),
    ("track", ("u-1", "E", {"x": [[nested(28)]]}), {}),
    ("track", ("u-1", "E", {"x": nested_list(30)}), {}),
    ("identify", ("u-1", {"x": nested(30)}), {}),
    ("group", ("u-1", "x" * 200), {"group_type": "team.core-1_a" * 7}),
    ("alias", ("x" * 200, "x" * 200), {}),
    ("page", ("u-1", "x" * 200, "x" * 200), {}),
    # A backslash followed by "u0000" is ordinary text, not a NUL.
    ("track", ("u-1", "E", {"x": "\\u0000", "\\u0000": 1}), {}),
    ("track", ("u-1", "E", {"x": "{[" * 40}), {}),
]


@pytest.mark.parametrize(("method", "args", "kwargs"), ACCEPTED_AT_LIMITS)
def test_strict_call_accepts_values_at_limits(method, args, kwargs):
    client = pug.Client("write-key", send=False, strict=True, flush_on_exit=False)
    assert getattr(client, method)(*args, **kwargs) is True


COLLIDING_KEYS = [
    ("track", ("u-1", "E", {1: "a", "1": "b"}), {}, r"properties\.1: keys 1 and \'1\'"),
    (
        "track",
        ("u-1", "E", {"meta": [{"true": 1, True: 2}]}),
        {},
        r'properties\.meta\[0\]\.true: keys .* sent as the JSON key "true"',
    ),
    ("track", ("u-1", "E", {"x": {None: 1, "null": 2}}), {}, r"properties\.x\.null"),
    ("track", ("u-1", "E", {"x": {1.5: 1, "1.5": 2}}), {}, r"properties\.x\.1\.5"),
    ("track", ("u-1", "E"), {"context": {"app": {2: 1, "2": 2}}}, r"context\.app\.2"),
    ("track", ("u-1", "E"), {"groups": {7: "t-1", "7": "t-2"}}, r"context\.groups\.7"),
    ("track", ("u-1", "E"), {"integrations": {0: 1, "0": 2}}, r"integrations\.0"),
    ("identify", ("u-1", {3: 1, "3": 2}), {}, r"traits\.3"),
    ("identify", ("u-1",), {"set_once": {4: 1, "4": 2}}, r"traits\.\$set_once\.4"),
    ("group", ("u-1", "g-1", {5: 1, "5": 2}), {}, r"traits\.5"),
    ("page", ("u-1", None, "Home", {6: 1, "6": 2}), {}, r"properties\.6"),
    (
        "track",
        ("u-1", "E", {"x": types.MappingProxyType({8: 1, "8": 2})}),
        {},
        r"properties\.x\.8",
    ),
]


@pytest.mark.parametrize(("method", "args", "kwargs", "message"), COLLIDING_KEYS)
def test_strict_call_rejects_colliding_keys(method, args, kwargs, message):
    client = pug.Client("write-key", send=False, strict=True, flush_on_exit=False)
    with pytest.raises(ValueError, match=message):
        getattr(client, method)(*args, **kwargs)


def test_strict_call_accepts_distinct_keys():
    client = pug.Client("write-key", send=False, strict=True, flush_on_exit=False)
    properties = {1: "a", 2.5: "b", False: "c", None: "d", "x": {"1.0": 1, 1: 2}}
    assert client.track("u-1", "E", properties) is True


def test_lenient_call_sends_colliding_keys(make_client, server):
    client = make_client(server.url)
    assert client.track("u-1", "E", {1: "a", "1": "b"}) is True
    assert client.flush(5) is True
    assert b'"properties":{"1":"a","1":"b"}' in server.requests[0].body


def test_invalid_call_logs_warning(caplog):
    client = pug.Client("write-key", send=False, flush_on_exit=False)
    with caplog.at_level(logging.WARNING, logger="pug"):
        client.track("u-1", None)
    assert "dropped invalid track call: event is required" in caplog.text


def test_on_error_exception_is_contained(caplog):
    def broken(error, messages):
        raise RuntimeError("callback bug")

    client = pug.Client("write-key", send=False, on_error=broken, flush_on_exit=False)
    with caplog.at_level(logging.ERROR, logger="pug"):
        assert client.track(None, "E") is False
    assert "on_error callback raised" in caplog.text


def test_oversize_message_dropped_at_call(make_client):
    errors = ErrorLog()
    client = make_client(max_message_bytes=500, on_error=errors)
    assert client.track("u-1", "E", {"blob": "x" * 600}) is False
    assert client.stats()["dropped"] == {"oversize": 1}
    assert errors.calls[0][0].reason == "oversize"
    assert "over max_message_bytes=500" in str(errors.calls[0][0])
    assert errors.calls[0][1][0]["properties"]["blob"] == "x" * 600


def test_oversize_message_never_raises_strict(make_client):
    client = make_client(max_message_bytes=500, strict=True)
    assert client.track("u-1", "E", {"blob": "x" * 600}) is False


def test_queue_full_drops_new_messages(server, make_client, caplog):
    server.respond_with(200, delay=0.5)
    client = make_client(server.url, max_queue_size=3, flush_at=1)
    client.track("u", "first")
    assert server.wait_for_requests(1)
    with caplog.at_level(logging.WARNING, logger="pug"):
        results = [client.track("u", f"e{i}") for i in range(10)]
    assert results == [True] * 3 + [False] * 7
    assert client.stats()["dropped"] == {"queue_full": 7}
    assert caplog.text.count("reason=queue_full") == 1
    assert client.flush(5) is True
    assert [m["event"] for m in server.messages()] == ["first", "e0", "e1", "e2"]


def test_queue_full_warning_carries_count(make_client, caplog):
    client = make_client(max_queue_size=1, flush_at=100, flush_interval=60)
    client.track("u", "kept")
    with caplog.at_level(logging.WARNING, logger="pug"):
        client.track("u", "lost")
    assert "(count=1)" in caplog.text
    client.close(0.1)


def test_caller_dict_changes_do_not_reach_wire(server, make_client):
    client = make_client(server.url)
    properties = {"plan": "free", "tags": ["a"]}
    client.track("u-1", "E", properties)
    properties["plan"] = "pro"
    properties["tags"].append("b")
    assert client.flush(5) is True
    assert server.messages()[0]["properties"] == {"plan": "free", "tags": ["a"]}


def test_send_false_delivers_nothing(server):
    client = pug.Client("write-key", server.url, send=False, flush_on_exit=False)
    assert client.track("u-1", "E") is True
    assert client.flush() is True
    assert client.stats()["queued"] == 1
    assert server.requests == []


def test_closed_client_drops_calls(make_client):
    client = make_client()
    client.close(1)
    assert client.track("u-1", "E") is False
    assert client.stats()["dropped"] == {"closed": 1}


def test_stats_has_documented_keys(make_client):
    client = make_client()
    assert set(client.stats()) == {
        "queued",
        "pending",
        "sent",
        "retried",
        "rejected",
        "dropped",
    }


def test_stats_counts_sent_messages(server, make_client):
    client = make_client(server.url)
    for index in range(5):
        client.track("u-1", "E", {"i": index})
    assert client.flush(5) is True
    stats = client.stats()
    assert (stats["queued"], stats["sent"], stats["pending"]) == (5, 5, 0)


def test_timestamp_given_is_kept(server, make_client):
    client = make_client(server.url)
    client.track("u-1", "E", timestamp=dt.datetime(2020, 1, 2, 3, 4, 5))
    assert client.flush(5) is True
    assert server.messages()[0]["timestamp"] == "2020-01-02T03:04:05.000Z"


def test_sync_mode_sends_in_calling_thread(server):
    client = pug.Client("write-key", server.url, sync_mode=True, flush_on_exit=False)
    assert client.track("u-1", "E") is True
    assert len(server.requests) == 1
    assert client.stats()["sent"] == 1


def test_sync_mode_failure_goes_to_on_error(server):
    errors = ErrorLog()
    server.respond_with(
        401, {"error": {"code": "invalid_write_key", "message": "bad key"}}
    )
    client = pug.Client(
        "write-key", server.url, sync_mode=True, on_error=errors, flush_on_exit=False
    )
    assert client.track("u-1", "E") is False
    assert isinstance(errors.calls[0][0], pug.DeliveryError)
    assert errors.calls[0][0].status == 401


def test_debug_attaches_one_stderr_handler():
    pug.Client("write-key", send=False, debug=True, flush_on_exit=False)
    pug.Client("write-key", send=False, debug=True, flush_on_exit=False)
    package_logger = logging.getLogger("pug")
    streams = [h for h in package_logger.handlers if type(h) is logging.StreamHandler]
    assert len(streams) == 1
    assert package_logger.level == logging.DEBUG
    package_logger.setLevel(logging.NOTSET)


class TestDefaultClient:
    def test_module_track_uses_configured_client(self, server):
        client = pug.configure("write-key", server.url, flush_on_exit=False)
        try:
            assert pug.default_client() is client
            assert pug.track("u-1", "E", {"a": 1}) is True
            assert pug.identify("u-1", {"plan": "pro"}) is True
            assert pug.flush(5) is True
            assert [m["type"] for m in server.messages()] == ["track", "identify"]
        finally:
            pug.close(2)
            pug._default_client = None

    def test_module_call_before_configure_returns_false(self, caplog):
        pug._default_client = None
        with caplog.at_level(logging.WARNING, logger="pug"):
            assert pug.track("u-1", "E") is False
        assert "called before pug.configure()" in caplog.text

    def test_module_flush_before_configure_is_true(self):
        pug._default_client = None
        assert pug.flush() is True

    def test_configure_closes_previous_client(self, server):
        first = pug.configure("write-key", server.url, flush_on_exit=False)
        try:
            first.track("u-1", "E")
            pug.configure("write-key", server.url, flush_on_exit=False)
            assert len(server.messages()) == 1
            assert first.track("u-1", "E") is False
        finally:
            pug.close(2)
            pug._default_client = None
