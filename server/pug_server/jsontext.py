"""JSON reading and writing for messages, with orjson on the hot path.

orjson parses and writes JSON several times faster than the standard
library, and the standard library handles what orjson rejects or would
change. A body goes to the standard library when orjson rejects it or when
it has a run of 19 or more digits, since orjson reads integers past 64 bits
as floats. The standard library's hooks keep what JSON does not allow from
failing the whole body: NaN, Infinity and numbers past a double come back
as :class:`NonFinite`, so that only the message that contains one is
rejected. orjson rejects a few values when writing (integers past 64 bits,
lone surrogates, :class:`NonFinite`), and those take the standard library's
path too.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

# Python does not parse integers of more than 4,300 digits, which would fail
# the whole body. Such a number is read as infinity instead, so only its
# message is rejected, as for any number too large for a double.
_MAX_INTEGER_DIGITS = 4000


class NonFinite(float):
    """A NaN or infinity read from a body.

    orjson writes a plain NaN as ``null`` but raises for a float subclass.
    A message that contains one of these is therefore encoded by the
    standard library, which rejects it.
    """


def _parse_constant(token: str) -> float:
    return NonFinite(token)


def _parse_float(token: str) -> float:
    value = float(token)
    if value - value != 0.0:
        return NonFinite(value)
    return value


def _parse_int(token: str) -> int | float:
    if len(token) > _MAX_INTEGER_DIGITS:
        return NonFinite("-inf" if token.startswith("-") else "inf")
    return int(token)


# A table that maps every digit to "9", so that a run of digits in a body
# becomes a run of "9".
_DIGITS_TO_NINE = bytes.maketrans(b"0123456789", b"9999999999")
_LONG_NUMBER = b"9" * 19


def loads_body(raw: bytes) -> Any:
    """Parse a request body; invalid UTF-8 is read as lone surrogates.

    :raises ValueError: when *raw* is not JSON.
    :raises RecursionError: when it nests too deeply to parse.
    """
    if _LONG_NUMBER not in raw.translate(_DIGITS_TO_NINE):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    return loads(raw.decode("utf-8", errors="surrogateescape"))


def loads(text: str) -> Any:
    """Parse *text*; NaN, Infinity and numbers past a double become :class:`NonFinite`.

    :raises ValueError: when *text* is not JSON.
    :raises RecursionError: when it nests too deeply to parse.
    """
    return json.loads(
        text,
        parse_constant=_parse_constant,
        parse_float=_parse_float,
        parse_int=_parse_int,
    )


# Built once: ``json.dumps`` with options builds an encoder on every call.
_encode_strict = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False
).encode


def dumps(value: Any) -> bytes:
    """Return *value* as compact UTF-8 JSON.

    :raises ValueError: for NaN or infinity, which JSON does not allow.
    :raises UnicodeEncodeError: for a lone surrogate, which UTF-8 cannot hold.
    :raises RecursionError: for nesting deeper than the interpreter allows.
    :raises TypeError: for a value that is not JSON data.
    """
    try:
        return orjson.dumps(value)
    except TypeError:
        # orjson rejects integers past 64 bits, NonFinite, lone surrogates
        # and nesting past 254 levels. The standard library writes the
        # integers, and the nesting up to the interpreter's recursion limit.
        # It raises for the other two.
        return _encode_strict(value).encode("utf-8")


def text(value: Any) -> str | None:
    """Return *value* as the text a JSON column stores; ``None`` stays NULL."""
    return None if value is None else dumps(value).decode("utf-8")
