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
import re
import time
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from pug._version import __version__

LIBRARY_NAME = "pug-python"
LIBRARY = {"name": LIBRARY_NAME, "version": __version__}
USER_AGENT = f"{LIBRARY_NAME}/{__version__}"
# The context of every message that has no context of its own.
_DEFAULT_CONTEXT_JSON = ',"context":' + json.dumps(
    {"library": LIBRARY}, separators=(",", ":")
)

# The JSON framing around the pre-encoded messages of one batch.
BATCH_PREFIX = '{"batch":['


def batch_suffix(sent_at: str) -> str:
    """Return the JSON that closes a batch after its messages."""
    return f'],"sentAt":"{sent_at}"}}'


# Bytes that the framing and one separating comma add to a batch, with room
# for the sentAt value, used when a batch is closed by size.
BATCH_OVERHEAD_BYTES = len(BATCH_PREFIX) + len(batch_suffix("")) + 40

_UTC = dt.timezone.utc
_MAX_PATH_DEPTH = 100

# Limits of the Pug server (docs/wire-format.md). A message over one of
# them is rejected by the server, so the client rejects it at call time.
MAX_ID_LENGTH = 200  # userId, anonymousId, groupId, previousId, messageId
MAX_NAME_LENGTH = 200  # event, and a page or screen name or category
MAX_NESTING_DEPTH = 32  # objects and arrays, the message itself is level 1
GROUP_TYPE_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,100}")
# The shortest argument text that can nest MAX_NESTING_DEPTH levels.
_DEEP_ARGUMENT_MIN_LENGTH = 2 * MAX_NESTING_DEPTH

# A NUL character as the encoder writes it. A string that contains a
# backslash followed by "u0000" also contains this text, so a match is
# confirmed on the decoded message.
_NUL_ESCAPE = "\\u0000"

# Top-level wire keys by the name of the argument that sets them, for errors.
_ARGUMENT_NAMES = {
    "userId": "user_id",
    "anonymousId": "anonymous_id",
    "messageId": "message_id",
    "groupId": "group_id",
    "groupType": "group_type",
    "previousId": "previous_id",
}

# uuid4 variant nibble: the top two bits of byte 8 are 10 (RFC 4122).
_VARIANT_NIBBLE = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def new_message_id() -> str:
    """Return a random RFC 4122 version 4 UUID in its hyphenated form.

    Same randomness as :func:`uuid.uuid4` (16 bytes of :func:`os.urandom`,
    so a forked child never repeats its parent's ids) without building a
    :class:`uuid.UUID` object, which is half the cost.
    """
    digits = os.urandom(16).hex()
    return (
        f"{digits[:8]}-{digits[8:12]}-4{digits[13:16]}-"
        f"{_VARIANT_NIBBLE[digits[16]]}{digits[17:20]}-{digits[20:]}"
    )


# The last timestamp now_iso() formatted, as (epoch milliseconds, text). A
# tuple is replaced whole, so threads never read a torn pair; a race only
# formats the same millisecond twice.
_last_timestamp: tuple[int, str] = (-1, "")


def now_iso() -> str:
    """Return the current UTC time as ISO 8601 with milliseconds and ``Z``.

    Milliseconds, as Segment's SDK sends; calls within one millisecond
    share one formatted string.
    """
    global _last_timestamp
    milliseconds = int(time.time() * 1000)
    cached_milliseconds, text = _last_timestamp
    if milliseconds != cached_milliseconds:
        second, millisecond = divmod(milliseconds, 1000)
        second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        text = f"{second_text}.{millisecond:03d}Z"
        _last_timestamp = (milliseconds, text)
    return text


def format_datetime(value: dt.datetime) -> str:
    """Format a datetime as UTC ISO 8601 with milliseconds and ``Z``.

    A naive datetime is taken as UTC, as in Segment's and PostHog's SDKs;
    an aware one is converted to UTC.
    """
    if value.tzinfo is not None and value.utcoffset() is not None:
        value = value.astimezone(_UTC).replace(tzinfo=None)
    else:
        value = value.replace(tzinfo=None)
    return value.isoformat(timespec="milliseconds") + "Z"


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
        return {
            field.name: getattr(value, field.name)
            for field in dataclasses.fields(value)
        }
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


_ENCODER = json.JSONEncoder(
    separators=(",", ":"), allow_nan=False, check_circular=False, default=_convert
)


# The C encoder that JSONEncoder.encode builds on every call, built once.
# No circular-reference markers: a shared markers dict would be wrong across
# threads, and a value that contains itself ends in RecursionError instead.
def _make_c_encoder() -> Callable[[Any], str]:
    make = getattr(json.encoder, "c_make_encoder", None)
    try:
        chunks = make(  # type: ignore[misc]
            None,
            _convert,
            json.encoder.encode_basestring_ascii,
            None,
            ":",
            ",",
            False,
            False,
            False,
        )
    except TypeError:
        # No C accelerator (make is None) or another signature: the
        # standard path gives the same output, a little slower.
        return _ENCODER.encode

    def encode_value(value: Any) -> str:
        return "".join(chunks(value, 0))

    return encode_value


_encode_value = _make_c_encoder()

encode_string = json.encoder.encode_basestring_ascii


def encode(value: Any, path: str = "") -> str:
    """Encode a value as compact ASCII JSON.

    :param path: the value's place in the message, for error messages.
    :raises TypeError: a value has no JSON conversion or a key is not a str.
    :raises ValueError: a float or Decimal is NaN or infinite, or a value
        contains itself.
    The message of both errors names the offending key, such as
    ``properties.price``.
    """
    try:
        return _encode_value(value)
    except (TypeError, ValueError, RecursionError) as exc:
        raise _invalid_value(value, path, exc) from None


def _invalid_value(value: Any, path: str, exc: Exception) -> Exception:
    """Return the error for a value the encoder failed on, naming its key."""
    found, problem = _find_invalid(value, path, 0)
    if found is None:
        return ValueError(f"{path or 'message'}: {exc}")
    error_type = TypeError if isinstance(exc, TypeError) else ValueError
    return error_type(f"{found}: {problem}")


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


def encode_message(
    kind: str,
    user_id: str | None,
    anonymous_id: str | None,
    fields: str,
    context: Mapping[str, Any] | None,
    timestamp: dt.datetime | None,
    message_id: str | None,
    integrations: Mapping[str, Any] | None,
    check_keys: bool = False,
) -> str:
    """Encode a Segment-spec message from its common fields and ``fields``.

    The JSON is assembled from parts, so only the caller's values go
    through the encoder. The constant ``context.library`` is encoded once
    per process. Together this halves the cost of a call.

    :param fields: the kind's own fields, already encoded by
        :func:`track_fields` or one of its siblings.
    :param check_keys: as for :func:`encode_argument`.
    :raises TypeError, ValueError: as :func:`encode_argument`, and
        ValueError for a NUL character in any string or key.
    """
    ids = "" if user_id is None else ',"userId":' + encode_string(user_id)
    if anonymous_id is not None:
        ids += ',"anonymousId":' + encode_string(anonymous_id)
    if context:
        context_json = ',"context":' + encode_argument(
            {**context, "library": LIBRARY}, "context", check_keys
        )
    else:
        context_json = _DEFAULT_CONTEXT_JSON
    if integrations:
        context_json += ',"integrations":' + encode_argument(
            integrations, "integrations", check_keys
        )
    message_id_json = (
        encode_string(message_id) if message_id else f'"{new_message_id()}"'
    )
    timestamp_text = now_iso() if timestamp is None else format_datetime(timestamp)
    encoded = (
        f'{{"type":"{kind}","messageId":{message_id_json},'
        f'"timestamp":"{timestamp_text}"{ids}{fields}{context_json}}}'
    )
    # The encoder writes every NUL as an escape, so a message without a
    # backslash has none; a one-character search rules out most messages.
    if "\\" in encoded and _NUL_ESCAPE in encoded:
        _check_nul(json.loads(encoded))
    return encoded


def encode_argument(value: Any, path: str, check_keys: bool = False) -> str:
    """Encode a message argument such as ``properties`` and check its nesting.

    The argument is level 2 of its message, so it may nest
    ``MAX_NESTING_DEPTH - 1`` levels itself.

    :param check_keys: also reject keys that collide once made strings, see
        :func:`check_key_collisions`; the client does so in strict mode.
    :raises TypeError, ValueError: as :func:`encode`, and ValueError when it
        nests deeper than the server accepts.
    """
    try:
        encoded = _encode_value(value)
    except (TypeError, ValueError, RecursionError) as exc:
        raise _invalid_value(value, path, exc) from None
    # Each level writes an opening and a closing bracket, so a shorter text
    # cannot nest too deeply. A flat object has no "[" and one "{".
    if len(encoded) >= _DEEP_ARGUMENT_MIN_LENGTH and (
        "[" in encoded or encoded.rfind("{") > 0
    ):
        if encoded.count("{") + encoded.count("[") >= MAX_NESTING_DEPTH:
            _check_depth(json.loads(encoded), path, 2)
    if check_keys:
        check_key_collisions(value, path)
    return encoded


def check_key_collisions(value: Any, path: str) -> None:
    """Reject a mapping whose keys collide once converted to JSON strings.

    JSON keys are strings, so the encoder sends an int, float, bool or
    ``None`` key as its JSON text, and ``{1: "a", "1": "b"}`` sends the key
    ``"1"`` twice, of which the server keeps the last. This walk costs more
    than the encoding itself, so the client runs it only in strict mode.
    Call it after :func:`encode` succeeded on ``value``, which bounds its
    nesting and makes every conversion valid.

    :raises ValueError: naming the key's path, such as ``properties.meta.1``.
    """
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        item, item_path = stack.pop()
        if isinstance(item, dict):
            if not all(isinstance(key, str) for key in item):
                _check_dict_keys(item, item_path)
            children = [(child, f"{item_path}.{key}") for key, child in item.items()]
        elif isinstance(item, (list, tuple)):
            children = [(child, f"{item_path}[{i}]") for i, child in enumerate(item)]
        elif isinstance(item, (str, int, float)) or item is None:
            continue
        else:
            # A Mapping, dataclass, set or Enum: walk what the encoder sends.
            children = [(_convert(item), item_path)]
        stack.extend(reversed(children))


def _check_dict_keys(item: dict[Any, Any], path: str) -> None:
    seen: dict[str, Any] = {}
    for key in item:
        text = _key_text(key)
        if text in seen:
            raise ValueError(
                f"{path}.{text}: keys {seen[text]!r} and {key!r} are both sent as "
                f'the JSON key "{text}", and the server keeps only the last; '
                "rename one of them"
            )
        seen[text] = key


def _key_text(key: Any) -> str:
    """Return a key as the JSON encoder writes it (bool before int)."""
    if isinstance(key, str):
        return key
    if key is True:
        return "true"
    if key is False:
        return "false"
    if key is None:
        return "null"
    if isinstance(key, float):
        return float.__repr__(key)
    return int.__repr__(key)


def _check_depth(value: Any, path: str, level: int) -> None:
    """Raise ValueError when ``value``, at ``level`` of a message, nests too deeply."""
    stack: list[tuple[Any, str, int]] = [(value, path, level)]
    while stack:
        item, item_path, depth = stack.pop()
        if depth > MAX_NESTING_DEPTH:
            raise ValueError(
                f"{item_path}: objects and arrays nest more than "
                f"{MAX_NESTING_DEPTH} levels, counting the message as level 1, "
                "and the server rejects that; flatten the value"
            )
        if isinstance(item, dict):
            children = [(child, f"{item_path}.{key}") for key, child in item.items()]
        else:
            children = [(child, f"{item_path}[{i}]") for i, child in enumerate(item)]
        for child, child_path in reversed(children):
            if isinstance(child, (dict, list)):
                stack.append((child, child_path, depth + 1))


def _child_path(path: str, key: str) -> str:
    if not path:
        return _ARGUMENT_NAMES.get(key, key)
    return f"{path}.{key}"


def _check_nul(message: dict[str, Any]) -> None:
    """Raise ValueError naming the first string or key that contains a NUL."""
    stack: list[tuple[Any, str]] = [(message, "")]
    while stack:
        value, value_path = stack.pop()
        if isinstance(value, str):
            if "\0" in value:
                raise ValueError(f"{value_path}: {_NUL_RULE}")
            continue
        if isinstance(value, dict):
            for key in value:
                if "\0" in key:
                    shown = encode_string(key)[1:-1]
                    raise ValueError(
                        f"{value_path or 'message'}: key '{shown}' {_NUL_RULE}"
                    )
            children = [
                (item, _child_path(value_path, key)) for key, item in value.items()
            ]
        elif isinstance(value, list):
            children = [
                (item, f"{value_path}[{index}]") for index, item in enumerate(value)
            ]
        else:
            continue
        stack.extend(reversed(children))


_NUL_RULE = (
    "contains a NUL character (\\u0000), which the server rejects because "
    "PostgreSQL cannot store it; remove it from the text"
)


def track_fields(
    event: str, properties: Mapping[str, Any] | None, check_keys: bool = False
) -> str:
    """Encode the fields of a track message."""
    properties_json = (
        encode_argument(properties, "properties", check_keys) if properties else "{}"
    )
    return f',"event":{encode_string(event)},"properties":{properties_json}'


def identify_fields(
    traits: Mapping[str, Any] | None,
    set_once: Mapping[str, Any] | None,
    check_keys: bool = False,
) -> str:
    """Encode the traits of an identify message, ``set_once`` as ``$set_once``."""
    if set_once is not None:
        merged = dict(traits) if traits else {}
        previous = merged.get("$set_once")
        merged["$set_once"] = {**(previous or {}), **set_once}
        traits = merged
    return ',"traits":' + (
        encode_argument(traits, "traits", check_keys) if traits else "{}"
    )


def group_fields(
    group_id: str,
    group_type: str | None,
    traits: Mapping[str, Any] | None,
    check_keys: bool = False,
) -> str:
    """Encode the fields of a group message; no ``groupType`` when ``None``."""
    group_type_json = ""
    if group_type is not None:
        group_type_json = ',"groupType":' + encode_string(group_type)
    traits_json = encode_argument(traits, "traits", check_keys) if traits else "{}"
    return (
        f',"groupId":{encode_string(group_id)}{group_type_json},"traits":{traits_json}'
    )


def alias_fields(previous_id: str) -> str:
    """Encode the field of an alias message."""
    return ',"previousId":' + encode_string(previous_id)


def view_fields(
    category: str | None,
    name: str | None,
    properties: Mapping[str, Any] | None,
    check_keys: bool = False,
) -> str:
    """Encode the fields of a page or screen message."""
    parts = ""
    if category is not None:
        parts += ',"category":' + encode_string(category)
    if name is not None:
        parts += ',"name":' + encode_string(name)
    return (
        parts
        + ',"properties":'
        + (
            encode_argument(properties, "properties", check_keys)
            if properties
            else "{}"
        )
    )


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


def batch_body(messages: list[str], sent_at: str) -> bytes:
    """Frame pre-encoded messages as a ``/v1/batch`` request body."""
    return (BATCH_PREFIX + ",".join(messages) + batch_suffix(sent_at)).encode("ascii")
