"""Parsing and writing message JSON: orjson's results match the standard library's."""

from __future__ import annotations

import json
import math

import pytest

from pug_server import jsontext


@pytest.mark.parametrize(
    "number",
    [2**70, -(2**63) - 1, 2**64, 10**18, -(10**18), 1234567890123456789],
)
def test_long_integer_parsed_exactly(number):
    value = jsontext.loads_body(b'{"n": %d}' % number)["n"]
    assert type(value) is int
    assert value == number


def test_plain_body_matches_stdlib():
    body = (
        b'{"batch": [{"type": "track", "n": 3, "f": 0.1, "e": -1.5e-7, '
        b'"s": "caf\xc3\xa9", "x": null, "b": true, "l": [1, {"k": []}]}]}'
    )
    assert jsontext.loads_body(body) == json.loads(body)


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_number_marked(token):
    value = jsontext.loads_body(b'{"v": %s}' % token.encode())["v"]
    assert isinstance(value, jsontext.NonFinite)
    assert not math.isfinite(value)


def test_invalid_utf8_read_as_surrogate():
    value = jsontext.loads_body(b'{"s": "a\xffb"}')["s"]
    assert value == "a\udcffb"


def test_invalid_json_raises_value_error():
    with pytest.raises(ValueError):
        jsontext.loads_body(b'{"batch": [1,]}')


def test_dumps_writes_long_integer():
    assert jsontext.dumps({"n": 2**70}) == b'{"n":%d}' % 2**70


def test_dumps_rejects_non_finite():
    with pytest.raises(ValueError):
        jsontext.dumps({"v": jsontext.NonFinite("nan")})


def test_dumps_rejects_lone_surrogate():
    with pytest.raises(UnicodeEncodeError):
        jsontext.dumps({"s": "a\ud800"})


def test_text_keeps_null():
    assert jsontext.text(None) is None
    assert jsontext.text({"a": "é"}) == '{"a":"é"}'
