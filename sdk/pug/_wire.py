"""Segment-spec messages: camelCase fields, timestamps, message ids and JSON.

Every message is encoded once, at call time, into a compact ASCII JSON
string. The consumer builds a batch by joining those strings, so nothing is
encoded twice and later changes to the caller's dicts cannot reach the wire.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import math
import os
import time
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from pug._version import __version__

LIBRARY_NAME = "pug-python"
LIBRARY = {"name": LIBRARY_NAME, "version": __version__}
USER_AGENT = f"{LIBRARY_NAME}/{__version__}"

# The JSON framing around the pre-encoded messages of one batch.
BATCH_PREFIX = '{"batch":['
BATCH_SUFFIX_TEMPLATE = '],"sentAt":"%s"}'
# Bytes that the framing and one separating comma add to a batch, with room
# for the sentAt value, used when a batch is closed by size.
BATCH_OVERHEAD_BYTES = len(BATCH_PREFIX) + len(BATCH_SUFFIX_TEMPLATE % "") + 40

_UTC = dt.timezone.utc
_MAX_PATH_DEPTH = 100

# uuid4 variant nibble: the top two bits of byte 8 are 10 (RFC 4122).
_VARIANT_NIBBLE = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def new_message_id() -> str:
    """Return a random RFC 4122 version 4 UUID in its hyphenated form.

    Same randomness as :func:`uuid.uuid4` (16 bytes of :func:`os.urandom`)
    without building a :class:`uuid.UUID` object, which is half the cost.
    """
    digits = os.urandom(16).hex()
    return (
        f"{digits[:8]}-{digits[8:12]}-4{digits[13:16]}-"
        f"{_VARIANT_NIBBLE[digits[16]]}{digits[17:20]}-{digits[20:]}"
    )


# The formatted second of the last call to now_iso(), as (epoch second,
# "YYYY-MM-DDTHH:MM:SS"). A tuple is replaced whole, so threads never see a
# torn pair; a race only formats the same second twice.
_second_cache: tuple[int, str] = (-1, "")


def now_iso() -> str:
    """Return the current UTC time as ISO 8601 with microseconds and ``Z``."""
    global _second_cache
    now = time.time()
    second = int(now)
    cached_second, prefix = _second_cache
    if second != cached_second:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _second_cache = (second, prefix)
    return "%s.%06dZ" % (prefix, int((now - second) * 1_000_000))


def format_datetime(value: dt.datetime) -> str:
    """Format a datetime as UTC ISO 8601 with microseconds and ``Z``.

    A naive datetime is taken as UTC, as in Segment's and PostHog's SDKs;
    an aware one is converted to UTC.
    """
    if value.tzinfo is not None and value.utcoffset() is not None:
        value = value.astimezone(_UTC).replace(tzinfo=None)
    else:
        value = value.replace(tzinfo=None)
    return value.isoformat(timespec="microseconds") + "Z"


def _convert(value: Any) -> Any:
    """Convert a value that :mod:`json` cannot encode, or raise TypeError."""
    if isinstance(value, dt.datetime):
        return format_datetime(value)
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"Decimal {value} is not allowed in JSON")
        return float(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (set, frozenset)):
        return _sorted_if_possible(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(
        f"object of type {type(value).__name__} is not JSON serializable; "
        "convert it to a str, number, bool, list or dict"
    )


def _sorted_if_possible(values: set[Any] | frozenset[Any]) -> list[Any]:
    # Sorted output keeps the wire stable across runs; mixed types stay unsorted.
    try:
        return sorted(values)
    except TypeError:
        return list(values)


_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False, default=_convert)


def encode(message: Mapping[str, Any]) -> str:
    """Encode a message as compact ASCII JSON.

    :raises TypeError: a value has no JSON conversion or a key is not a str.
    :raises ValueError: a float or Decimal is NaN or infinite, or a value
        contains itself.
    The message of both errors names the offending key, such as
    ``properties.price``.
    """
    try:
        return _ENCODER.encode(message)
    except (TypeError, ValueError) as exc:
        path, problem = _find_invalid(message, "", 0)
        if path is None:
            raise
        error_type = TypeError if isinstance(exc, TypeError) else ValueError
        raise error_type(f"{path}: {problem}") from None


def _find_invalid(value: Any, path: str, depth: int) -> tuple[str | None, str]:
    """Return the path of the first value that cannot be encoded, and why."""
    if depth > _MAX_PATH_DEPTH:
        return path or "message", "value is nested too deeply or contains itself"
    if isinstance(value, float):
        if math.isfinite(value):
            return None, ""
        return path, f"float {value} is not allowed in JSON"
    if isinstance(value, (str, int, bool)) or value is None:
        return None, ""
    if isinstance(value, dict):
        return _find_invalid_in_dict(value, path, depth)
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = _find_invalid(item, f"{path}[{index}]", depth + 1)
            if found[0] is not None:
                return found
        return None, ""
    try:
        converted = _convert(value)
    except (TypeError, ValueError) as exc:
        return path, str(exc)
    return _find_invalid(converted, path, depth + 1)


def _find_invalid_in_dict(
    value: dict[Any, Any], path: str, depth: int
) -> tuple[str | None, str]:
    for key, item in value.items():
        child = f"{path}.{key}" if path else str(key)
        if not isinstance(key, (str, int, float, bool)) and key is not None:
            return child, f"key of type {type(key).__name__} is not allowed; use a str"
        found = _find_invalid(item, child, depth + 1)
        if found[0] is not None:
            return found
    return None, ""


def build_message(
    kind: str,
    user_id: str | None,
    anonymous_id: str | None,
    context: Mapping[str, Any] | None,
    timestamp: dt.datetime | None,
    message_id: str | None,
    integrations: Mapping[str, Any] | None,
    fields: Mapping[str, Any],
) -> dict[str, Any]:
    """Build a Segment-spec message: the common fields, then ``fields``.

    :param fields: kind-specific values by their snake_case argument name
        (a key of :data:`WIRE_NAMES`); ``None`` values are left out.
    """
    message: dict[str, Any] = {
        "type": kind,
        "messageId": message_id or new_message_id(),
        "timestamp": now_iso() if timestamp is None else format_datetime(timestamp),
    }
    if user_id is not None:
        message["userId"] = user_id
    if anonymous_id is not None:
        message["anonymousId"] = anonymous_id
    for name, value in fields.items():
        if value is not None:
            message[WIRE_NAMES[name]] = value
    if context:
        message["context"] = {**context, "library": LIBRARY}
    else:
        message["context"] = _DEFAULT_CONTEXT
    if integrations:
        message["integrations"] = integrations
    return message


def track_context(
    context: Mapping[str, Any] | None,
    group_id: str | None,
    groups: Mapping[str, Any] | None,
) -> Mapping[str, Any] | None:
    """Add a track call's group to its context as ``groupId`` and ``groups``."""
    if group_id is None and groups is None:
        return context
    merged = dict(context) if context else {}
    if group_id is not None:
        merged["groupId"] = group_id
    if groups is not None:
        merged["groups"] = groups
    return merged


def identify_traits(
    traits: Mapping[str, Any] | None, set_once: Mapping[str, Any] | None
) -> Mapping[str, Any]:
    """Return the traits of an identify call, with ``set_once`` as ``$set_once``."""
    if set_once is None:
        return traits or {}
    merged = dict(traits) if traits else {}
    merged["$set_once"] = {**merged.get("$set_once", {}), **set_once}
    return merged


# Shared by every message without a caller context; encode() only reads it.
_DEFAULT_CONTEXT = {"library": LIBRARY}

# The snake_case argument names of the public calls and their wire names.
WIRE_NAMES = {
    "event": "event",
    "name": "name",
    "category": "category",
    "properties": "properties",
    "traits": "traits",
    "group_id": "groupId",
    "group_type": "groupType",
    "previous_id": "previousId",
}


def batch_body(messages: list[str], sent_at: str) -> bytes:
    """Frame pre-encoded messages as a ``/v1/batch`` request body."""
    return (
        BATCH_PREFIX + ",".join(messages) + BATCH_SUFFIX_TEMPLATE % sent_at
    ).encode("ascii")
