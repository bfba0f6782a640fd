"""Marshmallow schemas for Segment-spec messages, camelCase on the wire."""

from __future__ import annotations

import datetime as dt
import functools
import re
from typing import Any

from marshmallow import (
    EXCLUDE,
    Schema,
    ValidationError,
    fields,
    missing,
    validate,
    validates_schema,
)

MESSAGE_TYPES = ("track", "identify", "group", "alias", "page", "screen")
MAX_ID_LENGTH = 200
MAX_NAME_LENGTH = 200
EXAMPLE_TIME = "2024-05-01T12:00:00Z"
#: The rule for a group type, in groupType and in context.groups.
GROUP_TYPE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
GROUP_TYPE_RULE = "must be 1 to 100 letters, digits, '_', '.' or '-', for example team"
#: The traits key whose object holds traits that are set only once.
SET_ONCE_KEY = "$set_once"


class _CheckedField(fields.Field):
    """A field that loads a present value with fewer calls than marshmallow's.

    Marshmallow's :meth:`~marshmallow.fields.Field.deserialize` checks for
    a missing or null value, runs field-level processors, and combines the
    validators into a new ``validate.And`` on every call (about 0.5
    microseconds per field of every message in marshmallow 4.4). These
    fields use no processors and have at most one validator, which raises
    its own error, so a present value goes straight to the validators.
    """

    def deserialize(self, value, attr=None, data=None, **kwargs):
        if value is None or value is missing:
            return super().deserialize(value, attr, data, **kwargs)
        output = self._deserialize(value, attr, data, **kwargs)
        for validator in self.validators:
            validator(output)
        return output


class _String(_CheckedField, fields.String):
    pass


class DistinctId(_CheckedField):
    """A ``userId``, ``anonymousId``, ``groupId`` or ``previousId``.

    Strings are kept as sent; integers are accepted and stored as their
    decimal string, because several Segment-spec clients send numeric ids.
    """

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise ValidationError(
                f"must be a string or an integer, got {type(value).__name__}"
            )
        text = str(value)
        if len(text) > MAX_ID_LENGTH:
            raise ValidationError(
                f"must be at most {MAX_ID_LENGTH} characters, got {len(text)}"
            )
        return text


class Timestamp(_CheckedField):
    """An ISO 8601 date-time; one without an offset is taken as UTC."""

    def _deserialize(self, value, attr, data, **kwargs):
        message = f"must be an ISO 8601 date-time string, for example {EXAMPLE_TIME}"
        if not isinstance(value, str) or len(value) > 40:
            raise ValidationError(message)
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = dt.datetime.fromisoformat(text)
        except ValueError:
            raise ValidationError(message) from None
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=dt.timezone.utc)
        return parsed.astimezone(dt.timezone.utc)


class JSONObject(_CheckedField, fields.Dict):
    """A JSON object: ``properties``, ``traits``, ``context``, ``integrations``.

    A dict is taken as it is: JSON object keys are always strings, and
    loading each key through the key field cost one field load per key of
    every message. Any other value takes :class:`~marshmallow.fields.Dict`'s
    path and gets its error.
    """

    def _deserialize(self, value, attr, data, **kwargs):
        if type(value) is dict:
            return value
        return super()._deserialize(value, attr, data, **kwargs)


def _mapping(**kwargs) -> fields.Dict:
    return JSONObject(
        keys=fields.String(),
        error_messages={"invalid": "must be a JSON object, for example {{}}"},
        **kwargs,
    )


def _name(**kwargs) -> fields.String:
    return _String(
        validate=validate.Length(
            min=1,
            max=MAX_NAME_LENGTH,
            error=f"must be 1 to {MAX_NAME_LENGTH} characters",
        ),
        error_messages={"invalid": "must be a string"},
        **kwargs,
    )


class MessageSchema(Schema):
    """One message of any type; the checks per type are in :meth:`check_type`."""

    class Meta:
        unknown = EXCLUDE

    type = _String(
        required=True,
        validate=validate.OneOf(
            MESSAGE_TYPES,
            error="must be one of " + ", ".join(MESSAGE_TYPES),
        ),
        error_messages={
            "required": "is required: one of " + ", ".join(MESSAGE_TYPES),
            "invalid": "must be a string: one of " + ", ".join(MESSAGE_TYPES),
        },
    )
    message_id = _String(
        data_key="messageId",
        validate=validate.Length(
            min=1, max=MAX_ID_LENGTH, error=f"must be 1 to {MAX_ID_LENGTH} characters"
        ),
        error_messages={"invalid": "must be a string, for example a UUID"},
    )
    timestamp = Timestamp(allow_none=True)
    sent_at = Timestamp(data_key="sentAt", allow_none=True)
    user_id = DistinctId(data_key="userId", allow_none=True)
    anonymous_id = DistinctId(data_key="anonymousId", allow_none=True)
    event = _name(allow_none=True)
    name = _name(allow_none=True)
    category = _name(allow_none=True)
    properties = _mapping(allow_none=True)
    traits = _mapping(allow_none=True)
    context = _mapping(allow_none=True)
    integrations = _mapping(allow_none=True)
    group_id = DistinctId(data_key="groupId", allow_none=True)
    group_type = _String(
        data_key="groupType",
        allow_none=True,
        validate=validate.Regexp(GROUP_TYPE_RE, error=GROUP_TYPE_RULE),
    )
    previous_id = DistinctId(data_key="previousId", allow_none=True)

    @validates_schema
    def check_message(self, data: dict[str, Any], **kwargs) -> None:
        """Check the rules that span fields: the ids and names each type needs.

        The rules share one validator because marshmallow's overhead is per
        schema validator, paid for every message.
        """
        errors: dict[str, list[str]] = {}
        traits = data.get("traits")
        if (
            traits
            and SET_ONCE_KEY in traits
            and not isinstance(traits[SET_ONCE_KEY], dict)
        ):
            errors[f"traits.{SET_ONCE_KEY}"] = [
                "must be a JSON object of traits to set once, for "
                'example {"source": "ads"}'
            ]
        _check_type(data, errors)
        if errors:
            raise ValidationError(errors)


def _check_type(data: dict[str, Any], errors: dict[str, list[str]]) -> None:
    kind = data.get("type")
    if kind == "alias":
        for key, attr in (("previousId", "previous_id"), ("userId", "user_id")):
            if data.get(attr) in (None, ""):
                errors[key] = ["is required for an alias call"]
        return
    if data.get("user_id") in (None, "") and data.get("anonymous_id") in (None, ""):
        errors["userId"] = ["is required: set userId or anonymousId (or both)"]
        return
    if kind == "track" and not data.get("event"):
        errors["event"] = [
            "is required for a track call: the name of the action, "
            "for example 'Document Edited'"
        ]
    elif kind == "group" and data.get("group_id") in (None, ""):
        errors["groupId"] = [
            "is required for a group call: the id of the group, for example t-1"
        ]


message_schema = MessageSchema()

#: Wire key to attribute name, for the fields a message can carry.
_ATTRIBUTES = {
    field.data_key or name: name for name, field in message_schema.fields.items()
}


@functools.lru_cache(maxsize=256)
def _schema_for(keys: frozenset[str]) -> MessageSchema:
    """Return a schema limited to the fields named by *keys*, plus ``type``.

    Marshmallow visits every declared field for every message, present or
    not, and most messages carry a third of them. Fields without a value
    produce nothing either way (none has a load default), so leaving the
    absent ones out changes no result. Clients send few distinct key sets,
    so the cache stays small.
    """
    only = {"type"} | {_ATTRIBUTES[key] for key in keys if key in _ATTRIBUTES}
    return MessageSchema(only=sorted(only))


def load_message(raw: Any) -> dict[str, Any]:
    """Validate one raw message and return it with snake_case keys.

    :raises ValidationError: with field errors keyed by the wire field name.
    """
    if not isinstance(raw, dict):
        raise ValidationError(
            {"_message": [f"must be a JSON object, got {type(raw).__name__}"]}
        )
    return _schema_for(frozenset(raw)).load(raw)
