"""Validate, deduplicate, time-correct and store batches of messages."""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from marshmallow import ValidationError

from pug_server import jsontext
from pug_server.db import database, is_postgres
from pug_server.models import Event, Project, RejectedMessage
from pug_server.models.group import DEFAULT_GROUP_TYPE
from pug_server.schemas.messages import GROUP_TYPE_RE, GROUP_TYPE_RULE, load_message
from pug_server.services import identity
from pug_server.services._identity_plan import is_placeholder_id

logger = logging.getLogger(__name__)

# Rows per INSERT statement, so that a batch stays under SQLite's limit of
# 32,766 bound parameters (21 columns a row).
INSERT_CHUNK_ROWS = 500
EARLIEST_TIMESTAMP = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
MAX_GROUP_KEY_LENGTH = 200


@dataclass
class BatchResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "warnings": self.warnings,
        }


@dataclass
class _Valid:
    index: int
    message: dict[str, Any]
    #: What identity resolution reads of the event row.
    row: dict[str, Any]
    #: The event row's values in :data:`_ROW_COLUMNS` order, as the driver
    #: takes them.
    values: list[Any]


def ingest_batch(
    project: Project,
    messages: list[Any],
    *,
    config: dict[str, Any],
    batch_context: dict[str, Any] | None = None,
    batch_sent_at: dt.datetime | None = None,
    received_at: dt.datetime | None = None,
) -> BatchResult:
    """Store a batch of raw messages in one transaction.

    Every message is validated on its own, so one bad message never rejects
    the others. Messages whose ``messageId`` is already stored count as
    duplicates and store nothing. The function returns only after the
    transaction has committed.

    :param batch_context: the batch-level ``context``, merged under each
        message's own ``context`` (the message's keys win).
    :param messages: the batch's messages as parsed from JSON, so every
        object key is a string.
    :param batch_sent_at: the batch-level ``sentAt``, used for the clock skew
        correction of messages that carry no ``sentAt`` of their own.
    :raises peewee.OperationalError: when the database cannot commit; nothing
        of the batch is stored then.
    """
    received_at = received_at or dt.datetime.now(dt.timezone.utc)
    times = _BatchTimes(
        received_at,
        batch_sent_at,
        config["MAX_FUTURE_SECONDS"],
        datetimes_as_text=not is_postgres(),
    )
    result = BatchResult()
    valid: list[_Valid] = []
    rejected_rows: list[dict[str, Any]] = []
    for index, raw in enumerate(messages):
        try:
            message = _validate(raw, config, batch_context)
            row, values = _event_row(project, message, times)
        except ValidationError as exc:
            _reject(
                project, index, raw, exc.normalized_messages(), result, rejected_rows
            )
            continue
        valid.append(_Valid(index, message, row, values))

    # The statement parameters and the parsed ids are made before the
    # transaction, which on SQLite holds the database's one write lock
    # until it commits.
    chunks = _insert_params([item.values for item in valid])
    parsed, parse_warnings = identity.parse_messages(
        [(item.index, item.message, item.row) for item in valid]
    )
    with database.atomic():
        inserted = _insert_events(chunks)
        fresh = _split_duplicates(valid, inserted, result)
        if len(fresh) < len(valid):
            fresh_indexes = {item.index for item in fresh}
            parsed = [message for message in parsed if message.index in fresh_indexes]
            parse_warnings = [
                warning
                for warning in parse_warnings
                if warning["index"] in fresh_indexes
            ]
        result.warnings = identity.apply_messages(project, parsed, parse_warnings)
        if rejected_rows:
            RejectedMessage.insert_many(rejected_rows).execute()

    if result.rejected:
        logger.info(
            "rejected %d of %d messages project_id=%s",
            len(result.rejected),
            len(messages),
            project.id,
        )
    return result


def _validate(
    raw: Any, config: dict[str, Any], batch_context: dict | None
) -> dict[str, Any]:
    """Check and load one raw message, merged with the batch's context.

    The size and nesting limits and the checks for values no backend
    stores apply to the merged message, which is what is stored.
    """
    if not isinstance(raw, dict):
        raise ValidationError(
            {"_message": [f"must be a JSON object, got {json_type(raw)}"]}
        )
    if batch_context:
        own = raw.get("context")
        if own is None or isinstance(own, dict):
            # Shallow merge: a message's own context key replaces the batch's
            # key of the same name whole (context.library is not merged
            # with the batch's context.library).
            raw = {**raw, "context": {**batch_context, **(own or {})}}
    depth_limit = config["MAX_NESTING_DEPTH"]
    encoded = _encode_checked(raw, depth_limit)
    size = len(encoded)
    limit = config["MAX_MESSAGE_BYTES"]
    if size > limit:
        raise ValidationError(
            {
                "_message": [
                    f"message is {size} bytes, over the limit of {limit} bytes: "
                    "send fewer or smaller properties"
                ]
            }
        )
    # Every object and array writes one "{" or "[", so a message with no
    # more of them than the limit cannot nest deeper and needs no walk.
    # Brackets inside strings only make this bound looser.
    if encoded.count(b"{") + encoded.count(b"[") > depth_limit:
        _check_depth(raw, depth_limit)
    return load_message(raw)


_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


def check_storable(value: dict[str, Any], depth_limit: int) -> None:
    """Raise the validation error of *value* if no backend can store it.

    :raises ValidationError: for NaN, Infinity, lone surrogates, NUL, or
        nesting deeper than *depth_limit*.
    """
    encoded = _encode_checked(value, depth_limit)
    if encoded.count(b"{") + encoded.count(b"[") > depth_limit:
        _check_depth(value, depth_limit)


def _encode_checked(raw: dict[str, Any], depth_limit: int) -> bytes:
    """Return *raw* as compact UTF-8 JSON, whose length is the message size.

    :raises ValidationError: for a value no backend can store: NaN,
        Infinity, lone surrogates (invalid UTF-8 in the body) and NUL.
    """
    encoded = _encode_part(raw, depth_limit)
    if b"\\u0000" in encoded and _NUL_ESCAPE.search(encoded):
        raise ValidationError(
            {
                "_message": [
                    "contains a NUL character (\\u0000), which cannot be "
                    "stored: remove it from the text"
                ]
            }
        )
    return encoded


def _encode_part(value: Any, depth_limit: int) -> bytes:
    """Encode *value* as compact UTF-8 JSON, or raise the validation error."""
    try:
        return jsontext.dumps(value)
    except RecursionError:
        raise ValidationError({"_message": [_too_deep_message(depth_limit)]}) from None
    except UnicodeEncodeError:
        raise ValidationError(
            {
                "_message": [
                    "contains invalid UTF-8 or a lone UTF-16 surrogate (a "
                    "\\ud800 to \\udfff escape without its pair): send "
                    "valid Unicode text"
                ]
            }
        ) from None
    except ValueError:
        raise ValidationError(
            {
                "_message": [
                    "contains NaN, Infinity or a number too large for a "
                    "double, which JSON does not allow: send null, a "
                    "smaller number or a string instead"
                ]
            }
        ) from None


def _check_depth(raw: dict[str, Any], limit: int) -> None:
    """Reject a message whose objects and arrays nest deeper than *limit*.

    The message itself is level 1, so ``properties`` is level 2.
    """
    stack: list[tuple[Any, int]] = [(raw, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            raise ValidationError({"_message": [_too_deep_message(limit)]})
        children = value.values() if isinstance(value, dict) else value
        for child in children:
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1))


def _too_deep_message(limit: int) -> str:
    return (
        f"objects and arrays are nested more than {limit} levels: "
        "flatten the properties, traits or context"
    )


def json_type(value: Any) -> str:
    """Name the JSON type of *value* for an error message: "a string", "null"."""
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return "null" if value is None else type(value).__name__


class _BatchTimes:
    """The clock values a batch shares, with their stored forms made once.

    :param datetimes_as_text: whether stored datetimes go to the driver as
        the text the ``sqlite3`` adapter writes (SQLite) rather than as
        datetimes (PostgreSQL). Making the text here saves a call from the
        driver back into Python for each value.
    """

    def __init__(
        self,
        received_at: dt.datetime,
        sent_at: dt.datetime | None,
        max_future_seconds: int,
        *,
        datetimes_as_text: bool,
    ) -> None:
        self.received_at = received_at
        self.sent_at = sent_at
        self.max_future_seconds = max_future_seconds
        self.datetimes_as_text = datetimes_as_text
        self.stored_received_at = _naive(received_at)
        self.stored_sent_at = _naive(sent_at) if sent_at else None
        self.received_value = self.value(self.stored_received_at)
        self.sent_value = self.value(self.stored_sent_at)

    def value(self, stored: dt.datetime | None) -> dt.datetime | str | None:
        """Return a stored datetime as the driver takes it."""
        if stored is None or not self.datetimes_as_text:
            return stored
        return stored.isoformat(" ")


def _event_row(
    project: Project, message: dict[str, Any], times: _BatchTimes
) -> tuple[dict[str, Any], list[Any]]:
    """Return what identity reads of a loaded message's event row, and the row's values.

    The values are in :data:`_ROW_COLUMNS` order. JSON columns hold the text
    ``JSONField`` stores, and datetimes are in :meth:`_BatchTimes.value`'s
    form. The other values have their stored type already (validated
    strings, ints and bools), which is what their fields' ``db_value`` would
    return.
    """
    get = message.get
    if not get("message_id"):
        message["message_id"] = str(uuid.uuid4())
    original = get("timestamp")
    own_sent_at = get("sent_at")
    timestamp, clamped = correct_timestamp(
        original,
        own_sent_at or times.sent_at,
        times.received_at,
        times.max_future_seconds,
    )
    stored_original = _naive(original) if original else None
    if timestamp is original:
        stored_timestamp = stored_original
    elif timestamp is times.received_at:
        stored_timestamp = times.stored_received_at
    else:
        stored_timestamp = _naive(timestamp)
    user_id = get("user_id")
    anonymous_id = get("anonymous_id")
    distinct_id = user_id or anonymous_id
    group_type = _group_type(message)
    groups = event_groups(message)
    row = {
        "message_id": message["message_id"],
        "distinct_id": distinct_id,
        "group_type": group_type,
        "timestamp": stored_timestamp,
        "groups": groups,
    }
    text = jsontext.text
    values = [
        project.id,
        message["message_id"],
        message["type"],
        get("event"),
        get("name"),
        user_id,
        anonymous_id,
        distinct_id,
        get("previous_id"),
        get("group_id"),
        group_type,
        times.value(stored_timestamp),
        times.value(stored_original),
        times.value(_naive(own_sent_at)) if own_sent_at else times.sent_value,
        times.received_value,
        clamped,
        text(get("properties")),
        text(get("traits")),
        text(get("context")),
        text(get("integrations")),
        text(groups),
    ]
    return row, values


def correct_timestamp(
    timestamp: dt.datetime | None,
    sent_at: dt.datetime | None,
    received_at: dt.datetime,
    max_future_seconds: int,
) -> tuple[dt.datetime, bool]:
    """Return the stored event time and whether it was clamped.

    With ``sentAt`` the client's clock offset is removed:
    ``receivedAt - (sentAt - timestamp)``. A time more than
    *max_future_seconds* after ``receivedAt`` is clamped to ``receivedAt``.

    :raises ValidationError: for a time before 1970 or past the year 9999.
    """
    if timestamp is None:
        return received_at, False
    try:
        corrected = (
            timestamp if sent_at is None else received_at - (sent_at - timestamp)
        )
    except OverflowError:
        # A sentAt later than the timestamp moves the time back, past year 1;
        # an earlier one moves it forward, past the year 9999.
        if sent_at is not None and sent_at > timestamp:
            raise ValidationError({"timestamp": [_BEFORE_1970]}) from None
        raise ValidationError(
            {
                "timestamp": [
                    "is out of range once corrected for clock skew: receivedAt "
                    "- (sentAt - timestamp) falls after the year 9999; check "
                    "the sentAt and timestamp of the message"
                ]
            }
        ) from None
    if corrected < EARLIEST_TIMESTAMP:
        raise ValidationError({"timestamp": [_BEFORE_1970]})
    if corrected - received_at > dt.timedelta(seconds=max_future_seconds):
        return received_at, True
    return corrected, False


_BEFORE_1970 = (
    "must be at or after 1970-01-01T00:00:00Z once corrected for clock skew: "
    "receivedAt - (sentAt - timestamp)"
)


def event_groups(message: dict[str, Any]) -> dict[str, str] | None:
    """Return the valid groups a message names itself, as ``{group_type: key}``.

    Each entry that cannot name a group (a type outside the groupType rule,
    a key that is not a non-empty string or integer of at most 200
    characters, or a placeholder key) is left out and listed in
    ``message["invalid_groups"]`` as ``(wire field, reason)``, for the
    ``invalid_group`` warning.
    """
    groups: dict[str, str] = {}
    invalid: list[tuple[str, str]] = []
    context = message.get("context") or {}
    if "groupId" in context:
        reason = _add_group(groups, DEFAULT_GROUP_TYPE, context["groupId"])
        if reason:
            invalid.append(("context.groupId", reason))
    named = context.get("groups")
    if isinstance(named, dict):
        for group_type, key in named.items():
            reason = _add_group(groups, group_type, key)
            if reason:
                invalid.append((f"context.groups.{group_type[:100]}", reason))
    elif named is not None:
        invalid.append(
            (
                "context.groups",
                "must be a JSON object of group type to group key, "
                f"got {json_type(named)}",
            )
        )
    if message["type"] == "group":
        reason = _add_group(groups, _group_type(message), message["group_id"])
        if reason:
            invalid.append(("groupId", reason))
    if invalid:
        message["invalid_groups"] = invalid
    return groups or None


def _add_group(groups: dict[str, str], group_type: str, key: Any) -> str | None:
    """Add a group to *groups*, or return why *group_type* and *key* name none."""
    if not GROUP_TYPE_RE.match(group_type):
        return f"the group type {GROUP_TYPE_RULE}"
    if isinstance(key, bool) or not isinstance(key, (str, int)):
        return f"the group key must be a string or an integer, got {json_type(key)}"
    text = key if type(key) is str else str(key)
    if not text or len(text) > MAX_GROUP_KEY_LENGTH:
        return (
            f"the group key must be 1 to {MAX_GROUP_KEY_LENGTH} characters, "
            f"got {len(text)}"
        )
    if is_placeholder_id(text):
        return "the group key is a placeholder such as 'null', not a group id"
    groups[group_type] = text
    return None


def _group_type(message: dict[str, Any]) -> str | None:
    if message["type"] != "group":
        return None
    return message.get("group_type") or DEFAULT_GROUP_TYPE


def _naive(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is dt.timezone.utc:
        return value.replace(tzinfo=None)
    return value.astimezone(dt.timezone.utc).replace(tzinfo=None)


#: The columns of the values :func:`_event_row` returns, in their order.
_ROW_COLUMNS = (
    "project",
    "message_id",
    "type",
    "event",
    "name",
    "user_id",
    "anonymous_id",
    "distinct_id",
    "previous_id",
    "group_id",
    "group_type",
    "timestamp",
    "original_timestamp",
    "sent_at",
    "received_at",
    "clamped",
    "properties",
    "traits",
    "context",
    "integrations",
    "groups",
)
#: The table columns of the event values, in the same order.
EVENT_COLUMNS = tuple(getattr(Event, name).column_name for name in _ROW_COLUMNS)


def _insert_params(rows: list[list[Any]]) -> list[tuple[int, list[Any]]]:
    """Return ``(row count, parameters)`` of each INSERT statement for *rows*."""
    chunks = []
    for start in range(0, len(rows), INSERT_CHUNK_ROWS):
        chunk = rows[start : start + INSERT_CHUNK_ROWS]
        params: list[Any] = []
        for values in chunk:
            params.extend(values)
        chunks.append((len(chunk), params))
    return chunks


def _insert_events(chunks: list[tuple[int, list[Any]]]) -> set[str]:
    """Insert the rows of *chunks*, skipping stored message ids; return the ids inserted.

    The statement is written out here rather than by ``Event.insert_many``:
    peewee builds a node per value, which made SQL generation the largest
    cost of a batch.
    """
    inserted: set[str] = set()
    for row_count, params in chunks:
        cursor = database.execute_sql(
            _insert_sql(row_count, database.obj.param), params
        )
        inserted.update(message_id for (message_id,) in cursor.fetchall())
    return inserted


@functools.lru_cache(maxsize=64)
def _insert_sql(row_count: int, param: str) -> str:
    """Return the multi-row INSERT for *row_count* rows, stored ids skipped."""
    columns = ", ".join(f'"{column}"' for column in EVENT_COLUMNS)
    row = "(" + ", ".join([param] * len(EVENT_COLUMNS)) + ")"
    return (
        f'INSERT INTO "{Event._meta.table_name}" ({columns}) '
        f"VALUES {', '.join([row] * row_count)} "
        'ON CONFLICT DO NOTHING RETURNING "message_id"'
    )


def _split_duplicates(
    valid: list[_Valid], inserted: set[str], result: BatchResult
) -> list[_Valid]:
    fresh = []
    for item in valid:
        message_id = item.row["message_id"]
        if message_id in inserted:
            inserted.discard(message_id)
            fresh.append(item)
            result.accepted += 1
        else:
            result.duplicates += 1
    return fresh


def _reject(
    project: Project,
    index: int,
    raw: Any,
    errors: Any,
    result: BatchResult,
    rows: list[dict[str, Any]],
) -> None:
    message_id = raw.get("messageId") if isinstance(raw, dict) else None
    if not isinstance(message_id, str):
        message_id = None
    kind = raw.get("type") if isinstance(raw, dict) else None
    result.rejected.append({"index": index, "messageId": message_id, "errors": errors})
    rows.append(
        {
            "project": project.id,
            "index": index,
            "message_id": _storable(message_id)[:200] if message_id else None,
            "type": _storable(kind)[:64] if isinstance(kind, str) else None,
            "errors": errors,
            "raw": _raw_text(raw),
        }
    )


def _storable(text: str) -> str:
    """Replace NUL characters, which PostgreSQL text columns cannot hold.

    A message rejected for a NUL in its ``messageId`` or ``type`` still gets
    its rejection row; the raw column keeps the original, escaped.
    """
    return text.replace("\x00", "\ufffd")


def _raw_text(raw: Any) -> str:
    """Return *raw* as ASCII JSON, which every backend stores, cut to 64 KiB."""
    try:
        text = json.dumps(raw, ensure_ascii=True, default=lambda value: None)
    except RecursionError:
        text = '"(nested too deeply to store)"'
    return text[: 64 * 1024]
